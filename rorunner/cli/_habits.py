"""`rorunner play`'s Ansible habits, as one block of options: `--list-hosts`, `--list-tasks`,
`-t/--tags`, `--skip-tags`, `--start-at-step`; they mean what they mean in ansible-playbook."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rorunner.plan import Plan, Selection
    from rorunner.playbook import Playbook


def habit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate `play` with the Ansible-habit options."""
    options = [
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
            list_hosts=options["list_hosts"],
            list_tasks=options["list_tasks"],
            tags=tuple(options["tags"]),
            skip_tags=tuple(options["skip_tags"]),
            start_at=options["start_at_step"],
        )
        if habits.listing and options.get("graph"):
            raise click.UsageError("--list-hosts/--list-tasks cannot be combined with --graph")
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
