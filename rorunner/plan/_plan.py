"""The Plan object: ordered steps, their graph (networkx stays here) and renderings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from rorunner.errors import InputError
from rorunner.model import ConnectionDefaults, Inventory, PlanStep
from rorunner.plan._build import PlayInfo, build_graph
from rorunner.plan._render import Edge, Node, render, task_name
from rorunner.playbook import Playbook


class Plan:
    """Every step of every host, validated, in a deterministic topological order."""

    def __init__(
        self,
        graph: nx.DiGraph,
        steps: tuple[PlanStep, ...],
        plays: tuple[PlayInfo, ...],
        notices: tuple[str, ...],
    ) -> None:
        self._graph = graph
        self.steps = steps
        self.plays = plays
        self.notices = notices
        self._rank = {step.node: index for index, step in enumerate(steps)}

    def step(self, node: Node) -> PlanStep:
        """The step at graph node `node`."""
        step: PlanStep = self._graph.nodes[node]["step"]
        return step

    def predecessors(self, step: PlanStep) -> tuple[PlanStep, ...]:
        """Steps that must finish before `step` starts (in plan order)."""
        return self._neighbours(self._graph.predecessors(step.node))

    def feeders(self, step: PlanStep) -> tuple[PlanStep, ...]:
        """Predecessors whose signatures are folded into `step`'s (a change there re-runs it)."""
        preds = self._graph.predecessors(step.node)
        return self._neighbours(p for p in preds if self._graph[p][step.node]["feeds"])

    def successors(self, step: PlanStep) -> tuple[PlanStep, ...]:
        """Steps that wait for `step`."""
        return self._neighbours(self._graph.successors(step.node))

    def _neighbours(self, nodes: Any) -> tuple[PlanStep, ...]:
        ordered = sorted(nodes, key=self._rank.__getitem__)
        return tuple(self.steps[self._rank[node]] for node in ordered)

    @property
    def edges(self) -> tuple[Edge, ...]:
        """(before, after, feeds) for every edge, in plan order."""
        ranked = sorted(
            self._graph.edges(data="feeds"),
            key=lambda e: (self._rank[e[0]], self._rank[e[1]]),
        )
        return tuple((self.step(a), self.step(b), bool(feeds)) for a, b, feeds in ranked)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Hosts with at least one step, in plan order."""
        return tuple(dict.fromkeys(step.host for step in self.steps))

    def task_name(self, step: PlanStep) -> str:
        """The doit-safe task name of `step` (<host>/<play>/<role>/<phase>/<step>)."""
        return task_name(step)

    def render(self, fmt: str, status: Mapping[Node, str] | None = None) -> str:
        """The plan as text, dot, mermaid or json; `status` maps nodes to words like 'would run'."""
        return render(fmt, self.steps, self.edges, self.plays, self.notices, status)


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
    graph, steps = built.builder.finish()
    names: dict[str, PlanStep] = {}
    for step in steps:
        name = task_name(step)
        if name in names:
            other = names[name]
            raise InputError(f"steps {other.node} and {step.node} share the task name {name!r}")
        names[name] = step
    return Plan(graph, steps, tuple(built.plays), tuple(built.notices))
