"""The plan page's graph as cytoscape elements: steps coloured by status, grouped, searchable,
and collapsed to one node per host when there are many hosts (no Dash imports here)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rorunner.records import DryRunRecord, RecordError, RunRecord, RunStore

COLLAPSE_ABOVE = 40  # hosts; above this each host is one node until expanded
# Each host is a column, its steps top to bottom (plays one below the other): a page is
# wider than tall, and a run has more steps per host than hosts on a screen.
X_HOST = 230
Y_STEP = 66
HOSTS_PER_ROW = 6  # collapsed host nodes per row
VIEW_WIDTH = 1300  # px the graph is drawn into (zoomed out to fit, not below MIN_ZOOM)
MIN_ZOOM = 0.35
MAX_HEIGHT = 2400  # px of the graph's box; taller graphs pan inside it
_WORST = (
    "failed",
    "unreachable",
    "running",
    "pending",
    "would-run",
    "changed",
    "ok",
    "skipped",
    "up-to-date",
    "not_run",
)
DRY_RUN = "dry-run"  # the plan page's source name of the dry-run state (no run id is)


@dataclass(frozen=True)
class PlanSource:
    """The graph a plan page draws: a run's (coloured by its steps), or the newest dry
    run's (coloured would run / up to date)."""

    name: str  # a run id, or DRY_RUN
    plan: Mapping[str, Any]
    record: RunRecord | None = None  # the run's record, when the source is a run
    dry_run: DryRunRecord | None = None  # the project's dry-run state, if one was saved
    newest_run: RunRecord | None = None  # the project's newest run (summary), if any

    @property
    def is_dry_run(self) -> bool:
        """The graph is the dry run's."""
        return self.name == DRY_RUN


def plan_source(store: RunStore, name: str | None) -> PlanSource | None:
    """The plan of run `name`, of the dry run (DRY_RUN), or, for None, the newer of the
    dry run and the newest run with a plan; None when there is no such plan."""
    runs = store.summaries()
    newest = runs[0] if runs else None
    dry = _dry_run_or_none(store)
    if name == DRY_RUN:
        return None if dry is None else PlanSource(DRY_RUN, dry.plan, None, dry, newest)
    for run in [r for r in runs if r.run_id == name] if name else runs:
        if name is None and dry is not None and dry.created_at >= run.started_at:
            break  # the dry run is newer than any run with a plan
        plan = _plan_or_none(store, run.run_id)
        if plan is not None:
            record = _load_or_none(store, run.run_id)
            return PlanSource(run.run_id, plan, record, dry, newest)
    if name is None and dry is not None:
        return PlanSource(DRY_RUN, dry.plan, None, dry, newest)
    return None


def _dry_run_or_none(store: RunStore) -> DryRunRecord | None:
    try:
        return store.dry_run()
    except RecordError:
        return None


def _plan_or_none(store: RunStore, run_id: str) -> dict[str, Any] | None:
    try:
        return store.plan(run_id)
    except RecordError:
        return None


def _load_or_none(store: RunStore, run_id: str) -> RunRecord | None:
    try:
        return store.load(run_id)
    except RecordError:
        return None


@dataclass(frozen=True)
class PlanView:
    """What to draw: grouping, which hosts are expanded, the search text."""

    group_by: str = "host"  # or "play"
    expanded: frozenset[str] = frozenset()
    search: str = ""
    collapse_above: int = COLLAPSE_ABOVE


def node_status(node: Mapping[str, Any], statuses: Mapping[str, str]) -> str:
    """The run's status of a plan node; else the plan's verdict (would-run / up-to-date)."""
    if node["id"] in statuses:
        return statuses[node["id"]]
    verdict = str(node.get("status") or "")
    if verdict.startswith("would run"):
        return "would-run"
    return "up-to-date" if verdict == "up to date" else "planned"


BARRIERS = "(barriers)"  # the row of the plan's barrier nodes (they belong to no host)


