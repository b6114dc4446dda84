"""The Plan object: ordered steps, their graph and renderings."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from itertools import filterfalse
from typing import Any

from rorunner.model import Barrier, ConnectionDefaults, Inventory, Node, PlanNode, PlanStep
from rorunner.plan._become import SigningKey, process_key
from rorunner.plan._build import PlayInfo, build_graph
from rorunner.plan._files import FileCache
from rorunner.plan._graph import Graph
from rorunner.plan._inputs import EnvInputs, Inputs, SpecInputs, step_inputs
from rorunner.plan._names import check_task_names, task_name
from rorunner.plan._render import Edge, graph_document, render
from rorunner.plan._select import Selection, entry_tail, prune, selected_tails
from rorunner.playbook import Playbook


class Plan:
    """Every step of every host and the barriers between plays and serial batches, validated,
    in a deterministic topological order."""

    def __init__(
        self,
        graph: Graph,
        plays: tuple[PlayInfo, ...],
        notices: tuple[str, ...],
        files: FileCache | None = None,
    ) -> None:
        self._graph = graph
        self._files = files or FileCache()  # the digests planning took, for step_inputs
        self._env_inputs = EnvInputs()
        self._spec_inputs = SpecInputs()
        self.nodes: tuple[PlanNode, ...] = tuple(graph.nodes)
        # (a C loop: filter calls the class's instance check; 700,000 nodes at 100k hosts)
        self.barriers: tuple[Barrier, ...] = tuple(
            filter(Barrier.__instancecheck__, self.nodes)  # type: ignore[arg-type]
        )
        self.steps: tuple[PlanStep, ...] = (
            tuple(filterfalse(Barrier.__instancecheck__, self.nodes))  # type: ignore[arg-type]
            if self.barriers
            else self.nodes  # type: ignore[assignment]
        )
        self.plays = plays
        self.notices = notices

    @functools.cached_property
    def _by_id(self) -> dict[int, int]:
        return {id(node): index for index, node in enumerate(self.nodes)}

    @functools.cached_property
    def _by_node(self) -> dict[Node, int]:
        return {node.node: index for index, node in enumerate(self.nodes)}

    def _index(self, node: PlanNode) -> int:
        index = self._by_id.get(id(node))
        if index is not None and self.nodes[index] is node:
            return index
        return self._by_node[node.node]

    def step(self, node: Node) -> PlanStep:
        """The step at graph node `node`."""
        step = self.nodes[self._by_node[node]]
        if not isinstance(step, PlanStep):
            raise KeyError(node)
        return step

    def predecessors(self, node: PlanNode) -> tuple[PlanNode, ...]:
        """Nodes (steps or barriers) that must finish before `node` starts, in plan order."""
        return self._at(self._graph.predecessors(self._index(node)))

    def feeders(self, step: PlanStep) -> tuple[PlanStep, ...]:
        """Predecessors whose signatures are folded into `step`'s (a change there re-runs it)."""
        return tuple(
            s for s in self._at(self._graph.feeders(self._index(step))) if isinstance(s, PlanStep)
        )

    def inputs(self, step: PlanStep, base: str, made: Collection[str] = ()) -> Inputs:
        """The step's inputs one by one (plan._inputs.step_inputs): what a success stores so
        that a dry run can name the input that changed."""
        feeders = {task_name(f): f.signature for f in self.feeders(step)}
        return step_inputs(
            step, self._files.digest, feeders, base, made, self._env_inputs, self._spec_inputs
        )

    def successors(self, node: PlanNode) -> tuple[PlanNode, ...]:
        """Nodes that wait for `node`, in plan order."""
        return self._at(self._graph.successors(self._index(node)))

    def ordered(self) -> Iterator[tuple[PlanNode, list[int]]]:
        """Every node in plan order with the indices (in `nodes`) of the nodes it waits for."""
        for index, node in enumerate(self.nodes):
            yield node, self._graph.predecessors(index)

    def _at(self, indices: Iterable[int]) -> tuple[PlanNode, ...]:
        return tuple(self.nodes[index] for index in indices)

    @property
    def edges(self) -> tuple[Edge, ...]:
        """(before, after, feeds) for every edge, in plan order."""
        nodes = self.nodes
        return tuple((nodes[a], nodes[b], feeds) for a, b, feeds in self._graph.edges())

    @functools.cached_property
    def hosts(self) -> tuple[str, ...]:
        """Hosts with at least one step, in plan order (`@controller` among them when a play
        has local_before or local_after steps)."""
        return tuple(dict.fromkeys(step.host for step in self.steps))

    def task_name(self, node: PlanNode) -> str:
        """The one name of `node` (unique in the plan): its doit task's, its id in renderings
        and run records. <host>/<play>/<role>/<phase>/<step>, or <play>/barrier/<name>."""
        return task_name(node)

    def render(self, fmt: str, status: Mapping[Node, str] | None = None) -> str:
        """The plan as text, dot, mermaid or json; `status` maps nodes to words like 'would run'."""
        return render(fmt, self.nodes, self.edges, self.plays, self.notices, status)

    def graph_file(self, status: Mapping[Node, str] | None = None) -> str:
        """The `--graph json` document as compact JSON text, for the files programs read (a
        run's plan beside its record): json's C encoder makes it, not the indenting one."""
        text = json.dumps(self.graph_document(status), sort_keys=True, separators=(",", ":"))
        return text + "\n"

    def graph_document(self, status: Mapping[Node, str] | None = None) -> dict[str, Any]:
        """What render("json", status) writes, as data (for a document that holds the graph:
        no JSON text made and parsed again)."""
        return graph_document(self.nodes, self.edges, self.plays, self.notices, status)

    def to_networkx(self) -> Any:
        """The plan as a networkx DiGraph (nodes as in `node.node`, a `feeds` flag on edges),
        for analysis; the planner itself does not need it."""
        import networkx as nx  # noqa: PLC0415 - only for callers that ask for it

        graph = nx.DiGraph()
        graph.add_nodes_from((node.node, {"node": node}) for node in self.nodes)
        graph.add_edges_from((a.node, b.node, {"feeds": feeds}) for a, b, feeds in self.edges)
        return graph


