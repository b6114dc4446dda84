"""Which steps a run does: `--tags`/`--skip-tags` (Ansible's rules, `always` and `never`
included) and `--start-at-step`; the plan keeps its signatures, only the unselected steps go.

A step's tags are those of its play, of its unit (an inline rtas' `tags`, a role's `tags` in
role.yml), of its own entry (`{run: ..., tags: [...]}`), and of the play's `roles` listing
that brought its role in: `{role: webapp, tags: [web]}` tags webapp and every role it depends
on, as in Ansible. A role runs once per host even when several listings need it; it is
selected when it would be selected through any one of them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from rorunner.errors import UsageError
from rorunner.model import CONTROLLER, Barrier, PlanNode, PlanStep
from rorunner.plan._graph import Graph, GraphBuilder
from rorunner.playbook import FILES_STEP, Play, Playbook, Unit

ALWAYS, NEVER, ALL, TAGGED, UNTAGGED = "always", "never", "all", "tagged", "untagged"
Tail = tuple[str, str, str, str]  # (play id, unit, phase, step): the same on every host


@dataclass(frozen=True)
class Selection:
    """What the command line asked for: `--tags`, `--skip-tags`, `--start-at-step`."""

    tags: frozenset[str] = frozenset({ALL})
    skip_tags: frozenset[str] = frozenset()
    start_at: str | None = None


def split_tags(values: Sequence[str]) -> frozenset[str]:
    """Tags from repeatable options, each a comma-separated list (as Ansible reads them)."""
    return frozenset(tag.strip() for value in values for tag in value.split(",") if tag.strip())


def would_run(tags: frozenset[str], selection: Selection) -> bool:
    """Ansible's rule for one task's tags (Taggable.evaluate_tags)."""
    own = tags or frozenset({UNTAGGED})
    only, skip = selection.tags, selection.skip_tags
    chosen = (
        ALWAYS in own
        or (ALL in only and NEVER not in own)
        or not own.isdisjoint(only)
        or (TAGGED in only and bool(tags) and NEVER not in own)
    )
    if not chosen or not skip:
        return chosen
    if ALL in skip:
        return ALWAYS in own and ALWAYS not in skip
    return own.isdisjoint(skip) and not (TAGGED in skip and bool(tags))


@dataclass(frozen=True)
class ListedStep:
    """A step of a play as --list-tasks shows it: its tail, its tags in every context that
    brings it in (one per role listing), and its names."""

    tail: Tail
    contexts: tuple[frozenset[str], ...]

    @property
    def tags(self) -> frozenset[str]:
        """Every tag it carries in some context (what --list-tasks shows)."""
        return frozenset().union(*self.contexts)

    @property
    def label(self) -> str:
        """`UNIT : PHASE/STEP`."""
        _, unit, phase, step = self.tail
        return f"{unit} : {phase}/{step}"

    def names(self) -> tuple[str, ...]:
        """What --start-at-step may match: the step, phase/step, and the label."""
        _, unit, phase, step = self.tail
        return (step, f"{phase}/{step}", self.label, f"{unit}:{phase}/{step}")


def play_steps(playbook: Playbook, play: Play) -> Iterator[ListedStep]:
    """Every step of `play` in run order, with its tag contexts."""
    contexts = _role_contexts(playbook, play)
    units: list[tuple[Unit, list[frozenset[str]]]] = [
        (playbook.roles[name], contexts[name]) for name, _ in playbook.run_list(play)
    ]
    units.extend((unit, [frozenset()]) for unit in play.rtas)
    base = frozenset(play.tags)
    for unit, listed in units:
        for entry in unit.steps:
            own = base | frozenset(unit.tags) | frozenset(entry.tags)
            yield ListedStep(
                (play.id, unit.name, entry.phase, entry.name),
                tuple(dict.fromkeys(own | context for context in listed)),
            )


def _role_contexts(playbook: Playbook, play: Play) -> dict[str, list[frozenset[str]]]:
    """Per role of the play, the tags of each listing that needs it (itself or a dependent)."""
    contexts: dict[str, list[frozenset[str]]] = {}

    def visit(name: str, tags: frozenset[str], seen: frozenset[str]) -> None:
        found = contexts.setdefault(name, [])
        if tags not in found:
            found.append(tags)
        for dep in playbook.roles[name].depends:
            if dep not in seen:
                visit(dep, tags, seen | {dep})

    for use in play.roles:
        visit(use.name, frozenset(use.tags), frozenset({use.name}))
    return contexts


def selected_tails(playbook: Playbook, selection: Selection) -> set[Tail]:
    """The steps (by tail) the selection keeps, in every play."""
    ordered = [step for play in playbook.plays for step in play_steps(playbook, play)]
    start = 0
    if selection.start_at is not None:
        start = _start_index(ordered, selection.start_at)
    return {
        step.tail
        for step in ordered[start:]
        if any(would_run(context, selection) for context in step.contexts)
    }


def _start_index(ordered: Sequence[ListedStep], pattern: str) -> int:
    for index, step in enumerate(ordered):
        if any(name == pattern or fnmatch.fnmatchcase(name, pattern) for name in step.names()):
            return index
    raise UsageError(
        f"--start-at-step {pattern!r} matches no step; a step is named as --list-tasks "
        "shows it (UNIT : PHASE/STEP), by PHASE/STEP or by STEP alone, or a wildcard pattern"
    )


def entry_tail(step: PlanStep) -> Tail:
    """The tail of the playbook entry a step comes from: a unit's ship step planned once
    per user (`files@appuser`, become) comes from its one `files` entry."""
    name = step.name
    if step.phase == "ship" and name.startswith(f"{FILES_STEP}@"):
        name = FILES_STEP
    return (step.play, step.role, step.phase, name)


def prune(graph: Graph, keep: Callable[[PlanStep], bool]) -> Graph:
    """The graph without the steps `keep` refuses: a kept node waits for the nearest kept
    nodes its removed predecessors waited for (feeding when every edge on the way feeds);
    a barrier with no step before it or none after it goes too."""
    nodes = graph.nodes
    kept_steps = (i for i, n in enumerate(nodes) if isinstance(n, PlanStep) and keep(n))
    last_step = max(kept_steps, default=-1)
    builder = GraphBuilder()
    kept: dict[int, int] = {}  # old index -> new index
    stands_for: dict[int, dict[int, bool]] = {}  # removed node -> the kept ones it stood for
    for index, node in enumerate(nodes):
        feeding = set(graph.feeders(index))
        preds: dict[int, bool] = {}
        for before in graph.predecessors(index):
            via = {kept[before]: True} if before in kept else stands_for[before]
            for new, feeds in via.items():
                preds[new] = preds.get(new, False) or (feeds and before in feeding)
        chosen: PlanNode | None = node
        if isinstance(node, Barrier):
            chosen = _barrier(node, preds, builder.nodes, index < last_step)
        elif not keep(node):
            chosen = None
        if chosen is None:
            stands_for[index] = preds
        else:
            kept[index] = builder.add(chosen, preds)
    return builder.finish()


def _barrier(
    barrier: Barrier, preds: dict[int, bool], added: Sequence[PlanNode], steps_after: bool
) -> Barrier | None:
    """The barrier with its count of hosts, or None when it would order nothing."""
    hosts = {node.host for node in (added[i] for i in preds) if isinstance(node, PlanStep)}
    if not hosts or not steps_after:
        return None
    if hosts == {CONTROLLER}:  # after a play's local_after, which waited for its hosts
        return barrier
    return replace(barrier, waits_for=len(hosts - {CONTROLLER}))
