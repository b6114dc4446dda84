"""`rorunner play`'s Ansible habits, as one block of options: `--check`, `--diff`,
`--list-hosts`, `--list-tasks`, `-t/--tags`, `--skip-tags`, `--start-at-step`; they mean
what they mean in ansible-playbook."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rorunner.engine import DryRunEntry, EngineOptions, FileDiff
    from rorunner.model import PlanStep
    from rorunner.plan import Plan, Selection
    from rorunner.playbook import Playbook
    from rorunner.transport import TransportPool


def habit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate `play` with the Ansible-habit options."""
    options = [
        click.option(
            "--check",
            is_flag=True,
            help="The dry run, as Ansible names it, and what it cannot know without running.",
        ),
        click.option(
            "--diff",
            is_flag=True,
            help="Show what each shipped file or template changes on its host (read over SFTP).",
        ),
        click.option("--list-hosts", is_flag=True, help="List each play's hosts; run nothing."),
        click.option(
            "--list-tasks", is_flag=True, help="List each play's selected steps; run nothing."
        ),
        click.option(
            "-t",
            "--tags",
            "tags",
            multiple=True,
            help="Only steps with these tags (comma-separated, repeatable; always/never/"
            "tagged/untagged/all as in Ansible).",
        ),
        click.option(
            "--skip-tags",
            multiple=True,
            help="Leave out steps with these tags (comma-separated, repeatable).",
        ),
        click.option(
            "--start-at-step",
            default=None,
            metavar="NAME",
            help="Start at the first step matching NAME (UNIT : PHASE/STEP as --list-tasks "
            "shows it, PHASE/STEP or STEP; shell wildcards allowed).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass(frozen=True)
class Habits:
    """What the habit options asked for."""

    check: bool = False
    diff: bool = False
    list_hosts: bool = False
    list_tasks: bool = False
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    start_at: str | None = None

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Habits:
        """The habits of `play`'s options; a combination that cannot be honoured is a
        usage error (exit 5)."""
        habits = cls(
            check=options["check"],
            diff=options["diff"],
            list_hosts=options["list_hosts"],
            list_tasks=options["list_tasks"],
            tags=tuple(options["tags"]),
            skip_tags=tuple(options["skip_tags"]),
            start_at=options["start_at_step"],
        )
        if habits.listing and options.get("graph"):
            raise click.UsageError("--list-hosts/--list-tasks cannot be combined with --graph")
        if (habits.check or habits.diff) and (habits.listing or options.get("graph")):
            shown = "--check" if habits.check else "--diff"
            raise click.UsageError(f"{shown} cannot be combined with --graph or --list-*")
        if habits.diff and options.get("as_json"):
            raise click.UsageError("--diff prints diffs; --json prints only the run record")
        return habits

    @property
    def listing(self) -> bool:
        """--list-hosts or --list-tasks: print, run nothing."""
        return self.list_hosts or self.list_tasks

    def selection(self) -> Selection:
        """The steps to plan: --tags (default all), --skip-tags, --start-at-step."""
        from rorunner.plan import Selection, split_tags  # noqa: PLC0415 - lazy, as the CLI is

        tags = split_tags(self.tags) or frozenset({"all"})
        return Selection(tags, split_tags(self.skip_tags), self.start_at)

    def recorded(self) -> dict[str, Any]:
        """What a run record's options keep of them: the tags asked for (sorted)."""
        selection = self.selection()
        return {"tags": sorted(selection.tags), "skip_tags": sorted(selection.skip_tags)}

    def print_listing(self, shown_path: str, book: Playbook, plan: Plan) -> None:
        """--list-hosts / --list-tasks, in ansible-playbook's layout."""
        from rorunner.plan import listing  # noqa: PLC0415 - lazy, as the CLI is

        text = listing(
            shown_path,
            book,
            plan.plays,
            self.selection(),
            hosts=self.list_hosts,
            tasks=self.list_tasks,
        )
        click.echo(text, nl=False)

    def dry_run_extras(
        self, plan: Plan, entries: Sequence[DryRunEntry], engine: EngineOptions
    ) -> int:
        """After the dry-run listing: the diffs (--diff) and what it cannot know (--check);
        the exit code (4 when --diff could not reach a host, as a run would say)."""
        from rorunner.engine import diff_lines, preview_diffs, unknowns  # noqa: PLC0415
        from rorunner.errors import EXIT_OK, EXIT_UNREACHABLE  # noqa: PLC0415
        from rorunner.transport import Pool  # noqa: PLC0415 - lazy: paramiko only for --diff

        would = {e.node for e in entries if e.would_run and not e.barrier}
        lines: list[str] = []
        unreachable = False
        if self.diff:
            pool = Pool()
            try:
                project = str(engine.project_dir)
                diffs = preview_diffs(plan.steps, would, pool, project, engine.forks)
            finally:
                pool.close_all()
            unreachable = any(d.unreachable for d in diffs)
            lines += ["", _diff_head(diffs), *diff_lines(diffs)]
        if self.check:
            known = unknowns(plan.steps, would, compared=self.diff)
            lines += ["", "cannot know without running:", *(f"  {line}" for line in known)]
        if lines:
            click.echo("\n".join(lines))
        return EXIT_UNREACHABLE if unreachable else EXIT_OK

    def run_preview(
        self, show: Callable[[list[str]], None], engine: EngineOptions
    ) -> Callable[[PlanStep, TransportPool], None] | None:
        """For a real run with --diff: the hook that shows each ship step's diffs first."""
        from rorunner.engine import ship_preview  # noqa: PLC0415 - lazy, as the CLI is

        return ship_preview(show, str(engine.project_dir)) if self.diff else None


def _diff_head(diffs: Sequence[FileDiff]) -> str:
    """`diff: N file(s) would change on M host(s)`, or that none would."""
    files = [d for d in diffs if d.remote]
    if not files:
        return "diff: no shipped file would change"
    hosts = len({d.host for d in files})
    return f"diff: {len(files)} file(s) would change on {hosts} host(s)"
