"""The plan's graph: nodes in plan order, each with its predecessors by index.

A node is added after every node it waits for, so each edge points forward, plan order is a
topological order by construction and no cycle can arise. Predecessors are stored flat (an
array of indices and one of "feeds" flags, with offsets per node): a few bytes per edge
instead of the dicts per node and per edge of a general graph library.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator, Mapping

from rorunner.model import PlanNode, PlanStep


class Graph:
    """The finished graph: read-only, predecessors by index, successors built on demand."""

    def __init__(
        self, nodes: list[PlanNode], starts: array[int], sources: array[int], feeds: bytearray
    ) -> None:
        self.nodes = nodes
        self._starts = starts
        self._sources = sources
        self._feeds = feeds
        # successors by a counting sort: offsets per node, the successors, and the slot of
        # each edge in the predecessor arrays (its "feeds" flag without searching for it)
        self._succ: tuple[array[int], array[int], array[int]] | None = None

    def predecessors(self, index: int) -> list[int]:
        """Indices of the nodes `index` waits for, in plan order."""
        return self._sources[self._starts[index] : self._starts[index + 1]].tolist()

    def feeders(self, index: int) -> list[int]:
        """Predecessors whose change re-runs node `index`, in plan order."""
        start, end = self._starts[index], self._starts[index + 1]
        return [self._sources[i] for i in range(start, end) if self._feeds[i]]

    def successors(self, index: int) -> list[int]:
        """Indices of the nodes waiting for `index`, in plan order."""
        starts, targets, _ = self._successor_lists()
        return targets[starts[index] : starts[index + 1]].tolist()

    def edges(self) -> Iterator[tuple[int, int, bool]]:
        """(before, after, feeds) for every edge, ordered by before, then after."""
        starts, targets, slots = self._successor_lists()
        feeds = self._feeds
        for before in range(len(self.nodes)):
            for at in range(starts[before], starts[before + 1]):
                yield before, targets[at], bool(feeds[slots[at]])

    def _successor_lists(self) -> tuple[array[int], array[int], array[int]]:
        """Successors by a counting sort of the predecessor lists: O(nodes + edges)."""
        if self._succ is None:
            counts = array("q", bytes(8 * (len(self.nodes) + 1)))
            for source in self._sources:
                counts[source + 1] += 1
            for index in range(len(self.nodes)):
                counts[index + 1] += counts[index]
            fill = array("q", counts)
            targets = array("q", bytes(8 * len(self._sources)))
            slots = array("q", bytes(8 * len(self._sources)))
            for after in range(len(self.nodes)):
                for slot in range(self._starts[after], self._starts[after + 1]):
                    before = self._sources[slot]
                    targets[fill[before]] = after
                    slots[fill[before]] = slot
                    fill[before] += 1
            self._succ = (counts, targets, slots)
        return self._succ


def chained_signature(own: bytes, feeder: str) -> str:
    """GraphBuilder.signature of a step with a single feeder whose signature is `feeder`."""
    return hashlib.sha256(own + feeder.encode()).hexdigest()


class GraphBuilder:
    """Collects nodes with their predecessors; signatures chain along "feeds" edges."""

    def __init__(self) -> None:
        self.nodes: list[PlanNode] = []
        self._starts = array("q", [0])
        self._sources = array("q")
        self._feeds = bytearray()

    def signature(self, own: bytes, preds: Mapping[int, bool]) -> str:
        """The up-to-date key of a step: its own digest and its feeders' signatures."""
        sha = hashlib.sha256(own)
        feeders = [index for index, feeds in preds.items() if feeds]
        feeders.sort()
        for index in feeders:
            feeder = self.nodes[index]
            assert isinstance(feeder, PlanStep)  # only steps feed: a barrier carries no change
            sha.update(feeder.signature.encode())
        return sha.hexdigest()

    def add(self, node: PlanNode, preds: Mapping[int, bool]) -> int:
        """Append `node` after its predecessors (index -> whether it feeds); its index."""
        index = len(self.nodes)
        for before in sorted(preds) if len(preds) > 1 else preds:
            if not 0 <= before < index:  # pragma: no cover - the planner only links backwards
                raise ValueError(f"edge {before} -> {index} does not point forward")
            self._sources.append(before)
            self._feeds.append(preds[before])
        self._starts.append(len(self._sources))
        self.nodes.append(node)
        return index

    def add_fed_by_previous(self, node: PlanNode) -> int:
        """Append `node` with one predecessor, the node before it, which feeds it (a step of a
        unit after the first); its index."""
        index = len(self.nodes)
        self._sources.append(index - 1)
        self._feeds.append(True)
        self._starts.append(len(self._sources))
        self.nodes.append(node)
        return index

    def finish(self) -> Graph:
        """The read-only graph."""
        return Graph(self.nodes, self._starts, self._sources, self._feeds)
