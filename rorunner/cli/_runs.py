"""`rorunner runs` (the run history) and `rorunner runs show ID` (one run, its failures)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from rorunner.cli import cli
from rorunner.errors import UsageError
from rorunner.outcome import STATUSES
from rorunner.records import (
    RecordError,
    RunRecord,
    RunStore,
    StepRecord,
    find_state_dirs,
    record_path,
    tail_text,
)

DEFAULT_LAST = 20
_WIDTH = 11  # "unreachable" and a space

project_option = click.option(
    "-p",
    "--project",
    "projects",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Project dir (its .rorunner/, or the ones one level below); repeatable; default '.'.",
)


def stores(projects: Sequence[str]) -> list[RunStore]:
    """A RunStore per `.rorunner/` found under the given project dirs (default '.')."""
    found: list[Path] = []
    for project in projects or (".",):
        path = Path(project)
        if not path.exists():
            raise UsageError(f"project dir {project} does not exist")
        found.extend(state for state in find_state_dirs(path) if state not in found)
    return [RunStore(state.resolve()) for state in found]


@cli.group("runs", invoke_without_command=True)
@project_option
@click.option("-n", "--last", type=click.IntRange(min=1), default=DEFAULT_LAST, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON (steps left out).")
@click.pass_context
def runs(ctx: click.Context, projects: tuple[str, ...], last: int, as_json: bool) -> None:
    """List recent runs, newest first (`runs show ID` prints one)."""
    ctx.obj = projects
    if ctx.invoked_subcommand is not None:
        return
    listed = sorted(
        ((store, r) for store in stores(projects) for r in store.summaries()),
        key=lambda pair: (pair[1].started_at, pair[1].run_id),
        reverse=True,
    )[:last]
    if as_json:
        click.echo(json.dumps([_summary_json(s, r) for s, r in listed], indent=2, sort_keys=True))
    elif not listed:
        click.echo("no runs recorded")
    else:
        for line in run_table([r for _, r in listed]):
            click.echo(line)


def _summary_json(store: RunStore, record: RunRecord) -> dict[str, object]:
    doc = record.as_json()
    del doc["steps"]
    doc["record"] = str(record_path(store.state_dir, record.run_id))
    return doc


def run_table(records: Sequence[RunRecord]) -> list[str]:
    """One line per run: id, start, status, exit code, duration, hosts by state, playbook."""
    rows = [
        ("RUN", "STARTED (UTC)", "STATUS", "EXIT", "DURATION", "HOSTS ok/chg/fail/unr", "PLAYBOOK")
    ]
    for r in records:
        hosts = "/".join(str(r.hosts_in(s)) for s in ("ok", "changed", "failed", "unreachable"))
        rows.append(
            (
                r.run_id,
                r.started_at.replace("T", " ")[:19],
                r.status,
                "-" if r.exit_code is None else str(r.exit_code),
                "-" if r.duration is None else f"{r.duration:.1f}s",
                hosts,
                r.playbook or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@click.pass_obj
def show(projects: tuple[str, ...], run_id: str, as_json: bool) -> None:
    """Print run RUN_ID (an id, a unique prefix, or `latest`): recap and failures."""
    store, record = find_run(stores(projects), run_id)
    if as_json:
        click.echo(json.dumps(record.as_json(), indent=2, sort_keys=True))
        return
    for line in [*header_lines(record), *recap_lines(record), *failure_lines(store, record)]:
        click.echo(line)


def find_run(candidates: Sequence[RunStore], ref: str) -> tuple[RunStore, RunRecord]:
    """The store holding run `ref` and its record; UsageError when none or several do."""
    if ref in ("latest", "last"):
        newest = [(s, s.summaries()[0]) for s in candidates if s.summaries()]
        if not newest:
            raise UsageError("no run recorded")
        store, summary = max(newest, key=lambda pair: (pair[1].started_at, pair[1].run_id))
        return store, store.load(summary.run_id)
    found: list[tuple[RunStore, str]] = []
    problems: list[str] = []
    for store in candidates:
        try:
            found.append((store, store.resolve(ref)))
        except RecordError as err:
            problems.append(str(err))
    if len(found) != 1:
        what = "matches runs in several projects" if found else "; ".join(problems) or "no run"
        raise UsageError(f"run {ref!r}: {what}" if found else what)
    store, resolved = found[0]
    return store, store.load(resolved)


def header_lines(record: RunRecord) -> list[str]:
    """Who ran what, when, and how it ended."""
    ended = record.ended_at or "(still running)"
    duration = "" if record.duration is None else f", {record.duration:.1f}s"
    exit_code = "" if record.exit_code is None else f", exit {record.exit_code}"
    lines = [
        f"run {record.run_id}: {record.status}{exit_code}",
        f"playbook: {record.playbook or '-'}",
        f"command:  {' '.join(record.argv) or '-'}",
        f"by:       {record.user}@{record.controller} (rorunner {record.rorunner_version})",
        f"time:     {record.started_at} -> {ended}{duration}",
    ]
    for play in record.plays:
        stop = f" (stopped: {play.stop_reason})" if play.stop_reason else ""
        lines.append(f"play:     {play.id} {play.name}, {len(play.hosts)} hosts{stop}")
    return lines


def recap_lines(record: RunRecord) -> list[str]:
    """PLAY RECAP, one line per host, counts of the final statuses."""
    width = max((len(h.host) for h in record.hosts), default=0)
    lines = ["", "PLAY RECAP " + "*" * 60]
    for host in record.hosts:
        counts = "  ".join(f"{s}={host.count(s)}" for s in STATUSES)
        running = f"  running={host.count('running')}" if host.count("running") else ""
        lines.append(f"{host.host:<{width}} : {counts}{running}")
    return lines


def failure_lines(store: RunStore, record: RunRecord) -> list[str]:
    """Each failed or unreachable step with its reason and the tail of its stderr."""
    failed = [s for s in record.steps if s.status in ("failed", "unreachable")]
    if not failed:
        return []
    lines = ["", "FAILURES"]
    for step in failed:
        lines.extend(_failure(store, record.run_id, step))
    return lines


def _failure(store: RunStore, run_id: str, step: StepRecord) -> list[str]:
    where = f"{step.play} > {step.role} > {step.phase} > {step.step}"
    rc = "" if step.rc is None else f" (rc={step.rc})"
    lines = [f"{step.status:<{_WIDTH}} [{step.host}] {where}{rc}"]
    lines.extend(f"    {line}" for line in step.reason.splitlines())
    for name, path in (("stderr", step.stderr), ("stdout", step.stdout)):
        log = store.log_file(run_id, path)
        tail = tail_text(log) if log is not None else ""
        if tail:
            lines.append(f"    {name} (last lines; full log: {log}):")
            lines.extend(f"      {line}" for line in tail.splitlines())
            break
    return lines