def build_plan(
    inventory: Inventory,
    playbook: Playbook,
    limit: str | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    fetch_dir: str | None = None,
    defaults: ConnectionDefaults | None = None,
    signing_key: SigningKey | None = None,
    selection: Selection | None = None,
) -> Plan:
    """Plan `playbook` over `inventory`; input mistakes raise InputError before any connection.
    Only the steps `selection` keeps are planned (by default: all but those tagged `never`).

    `signing_key()` gives the key of the project's keyed signatures (steps whose inputs hold
    a vault secret); without one, a random key of this process (such steps never count as
    up to date in another process)."""
    built = build_graph(
        inventory,
        playbook,
        limit,
        extra_vars or {},
        fetch_dir,
        defaults or ConnectionDefaults(),
        signing_key or process_key,
    )
    graph = built.builder.finish()
    chosen = selected_tails(playbook, selection or Selection())
    plays = {tail[0] for tail in chosen}  # a play's own steps go with its last chosen step
    chosen |= {tail for tail in built.tails if tail[2] in PLAY_PHASES and tail[0] in plays}
    if not built.tails <= chosen:
        graph = prune(graph, _keeper(chosen))
    plan = Plan(graph, tuple(built.plays), tuple(built.notices), built.files)
    hosts = dict.fromkeys(host for play in built.plays for host in play.hosts)
    check_task_names(hosts, built.tails, plan.steps)
    return plan


# A play's own steps (issue 10): not named by tags, kept while a step of the play is.
PLAY_PHASES = ("local_before", "local_after", "cleanup")


def _keeper(chosen: set[tuple[str, str, str, str]]) -> Callable[[PlanStep], bool]:
    """Whether a step stays in a plan cut down by tags: a step of the playbook when the
    selection chose it; a play's own steps (local_before, local_after, the removal of
    secret files) when the selection chose a step of that play (issue 10)."""
    plays = {tail[0] for tail in chosen}

    def keep(step: PlanStep) -> bool:
        if step.phase in PLAY_PHASES:
            return step.play in plays
        return entry_tail(step) in chosen

    return keep
