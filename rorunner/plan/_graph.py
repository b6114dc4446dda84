"""The run's one DiGraph: steps as nodes, feeding and ordering edges, signatures, stable order."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import networkx as nx

from rorunner.errors import InputError, Location
from rorunner.model import PlanStep
from rorunner.plan._expand import Planned

Node = tuple[str, str, str, str, str]


class GraphBuilder:
    """Collects planned steps and edges; `feeds` edges carry change, order-only edges do not."""

    def __init__(self) -> None:
        self.graph = nx.DiGraph()
        self._rank: dict[Node, int] = {}
        self._digest: dict[Node, str] = {}

    def add_chain(self, planned: Sequence[Planned], at: dict[Node, Location]) -> list[Node]:
        """Add the steps of one unit, each feeding the next; return their nodes in order."""
        nodes: list[Node] = []
        for item in planned:
            node = item.step.node
            if node in self._rank:
                where = at.get(node, Location(""))
                message = f"duplicate step name {item.step.name!r} in {item.step.role}"
                raise InputError(message, where.path or None, where.line)
            self._rank[node] = len(self._rank)
            self._digest[node] = item.digest
            self.graph.add_node(node, step=item.step)
            if nodes:
                self.link(nodes[-1], node, feeds=True)
            nodes.append(node)
        return nodes

    def link(self, before: Node, after: Node, feeds: bool) -> None:
        """Order `before` ahead of `after`; `feeds` makes a change upstream re-run `after`."""
        if before == after:
            return
        old = self.graph.get_edge_data(before, after)
        self.graph.add_edge(before, after, feeds=feeds or bool(old and old["feeds"]))

    def finish(self) -> tuple[nx.DiGraph, tuple[PlanStep, ...]]:
        """Order the steps deterministically and fill in their signatures."""
        try:
            order = list(
                nx.lexicographical_topological_sort(self.graph, key=self._rank.__getitem__)
            )
        except nx.NetworkXUnfeasible:  # pragma: no cover - edges only ever point forward
            cycle = nx.find_cycle(self.graph)
            raise InputError(f"the plan has a cycle: {cycle}") from None
        signatures: dict[Node, str] = {}
        steps = []
        for node in order:
            feeders = sorted(
                (pred for pred in self.graph.predecessors(node) if self.graph[pred][node]["feeds"]),
                key=self._rank.__getitem__,
            )
            sha = hashlib.sha256(self._digest[node].encode())
            for pred in feeders:
                sha.update(signatures[pred].encode())
            signatures[node] = sha.hexdigest()
            step = dataclasses.replace(self.graph.nodes[node]["step"], signature=signatures[node])
            self.graph.nodes[node]["step"] = step
            steps.append(step)
        return self.graph, tuple(steps)
