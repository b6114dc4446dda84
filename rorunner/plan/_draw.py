"""Plan drawings for `--graph dot` and `--graph mermaid`: left to right, one cluster per host.

Layout: a host is a band of the drawing; in it each unit (role or inline rtas) of a play is
a small box of its own, its steps stacked top to bottom in run order, and units follow each
other left to right, so the width grows with the number of units and plays, not of steps.
Barriers (a play's start, a serial batch) are hexagons between the bands. With more than
HOST_CLUSTER_LIMIT hosts the bands are plays instead of hosts (each unit box then names its
host). Every edge that leaves a unit goes from its last step to another unit's first step,
so mermaid draws those edges between unit boxes (its boxes keep their own top-to-bottom
direction only when no node inside is linked from outside); dot keeps every step edge.
Solid edges feed (a change before re-runs the step after); dashed ones only order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rorunner.model import Barrier, Node, PlanNode, PlanStep

if TYPE_CHECKING:  # _render imports this module
    from rorunner.plan._render import Edge

HOST_CLUSTER_LIMIT = 10  # hosts drawn as bands of their own; above it, one band per play
_FILL = {"would run": "#fde3bf", "up to date": "#d8f0d8"}
_LEGEND = "solid edge: feeds (a change re-runs what follows); dashed: order only"


@dataclass
class _Unit:
    """The steps of one unit of one host in one play, in run order."""

    key: str  # d1, d2... / u1, u2... in drawing ids
    host: str
    play: str
    role: str
    steps: list[PlanStep] = field(default_factory=list)


@dataclass
class _Band:
    """A cluster of the drawing: one host, or one play when there are many hosts."""

    title: str
    units: list[_Unit] = field(default_factory=list)


def _ids(nodes: Sequence[PlanNode]) -> dict[Node, str]:
    """n1, n2... for steps and b1, b2... for barriers, in plan order."""
    ids: dict[Node, str] = {}
    steps = barriers = 0
    for node in nodes:
        if isinstance(node, Barrier):
            barriers += 1
            ids[node.node] = f"b{barriers}"
        else:
            steps += 1
            ids[node.node] = f"n{steps}"
    return ids


def _layout(nodes: Sequence[PlanNode]) -> tuple[list[_Band], dict[Node, _Unit], bool]:
    """The bands in order of first appearance, each step's unit, and whether bands are hosts."""
    steps = [node for node in nodes if isinstance(node, PlanStep)]
    by_host = len(dict.fromkeys(step.host for step in steps)) <= HOST_CLUSTER_LIMIT
    bands: dict[str, _Band] = {}
    units: dict[tuple[str, str, str], _Unit] = {}
    owner: dict[Node, _Unit] = {}
    for step in steps:
        band_key = step.host if by_host else step.play
        if band_key not in bands:
            bands[band_key] = _Band(_host_title(step) if by_host else f"play {step.play}")
        unit_key = (step.host, step.play, step.role)
        unit = units.get(unit_key)
        if unit is None:
            unit = units[unit_key] = _Unit(f"u{len(units) + 1}", step.host, step.play, step.role)
            bands[band_key].units.append(unit)
        unit.steps.append(step)
        owner[step.node] = unit
    return list(bands.values()), owner, by_host


def _host_title(step: PlanStep) -> str:
    address = step.conn.address
    return step.host if address == step.host else f"{step.host} ({address})"


def _unit_title(unit: _Unit, by_host: bool) -> str:
    return f"{unit.role} ({unit.play})" if by_host else f"{unit.host}: {unit.role}"


def _step_lines(step: PlanStep, status: Mapping[Node, str]) -> list[str]:
    state = status.get(step.node)
    return [f"{step.phase}: {step.name}", *([state] if state else [])]


def _barrier_lines(barrier: Barrier) -> list[str]:
    hosts = f"{barrier.waits_for} host{'s' if barrier.waits_for != 1 else ''}"
    if barrier.batch == 1:
        return [f"barrier: {barrier.play} starts", f"after all earlier work ({hosts})"]
    batch = barrier.batch
    return [f"barrier: {barrier.play} batch {batch}", f"after batch {batch - 1} ({hosts})"]


def _fill(state: str | None) -> str:
    for prefix, colour in _FILL.items():
        if state and state.startswith(prefix):
            return colour
    return "white"


def _dot_text(lines: Sequence[str]) -> str:
    """A dot string of several lines: quotes and backslashes escaped, then `\\n` breaks."""
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\n".join(escaped) + '"'


