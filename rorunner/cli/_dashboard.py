"""`rorunner dashboard` (the read-only web UI) and `rorunner report` (a static HTML file).

Dash and plotly are imported only inside these commands, so no other command pays for them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import click

from rorunner.cli import cli, warn
from rorunner.cli._runs import find_run, project_option, stores
from rorunner.errors import RorunnerError, UsageError
from rorunner.records import STATE_DIR

DEFAULT_PORT = 8050


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _dashboard(name: str) -> Any:
    """A public function of the dashboard layer (its module loads Dash or plotly on first
    use), or how to install them."""
    from rorunner import dashboard  # noqa: PLC0415 - only these commands need it

    try:
        return getattr(dashboard, name)
    except ImportError as err:
        raise RorunnerError(
            f"the dashboard needs the 'dashboard' extra ({err.name} is missing): "
            "pip install 'rorunner[dashboard]'"
        ) from err


@cli.command("dashboard")
@click.argument("project_dir", required=False, type=click.Path(file_okay=False))
@project_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option("--allow-remote", is_flag=True, help="Allow binding to a non-loopback address.")
@click.option(
    "--refresh",
    type=click.FloatRange(min=0.2),
    default=1.0,
    show_default=True,
    help="Seconds between two refreshes of a live run page.",
)
def dashboard(
    project_dir: str | None,
    projects: tuple[str, ...],
    host: str,
    port: int,
    allow_remote: bool,
    refresh: float,
) -> None:
    """Serve the read-only dashboard of the runs recorded under PROJECT_DIR (default '.')."""
    if not is_loopback(host):
        if not allow_remote:
            raise UsageError(
                f"--host {host} is not a loopback address: the dashboard shows your runs' "
                "commands, logs and host names to anyone who can reach it; add --allow-remote "
                "to bind there anyway"
            )
        warn(f"serving on {host}: anyone who can reach it sees your runs (no authentication)")
    dirs = [*([project_dir] if project_dir else []), *projects] or ["."]
    found = state_dirs(dirs)
    app = _dashboard("create_app")(found, refresh=refresh)
    for state in found:
        click.echo(f"rorunner dashboard: reading {state}")

    def ready(url: str) -> None:
        click.echo(f"rorunner dashboard: serving {url} (read-only; Ctrl-C to stop)")

    _dashboard("serve")(app, host, port, ready)


def state_dirs(dirs: list[str]) -> list[Path]:
    """The `.rorunner/` dirs under `dirs`; a dir with none yet is watched at DIR/.rorunner."""
    found: list[Path] = []
    for one in dirs:
        states = [store.state_dir for store in stores([one])]
        if not states:
            states = [Path(one).resolve() / STATE_DIR]
            warn(f"no runs recorded yet under {one}; runs will appear from {states[0]}")
        found.extend(state for state in states if state not in found)
    return found


@cli.command("report")
@click.argument("run_id")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write."
)
@project_option
def report(run_id: str, output: str, projects: tuple[str, ...]) -> None:
    """Write a self-contained HTML report of run RUN_ID (an id, a prefix, or `latest`)."""
    store, record = find_run(stores(projects), run_id)
    _dashboard("write_report")(store, record, Path(output))
    click.echo(f"rorunner report: wrote {output} (run {record.run_id})")
