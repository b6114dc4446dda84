"""Plan renderings for --graph and --dry-run: text, dot, mermaid, json; deterministic, no paths."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rorunner.model import PlanStep

Node = tuple[str, str, str, str, str]
Edge = tuple[PlanStep, PlanStep, bool]
_UNSAFE = re.compile(r"[=*?\[\]%\s/\\\"'#]")


@functools.lru_cache(maxsize=1 << 16)
def safe_part(part: str) -> str:
    """One part of a task name, with the characters task names cannot hold replaced."""
    return _UNSAFE.sub("_", part)


def task_name(step: PlanStep) -> str:
    """Readable, doit-safe task name: <host>/<play>/<role>/<phase>/<step>."""
    parts = (step.host, step.play, step.role, step.phase, step.name)
    return "/".join([safe_part(part) for part in parts])


def render(
    fmt: str,
    steps: Sequence[PlanStep],
    edges: Sequence[Edge],
    plays: Sequence[Any],
    notices: Sequence[str],
    status: Mapping[Node, str] | None,
) -> str:
    """Render the plan as `fmt` (text, dot, mermaid or json)."""
    status = status or {}
    if fmt == "text":
        return _text(steps, status)
    if fmt == "dot":
        return _dot(steps, edges, status)
    if fmt == "mermaid":
        return _mermaid(steps, edges, status)
    if fmt == "json":
        return _json(steps, edges, plays, notices, status)
    raise ValueError(f"unknown plan format {fmt!r}; use text, dot, mermaid or json")


def _label(step: PlanStep) -> str:
    return f"{step.play}/{step.role}/{step.phase}/{step.name}"


def _by_host(steps: Sequence[PlanStep]) -> dict[str, list[PlanStep]]:
    """Each host's steps in plan order, hosts in order of their first step."""
    by_host: dict[str, list[PlanStep]] = {}
    for step in steps:
        by_host.setdefault(step.host, []).append(step)
    return by_host


def _text(steps: Sequence[PlanStep], status: Mapping[Node, str]) -> str:
    lines: list[str] = []
    for host, own in _by_host(steps).items():
        address = own[0].conn.address
        lines.append(host if address == host else f"{host} ({address})")
        width = max(len(_label(s)) for s in own)
        for number, step in enumerate(own, start=1):
            state = status.get(step.node)
            label = f"{_label(step):<{width}}  {state}" if state else _label(step)
            lines.append(f"  {number:>3}. {label}".rstrip())
    return "\n".join(lines) + "\n" if lines else "(no steps)\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(steps: Sequence[PlanStep], edges: Sequence[Edge], status: Mapping[Node, str]) -> str:
    ids = {step.node: f"n{i}" for i, step in enumerate(steps, start=1)}
    lines = ["digraph plan {", "  rankdir=LR;", "  node [shape=box];"]
    for index, (host, own) in enumerate(_by_host(steps).items(), start=1):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={_quote(host)};")
        for step in own:
            state = status.get(step.node)
            label = _label(step) + (f"\\n[{state}]" if state else "")
            lines.append(f"    {ids[step.node]} [label={_quote(label)}];")
        lines.append("  }")
    for before, after, feeds in edges:
        style = "" if feeds else " [style=dashed]"
        lines.append(f"  {ids[before.node]} -> {ids[after.node]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid(steps: Sequence[PlanStep], edges: Sequence[Edge], status: Mapping[Node, str]) -> str:
    ids = {step.node: f"n{i}" for i, step in enumerate(steps, start=1)}
    lines = ["flowchart TD"]
    for step in steps:
        state = status.get(step.node)
        label = f"{step.host}: {_label(step)}" + (f" [{state}]" if state else "")
        lines.append(f'  {ids[step.node]}["{label.replace(chr(34), "#quot;")}"]')
    for before, after, feeds in edges:
        arrow = "-->" if feeds else "-.->"
        lines.append(f"  {ids[before.node]} {arrow} {ids[after.node]}")
    return "\n".join(lines) + "\n"


def _json(
    steps: Sequence[PlanStep],
    edges: Sequence[Edge],
    plays: Sequence[Any],
    notices: Sequence[str],
    status: Mapping[Node, str],
) -> str:
    nodes = [
        {
            "id": task_name(step),
            "host": step.host,
            "play": step.play,
            "role": step.role,
            "phase": step.phase,
            "step": step.name,
            "kind": step.spec.kind,
            "status": status.get(step.node),
        }
        for step in steps
    ]
    links = [
        {"from": task_name(before), "to": task_name(after), "feeds": feeds}
        for before, after, feeds in edges
    ]
    play_list = [
        {
            "id": play.id,
            "name": play.name,
            "hosts": list(play.hosts),
            "batches": [list(batch) for batch in play.batches],
            "max_fail_percentage": play.max_fail_percentage,
        }
        for play in plays
    ]
    document = {"plays": play_list, "nodes": nodes, "edges": links, "notices": list(notices)}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
