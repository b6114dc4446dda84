"""`rorunner play`: plan a playbook, then run it, dry-run it or draw its graph."""

from __future__ import annotations

import gc
import sys
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rorunner.cli import (
    cli,
    connection_defaults,
    connection_options,
    exit_code_for_hosts,
    inventory_option,
    load_inventories,
    load_vault,
    vault_options,
)
from rorunner.cli._habits import Habits, habit_options
from rorunner.cli._noop import answer, cache_key, remember
from rorunner.records import DRY_RUN_MAX_STEPS, Invocation, recording

if TYPE_CHECKING:
    from rorunner.engine import EngineOptions, RunResult
    from rorunner.plan import Plan
    from rorunner.playbook import Playbook
    from rorunner.report import Reporter
    from rorunner.signing import ProjectKey

GRAPH_FORMATS = ("text", "dot", "mermaid", "json")


@cli.command("play")
@click.argument("playbook", type=click.Path(dir_okay=False))
@inventory_option
@click.option("-l", "--limit", default=None, help="Host pattern further limiting the plays.")
@click.option(
    "-f",
    "--forks",
    type=click.IntRange(min=1),
    default=25,
    show_default=True,
    help="Steps run in parallel.",
)
@click.option(
    "-e",
    "--extra-vars",
    "extra_vars",
    multiple=True,
    help="k=v pairs, a YAML/JSON mapping, or @file.yml; repeatable. Names must be identifiers.",
)
@click.option("--dry-run", is_flag=True, help="Connect to nothing; list what would run and why.")
@click.option(
    "--graph",
    type=click.Choice(GRAPH_FORMATS),
    default=None,
    help="Print the plan graph with step statuses and exit.",
)
@click.option("--force", is_flag=True, help="Run every step, up to date or not.")
@click.option(
    "--verify",
    is_flag=True,
    help="Read every host's state (one connection each) and run again what drifted there.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
@click.option("--fetch-dir", default=None, help="Where fetched files land (per host).")
@click.option("--roles-path", "roles_path", multiple=True, help="Extra role directories.")
@click.option(
    "-v",
    "--verbose",
    "verbosity",
    count=True,
    help="-v: list up-to-date steps, stream each step's output; -vv: connection events too.",
)
@habit_options
@connection_options
@vault_options
def play(**options: Any) -> None:
    """Run PLAYBOOK against the hosts of the inventories."""
    playbook = Path(options["playbook"]).resolve()
    habits = Habits.of(options)
    argv = _argv()
    cache = cache_key(options, argv)
    if cache is not None and answer(playbook, cache):
        return
    asked = invocation(playbook, options)
    from rorunner.engine import EngineOptions  # noqa: PLC0415 - lazy: keeps other commands light
    from rorunner.signing import ProjectKey  # noqa: PLC0415 - lazy: keeps other commands light

    engine = EngineOptions(
        playbook.parent,
        forks=options["forks"],
        force=options["force"],
        invocation=asked,
        verify=options["verify"],
        prove_noop=cache is not None,
        owns_process=True,
    )
    key = ProjectKey(engine.state_dir)
    with recording() if cache is not None else nullcontext() as recorder:
        book, plan, warnings = _plan(playbook, options, key, habits)
    for notice in plan.notices:
        click.echo(f"rorunner: {notice}", err=True)
    if habits.listing:
        habits.print_listing(options["playbook"], book, plan)
        return
    _check_routes(plan, engine)
    if options["graph"]:
        _graph(plan, engine, options["graph"])
    elif options["dry_run"] or habits.check:
        raise click.exceptions.Exit(_dry_run(plan, engine, habits))
    else:
        # Only a key this process wrote is what planning used; another run's key (saved
        # meanwhile) stays recorded as missing, so the cache made now can never answer.
        if key.save() and recorder is not None:
            recorder.made(key.path)
        reporter = _reporter(plan, as_json=options["as_json"], verbosity=options["verbosity"])
        engine = replace(engine, preview=habits.run_preview(reporter.lines, engine))
        result = _run(plan, engine, reporter, as_json=options["as_json"])
        if cache is not None and recorder is not None:
            remember(cache, recorder, plan, engine, result, warnings)
        raise click.exceptions.Exit(exit_code_for_result(result))


def _argv() -> tuple[str, ...]:
    """The command line as given (main() passes it down)."""
    root = click.get_current_context().find_root().obj or {}
    return tuple(root.get("argv", ()))


def invocation(playbook: Path, options: Mapping[str, Any]) -> Invocation:
    """What this command line asked for, for the run record (which masks the -e values)."""
    return Invocation(
        playbook=str(playbook),
        inventory=tuple(options["inventories"]),
        argv=_argv(),
        options={
            "forks": options["forks"],
            "force": options["force"],
            "verify": options["verify"],
            "limit": options["limit"],
            "fetch_dir": options["fetch_dir"],
            **Habits.of(options).recorded(),
        },
    )


def _plan(
    playbook: Path, options: Mapping[str, Any], key: ProjectKey, habits: Habits
) -> tuple[Playbook, Plan, tuple[str, ...]]:
    """Load everything and plan; input mistakes are raised here, before any connection."""
    from rorunner.plan import build_plan  # noqa: PLC0415 - lazy: keeps other commands light
    from rorunner.playbook import (  # noqa: PLC0415 - lazy: keeps other commands light
        load_extra_vars,
        load_playbook,
    )

    defaults = connection_defaults(options, playbook.parent)
    vault = load_vault(options)
    extra_vars = load_extra_vars(options["extra_vars"], vault)
    # Loading and planning make millions of objects that live as long as this process and
    # next to no cyclic garbage: the cyclic collector is off while they are made (in the
    # `rorunner` command, since the process started), and they are frozen after (never
    # scanned, by a collection during planning or during the run).
    gc.disable()
    try:
        inventory = load_inventories(options["inventories"], vault)
        book = load_playbook(str(playbook), roles_path=tuple(options["roles_path"]), vault=vault)
        return (
            book,
            build_plan(
                inventory,
                book,
                limit=options["limit"],
                extra_vars=extra_vars,
                fetch_dir=options["fetch_dir"],
                defaults=defaults,
                signing_key=key,
                selection=habits.selection(),
            ),
            tuple(inventory.notices),
        )
    finally:
        gc.freeze()
        gc.enable()


def _check_routes(plan: Plan, engine: EngineOptions) -> None:
    """Before a run that would connect anywhere (in a dry run: would), check the ssh_config
    and jump routes of every host and bastion of the plan (bad input: exit 3). A run with
    nothing to do reads no ssh_config (and does not import paramiko)."""
    from rorunner.transport import check_routes, routes_to_read  # noqa: PLC0415 - lazy

    specs = [step.conn for step in plan.steps if step.spec.kind != "local"]
    if not routes_to_read(specs):
        return
    if not engine.force and not engine.verify:  # --verify connects to every host
        from rorunner.engine import dry_run  # noqa: PLC0415 - lazy: keeps other commands light

        remote = ("ship", "remote", "fetch")
        if not any(e.would_run and e.phase in remote for e in dry_run(plan, engine)):
            return
    check_routes(specs)


def _graph(plan: Plan, engine: EngineOptions, fmt: str) -> None:
    from rorunner.engine import dry_run, statuses  # noqa: PLC0415 - lazy: keeps other commands light

    click.echo(plan.render(fmt, status=statuses(dry_run(plan, engine))))


def _dry_run(plan: Plan, engine: EngineOptions, habits: Habits) -> int:
    """List the verdicts, and leave them in .rorunner/dry-run.json for the dashboard; then
    what --diff and --check add. The exit code: 4 when --diff could not reach a host."""
    from rorunner.engine import dry_run, save_dry_run  # noqa: PLC0415 - lazy
    from rorunner.report import Reporter  # noqa: PLC0415 - lazy: keeps other commands light

    entries = dry_run(plan, engine)
    Reporter().dry_run(entries)
    if not plan.steps:  # nothing planned (no hosts matched): nothing to show, nothing made
        return 0
    try:
        saved = save_dry_run(plan, engine, entries, max_steps=DRY_RUN_MAX_STEPS)
    except OSError as err:  # a read-only project still gets its listing
        click.echo(f"rorunner: the dry run's verdicts were not saved: {err}", err=True)
    else:
        if saved is None:
            click.echo(
                f"rorunner: the dry run's verdicts were not saved for the dashboard: "
                f"{len(plan.steps):,} steps, more than {DRY_RUN_MAX_STEPS:,}",
                err=True,
            )
    return habits.dry_run_extras(plan, entries, engine)


def _reporter(plan: Plan, *, as_json: bool, verbosity: int) -> Reporter:
    """Plain lines, or on a terminal (without --json) the live display."""
    from rorunner.report import Reporter, live_reporter, play_totals  # noqa: PLC0415 - lazy

    plays = play_totals(plan)
    if not as_json and sys.stdout.isatty():
        return live_reporter(verbosity=verbosity, plays=plays)
    return Reporter(live=not as_json, verbosity=verbosity, plays=plays)


def _run(plan: Plan, engine: EngineOptions, reporter: Reporter, *, as_json: bool) -> RunResult:
    from rorunner.engine import run_plan  # noqa: PLC0415 - lazy: keeps other commands light

    with reporter:
        result = run_plan(plan, engine, events=reporter)
    if as_json:
        reporter.record_json(result)
    else:
        reporter.recap(result)
    return result


def exit_code_for_result(result: RunResult) -> int:
    """Interrupted 99, else unreachable 4 (wins), else a failed host 2, else 0."""
    return exit_code_for_hosts(
        interrupted=result.interrupted,
        unreachable=result.any_unreachable,
        failed=result.any_failed,
    )
