"""Plan renderings for --graph and --dry-run: text, dot, mermaid, json; deterministic, no paths."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rorunner.model import Barrier, Node, PlanNode, PlanStep
from rorunner.plan._draw import dot, mermaid
from rorunner.plan._names import task_name

Edge = tuple[PlanNode, PlanNode, bool]


def render(
    fmt: str,
    nodes: Sequence[PlanNode],
    edges: Sequence[Edge],
    plays: Sequence[Any],
    notices: Sequence[str],
    status: Mapping[Node, str] | None,
) -> str:
    """Render the plan as `fmt` (text, dot, mermaid or json)."""
    status = status or {}
    if fmt == "text":
        return _text(nodes, edges, status)
    if fmt == "dot":
        return dot(nodes, edges, status)
    if fmt == "mermaid":
        return mermaid(nodes, edges, status)
    if fmt == "json":
        return _json(nodes, edges, plays, notices, status)
    raise ValueError(f"unknown plan format {fmt!r}; use text, dot, mermaid or json")


def _label(step: PlanStep) -> str:
    return f"{step.play}/{step.role}/{step.phase}/{step.name}"


def barrier_label(barrier: Barrier) -> str:
    """What a barrier waits for, in words."""
    hosts = f"{barrier.waits_for} host{'s' if barrier.waits_for != 1 else ''}"
    if barrier.batch == 1:
        return f"{barrier.play} starts when all work before it has ended ({hosts})"
    batch = barrier.batch
    return f"{barrier.play} batch {batch} starts when batch {batch - 1} ended ({hosts})"


def _by_host(nodes: Sequence[PlanNode]) -> dict[str, list[PlanStep]]:
    """Each host's steps in plan order, hosts in order of their first step."""
    by_host: dict[str, list[PlanStep]] = {}
    for node in nodes:
        if isinstance(node, PlanStep):
            by_host.setdefault(node.host, []).append(node)
    return by_host


def _waits(edges: Sequence[Edge]) -> dict[Node, Barrier]:
    """The barrier each step waits for directly, by the step's node."""
    return {
        after.node: before
        for before, after, _ in edges
        if isinstance(before, Barrier) and isinstance(after, PlanStep)
    }


def _text(nodes: Sequence[PlanNode], edges: Sequence[Edge], status: Mapping[Node, str]) -> str:
    waits = _waits(edges)
    lines: list[str] = []
    for host, own in _by_host(nodes).items():
        address = own[0].conn.address
        lines.append(host if address == host else f"{host} ({address})")
        width = max(len(_label(s)) for s in own)
        for number, step in enumerate(own, start=1):
            barrier = waits.get(step.node)
            if barrier is not None:
                lines.append(f"       -- {barrier_label(barrier)}")
            state = status.get(step.node)
            label = f"{_label(step):<{width}}  {state}" if state else _label(step)
            lines.append(f"  {number:>3}. {label}".rstrip())
    return "\n".join(lines) + "\n" if lines else "(no steps)\n"


def _json_node(node: PlanNode, name: str, status: Mapping[Node, str]) -> dict[str, Any]:
    if isinstance(node, Barrier):
        return {
            "id": name,
            "host": None,
            "play": node.play,
            "role": None,
            "phase": "barrier",
            "step": node.name,
            "kind": "barrier",
            "waits_for": node.waits_for,
            "status": status.get(node.node),
        }
    return {
        "id": name,
        "host": node.host,
        "play": node.play,
        "role": node.role,
        "phase": node.phase,
        "step": node.name,
        "kind": node.spec.kind,
        "status": status.get(node.node),
    }


def _json(
    nodes: Sequence[PlanNode],
    edges: Sequence[Edge],
    plays: Sequence[Any],
    notices: Sequence[str],
    status: Mapping[Node, str],
) -> str:
    document = graph_document(nodes, edges, plays, notices, status)
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def graph_document(
    nodes: Sequence[PlanNode],
    edges: Sequence[Edge],
    plays: Sequence[Any],
    notices: Sequence[str],
    status: Mapping[Node, str] | None,
) -> dict[str, Any]:
    """The `--graph json` document as data."""
    status = status or {}
    names = {id(node): task_name(node) for node in nodes}  # each node's name made once
    links = [
        {"from": names[id(before)], "to": names[id(after)], "feeds": feeds}
        for before, after, feeds in edges
    ]
    play_list = [
        {
            "id": play.id,
            "name": play.name,
            "hosts": list(play.hosts),
            "batches": [list(batch) for batch in play.batches],
            "max_fail_percentage": play.max_fail_percentage,
            "pipeline": play.pipeline,
        }
        for play in plays
    ]
    return {
        "plays": play_list,
        "nodes": [_json_node(node, names[id(node)], status) for node in nodes],
        "edges": links,
        "notices": list(notices),
    }