def dot(nodes: Sequence[PlanNode], edges: Sequence[Edge], status: Mapping[Node, str]) -> str:
    """The plan in Graphviz dot."""
    ids = _ids(nodes)
    bands, owner, by_host = _layout(nodes)
    lines = [
        "digraph plan {",
        "  graph [rankdir=LR, newrank=true, fontname=Helvetica, fontsize=11, nodesep=0.12,"
        f" ranksep=0.3, labelloc=b, label={_dot_text([_LEGEND])}];",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=10,'
        ' margin="0.08,0.03"];',
        "  edge [arrowsize=0.6];",
    ]
    for index, band in enumerate(bands, start=1):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={_dot_text([band.title])}; style=rounded; color=grey55;")
        for unit in band.units:
            lines.extend(f"    {line}" for line in _dot_unit(unit, ids, status, by_host))
        lines.append("  }")
    for node in nodes:
        if isinstance(node, Barrier):
            label = _dot_text(_barrier_lines(node))
            lines.append(
                f"  {ids[node.node]} [label={label}, shape=hexagon, style=filled,"
                " fillcolor=grey88];"
            )
    for before, after, feeds in edges:
        lines.append(
            f"  {ids[before.node]} -> {ids[after.node]}{_dot_style(before, after, feeds, owner)};"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_style(before: PlanNode, after: PlanNode, feeds: bool, owner: Mapping[Node, _Unit]) -> str:
    """Dashed when the edge only orders; inside a unit it does not rank (its steps share a
    rank, stacked in the order they are declared)."""
    unit = owner.get(before.node)
    attributes = [] if feeds else ["style=dashed"]
    if unit is not None and unit is owner.get(after.node):
        attributes.append("constraint=false")
    return f" [{', '.join(attributes)}]" if attributes else ""


def _dot_unit(
    unit: _Unit, ids: Mapping[Node, str], status: Mapping[Node, str], by_host: bool
) -> Iterator[str]:
    """A unit's cluster: its steps on one rank, so that rankdir=LR stacks them top to bottom."""
    yield f"subgraph cluster_{unit.key} {{"
    yield f"  label={_dot_text([_unit_title(unit, by_host)])}; style=dashed; color=grey70;"
    for step in unit.steps:
        label = _dot_text(_step_lines(step, status))
        fill = _fill(status.get(step.node))
        yield f'  {ids[step.node]} [label={label}, fillcolor="{fill}"];'
    yield "  {rank=same; " + " ".join(f"{ids[s.node]};" for s in unit.steps) + "}"
    yield "}"


def _mermaid_text(lines: Sequence[str]) -> str:
    """A quoted mermaid label: `"` as mermaid's #quot; entity, lines joined by <br/>."""
    return '"' + "<br/>".join(line.replace('"', "#quot;") for line in lines) + '"'


def mermaid(nodes: Sequence[PlanNode], edges: Sequence[Edge], status: Mapping[Node, str]) -> str:
    """The plan as a mermaid flowchart."""
    ids = _ids(nodes)
    bands, owner, by_host = _layout(nodes)
    lines = ["flowchart LR"]
    classes: dict[str, list[str]] = {"run": [], "uptodate": []}
    for index, band in enumerate(bands, start=1):
        lines.append(f"  subgraph c{index}[{_mermaid_text([band.title])}]")
        for unit in band.units:
            lines.append(f"    subgraph {unit.key}[{_mermaid_text([_unit_title(unit, by_host)])}]")
            lines.append("      direction TB")
            for step in unit.steps:
                text = _mermaid_text(_step_lines(step, status))
                lines.append(f"      {ids[step.node]}[{text}]")
                _classify(classes, ids[step.node], status.get(step.node))
            lines.append("    end")
        lines.append("  end")
    for node in nodes:
        if isinstance(node, Barrier):
            lines.append(f"  {ids[node.node]}{{{{{_mermaid_text(_barrier_lines(node))}}}}}")
    lines.extend(_mermaid_edges(edges, ids, owner))
    lines.append("  classDef run fill:#fde3bf,stroke:#b07a2a")
    lines.append("  classDef uptodate fill:#d8f0d8,stroke:#4a8a4a")
    lines.append("  classDef barrier fill:#e0e0e0,stroke:#555555")
    for name, members in classes.items():
        if members:
            lines.append(f"  class {','.join(members)} {name}")
    barriers = [ids[n.node] for n in nodes if isinstance(n, Barrier)]
    if barriers:
        lines.append(f"  class {','.join(barriers)} barrier")
    return "\n".join(lines) + "\n"


def _classify(classes: dict[str, list[str]], node_id: str, state: str | None) -> None:
    if state and state.startswith("would run"):
        classes["run"].append(node_id)
    elif state and state.startswith("up to date"):
        classes["uptodate"].append(node_id)


def _mermaid_edges(
    edges: Sequence[Edge], ids: Mapping[Node, str], owner: Mapping[Node, _Unit]
) -> list[str]:
    """Step edges inside a unit; edges between units (last step to first step) drawn between
    the unit boxes, once each, solid when any of them feeds."""
    links: dict[tuple[str, str], bool] = {}
    for before, after, feeds in edges:
        unit_a, unit_b = owner.get(before.node), owner.get(after.node)
        if unit_a is not None and unit_a is unit_b:
            key = (ids[before.node], ids[after.node])
        else:
            key = (_end(before, ids, unit_a), _end(after, ids, unit_b))
        links[key] = links.get(key, False) or feeds
    return [f"  {a} {'-->' if feeds else '-.->'} {b}" for (a, b), feeds in links.items()]


def _end(node: PlanNode, ids: Mapping[Node, str], unit: _Unit | None) -> str:
    return unit.key if unit is not None else ids[node.node]