def _displayed(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """A node as drawn: a barrier (no host, no role) in the row of barriers."""
    if node.get("kind") != "barrier":
        return node
    return {**node, "host": BARRIERS, "role": "barrier"}


def plan_hosts(plan: Mapping[str, Any]) -> list[str]:
    """Hosts of the plan in order of their first step."""
    return list(
        dict.fromkeys(n["host"] for n in plan.get("nodes", ()) if n.get("kind") != "barrier")
    )


def collapsed_hosts(plan: Mapping[str, Any], view: PlanView) -> set[str]:
    """Hosts drawn as one node: all but the expanded ones, when there are too many hosts."""
    hosts = plan_hosts(plan)
    if len(hosts) <= view.collapse_above:
        return set()
    return set(hosts) - set(view.expanded)


def elements(
    plan: Mapping[str, Any], record: RunRecord | None, view: PlanView
) -> list[dict[str, Any]]:
    """cytoscape elements (groups, steps or host summaries, edges) with preset positions."""
    statuses = {s.task: s.status for s in record.steps} if record is not None else {}
    nodes: Sequence[Mapping[str, Any]] = [_displayed(n) for n in plan.get("nodes", ())]
    collapsed = collapsed_hosts(plan, view)
    needle = view.search.strip().lower()
    out = _host_summaries(nodes, collapsed, statuses, needle)
    shown = [n for n in nodes if n["host"] not in collapsed]
    out.extend(_groups(shown, view.group_by))
    out.extend(_steps(shown, statuses, view.group_by, needle, y0=_rows(len(collapsed))))
    ids = {n["id"] for n in shown}
    out.extend(
        {
            "data": {"id": f"e{i}", "source": e["from"], "target": e["to"]},
            "classes": "feeds" if e.get("feeds") else "order",
        }
        for i, e in enumerate(plan.get("edges", ()))
        if e["from"] in ids and e["to"] in ids
    )
    return out


def _rows(count: int) -> int:
    return ((count + HOSTS_PER_ROW - 1) // HOSTS_PER_ROW) * Y_STEP * 2


def viewport(items: Sequence[Mapping[str, Any]]) -> tuple[float, dict[str, float], int]:
    """(zoom, pan, box height in px) that show `items` from their top-left, readable:
    zoomed out only as far as the width needs (not below MIN_ZOOM)."""
    xs = [e["position"]["x"] for e in items if "position" in e]
    ys = [e["position"]["y"] for e in items if "position" in e]
    if not xs:
        return 1.0, {"x": 0.0, "y": 0.0}, 300
    width = max(xs) - min(xs) + X_HOST
    height = max(ys) - min(ys) + 2 * Y_STEP
    zoom = max(MIN_ZOOM, min(1.0, VIEW_WIDTH / width))
    pan = {"x": (X_HOST / 2 - min(xs)) * zoom + 20, "y": (Y_STEP - min(ys)) * zoom + 20}
    return zoom, pan, int(min(MAX_HEIGHT, max(300, height * zoom + 80)))


def _matches(node: Mapping[str, Any], needle: str) -> bool:
    return bool(needle) and needle in str(node["id"]).lower()


def _search_class(hit: bool, needle: str) -> str:
    if not needle:
        return ""
    return " match" if hit else " dim"


def _host_summaries(
    nodes: Sequence[Mapping[str, Any]],
    collapsed: Collection[str],
    statuses: Mapping[str, str],
    needle: str,
) -> list[dict[str, Any]]:
    by_host: dict[str, list[Mapping[str, Any]]] = {}
    for node in nodes:
        if node["host"] in collapsed:
            by_host.setdefault(node["host"], []).append(node)
    out = []
    for index, (host, own) in enumerate(by_host.items()):
        status = _worst(node_status(n, statuses) for n in own)
        hit = any(_matches(n, needle) for n in own) or (bool(needle) and needle in host.lower())
        out.append(
            {
                "data": {
                    "id": f"host:{host}",
                    "label": f"{host}\n{len(own)} steps · {status}",
                    "host": host,
                    "status": status,
                    "steps": len(own),
                },
                "position": {
                    "x": (index % HOSTS_PER_ROW) * X_HOST,
                    "y": (index // HOSTS_PER_ROW) * Y_STEP * 2,
                },
                "classes": f"hostnode {status}{_search_class(hit, needle)}",
            }
        )
    return out


def _worst(statuses: Any) -> str:
    found = set(statuses)
    return next((s for s in _WORST if s in found), next(iter(sorted(found)), "planned"))


def _group_of(node: Mapping[str, Any], group_by: str) -> str:
    return f"group:{node['play'] if group_by == 'play' else node['host']}"


def _groups(nodes: Sequence[Mapping[str, Any]], group_by: str) -> list[dict[str, Any]]:
    groups = dict.fromkeys(_group_of(n, group_by) for n in nodes)
    return [{"data": {"id": g, "label": g.split(":", 1)[1]}, "classes": "group"} for g in groups]


def _steps(
    nodes: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, str],
    group_by: str,
    needle: str,
    y0: int,
) -> list[dict[str, Any]]:
    hosts = {h: i for i, h in enumerate(dict.fromkeys(n["host"] for n in nodes))}
    plays = list(dict.fromkeys(n["play"] for n in nodes))
    width = _play_widths(nodes) if group_by == "play" else {}
    offset = {p: sum(width.get(q, 0) for q in plays[: plays.index(p)]) for p in plays}
    column: dict[tuple[str, str], int] = {}
    out = []
    for node in nodes:
        key = (node["host"], node["play"] if group_by == "play" else "")
        x = column.get(key, 0)
        column[key] = x + 1
        status = node_status(node, statuses)
        out.append(
            {
                "data": {
                    "id": node["id"],
                    "parent": _group_of(node, group_by),
                    "label": f"{node['role']} > {node['phase']}\n{node['step']}",
                    "status": status,
                    "host": node["host"],
                    "play": node["play"],
                },
                "position": {
                    "x": hosts[node["host"]] * X_HOST,
                    "y": y0 + (offset.get(node["play"], 0) + x) * Y_STEP,
                },
                "classes": f"step {status}{_search_class(_matches(node, needle), needle)}",
            }
        )
    return out


def _play_widths(nodes: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per play, the most steps one host has in it (+1: a gap between plays)."""
    counts: dict[tuple[str, str], int] = {}
    for node in nodes:
        key = (node["play"], node["host"])
        counts[key] = counts.get(key, 0) + 1
    widths: dict[str, int] = {}
    for (play, _), count in counts.items():
        widths[play] = max(widths.get(play, 0), count + 1)
    return widths
