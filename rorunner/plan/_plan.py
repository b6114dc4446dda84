"""The Plan object: ordered steps, their graph and renderings."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from rorunner.errors import InputError
from rorunner.model import ConnectionDefaults, Inventory, PlanStep
from rorunner.plan._build import PlayInfo, build_graph
from rorunner.plan._graph import Graph
from rorunner.plan._render import Edge, Node, render, safe_part, task_name
from rorunner.playbook import Playbook


class Plan:
    """Every step of every host, validated, in a deterministic topological order."""

    def __init__(
        self,
        graph: Graph,
        plays: tuple[PlayInfo, ...],
        notices: tuple[str, ...],
    ) -> None:
        self._graph = graph
        self.steps: tuple[PlanStep, ...] = tuple(graph.nodes)
        self.plays = plays
        self.notices = notices

    @functools.cached_property
    def _by_id(self) -> dict[int, int]:
        return {id(step): index for index, step in enumerate(self.steps)}

    @functools.cached_property
    def _by_node(self) -> dict[Node, int]:
        return {step.node: index for index, step in enumerate(self.steps)}

    def _index(self, step: PlanStep) -> int:
        index = self._by_id.get(id(step))
        if index is not None and self.steps[index] is step:
            return index
        return self._by_node[step.node]

    def step(self, node: Node) -> PlanStep:
        """The step at graph node `node`."""
        return self.steps[self._by_node[node]]

    def predecessors(self, step: PlanStep) -> tuple[PlanStep, ...]:
        """Steps that must finish before `step` starts (in plan order)."""
        return self._at(self._graph.predecessors(self._index(step)))

    def feeders(self, step: PlanStep) -> tuple[PlanStep, ...]:
        """Predecessors whose signatures are folded into `step`'s (a change there re-runs it)."""
        return self._at(self._graph.feeders(self._index(step)))

    def successors(self, step: PlanStep) -> tuple[PlanStep, ...]:
        """Steps that wait for `step`."""
        return self._at(self._graph.successors(self._index(step)))

    def _at(self, indices: Iterable[int]) -> tuple[PlanStep, ...]:
        return tuple(self.steps[index] for index in indices)

    @property
    def edges(self) -> tuple[Edge, ...]:
        """(before, after, feeds) for every edge, in plan order."""
        steps = self.steps
        return tuple((steps[a], steps[b], feeds) for a, b, feeds in self._graph.edges())

    @functools.cached_property
    def hosts(self) -> tuple[str, ...]:
        """Hosts with at least one step, in plan order."""
        return tuple(dict.fromkeys(step.host for step in self.steps))

    def task_name(self, step: PlanStep) -> str:
        """The doit-safe task name of `step` (<host>/<play>/<role>/<phase>/<step>)."""
        return task_name(step)

    def render(self, fmt: str, status: Mapping[Node, str] | None = None) -> str:
        """The plan as text, dot, mermaid or json; `status` maps nodes to words like 'would run'."""
        return render(fmt, self.steps, self.edges, self.plays, self.notices, status)

    def to_networkx(self) -> Any:
        """The plan as a networkx DiGraph (nodes as in `step.node`, a `feeds` flag on edges),
        for analysis; the planner itself does not need it."""
        import networkx as nx  # noqa: PLC0415 - only for callers that ask for it

        graph = nx.DiGraph()
        graph.add_nodes_from((step.node, {"step": step}) for step in self.steps)
        graph.add_edges_from((a.node, b.node, {"feeds": feeds}) for a, b, feeds in self.edges)
        return graph


def build_plan(
    inventory: Inventory,
    playbook: Playbook,
    limit: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    fetch_dir: str | None = None,
    defaults: ConnectionDefaults | None = None,
) -> Plan:
    """Plan `playbook` over `inventory`; input mistakes raise InputError before any connection."""
    built = build_graph(
        inventory, playbook, limit, extra_vars or {}, fetch_dir, defaults or ConnectionDefaults()
    )
    plan = Plan(built.builder.finish(), tuple(built.plays), tuple(built.notices))
    if _names_may_clash(plan.hosts, built.tails):
        _check_task_names(plan.steps)
    return plan


def _names_may_clash(hosts: Iterable[str], tails: Iterable[tuple[str, ...]]) -> bool:
    """Whether two steps could share a task name: two hosts, or two (play, role, phase,
    step) tails, that are told apart only by characters task names replace."""
    for parts in (((host,) for host in hosts), tails):
        seen: dict[tuple[str, ...], tuple[str, ...]] = {}
        for part in parts:
            safe = tuple(safe_part(p) for p in part)
            if seen.setdefault(safe, part) != part:
                return True
    return False


def _check_task_names(steps: Iterable[PlanStep]) -> None:
    names: dict[str, PlanStep] = {}
    for step in steps:
        name = task_name(step)
        if name in names:
            other = names[name]
            raise InputError(f"steps {other.node} and {step.node} share the task name {name!r}")
        names[name] = step
