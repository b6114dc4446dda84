"""Page layouts: the runs table, one run, the plan graph, the hosts (Dash components)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import dash_ag_grid as dag
import dash_cytoscape as cyto
from dash import dcc, html

from rorunner.dashboard import _figures, _views
from rorunner.dashboard._plan import (
    COLLAPSE_ABOVE,
    DRY_RUN,
    PlanSource,
    PlanView,
    elements,
    plan_hosts,
    viewport,
)
from rorunner.dashboard._views import GRID_STATUSES, STATUS_COLOURS, Project
from rorunner.records import DryRunRecord, DryRunStep, RunRecord, StepRecord

RUNS_PAGE_SIZE = 25
FAILURES_IN_FULL = 20  # failures shown with reason and stderr; the rest one line each
_STATES = (*GRID_STATUSES, "running", "pending")
_CELL_RULES = {f"st-{s}": f"params.value == '{s}'" for s in _STATES}


def _status_rules(field: str) -> dict[str, str]:
    """Colour a step cell by the status in its row's `<field>_s` (the cell may say more)."""
    return {f"st-{s}": f"params.data.{field}_s == '{s}'" for s in _STATES}


def nav(projects: Sequence[Project], key: str | None) -> html.Header:
    """The top bar: title and links to the pages of the current project."""
    current = key or (projects[0].key if projects else "")
    runs = f"/runs/{key}" if key and len(projects) > 1 else "/"
    links = [dcc.Link("Runs", href=runs, id="nav-runs")]
    if current:
        links += [
            dcc.Link("Plan", href=f"/plan/{current}", id="nav-plan"),
            dcc.Link("Hosts", href=f"/hosts/{current}", id="nav-hosts"),
        ]
    others = [dcc.Link(p.key, href=f"/runs/{p.key}") for p in projects if p.key != current]
    return html.Header(
        [
            html.Span("rorunner", className="brand"),
            html.Nav(links),
            html.Span(f"project: {current}" if current else "no project", className="project"),
            html.Span(others, className="others") if others else None,
        ],
        className="topbar",
    )


def chip(status: str, count: int | None = None) -> html.Span:
    """A coloured status label, with a count."""
    text = status if count is None else f"{status} {count}"
    data = {"data-status": status, "data-count": "" if count is None else str(count)}
    span: Any = html.Span  # data-* attributes are wildcard props, unknown to the stubs
    return span(text, className=f"chip st-{status}", **data)  # type: ignore[no-any-return]


# ---- runs ------------------------------------------------------------------------------


RUN_COLUMNS: list[dict[str, Any]] = [
    {"field": "started", "headerName": "started (UTC)", "sort": "desc", "width": 170},
    {"field": "link", "headerName": "run", "cellRenderer": "markdown", "width": 250},
    {"field": "project", "width": 110},
    {"field": "playbook", "width": 170},
    {"field": "kind", "width": 85, "cellClassRules": {"kind-other": "params.value != 'play'"}},
    {"field": "user", "width": 90},
    {
        "field": "command",
        "headerName": "argv",
        "flex": 1,
        "minWidth": 200,
        "tooltipField": "command",
    },
    {"field": "duration", "headerName": "duration (s)", "width": 120},
    {
        "field": "status",
        "width": 105,
        "cellClassRules": {
            "st-running": "params.value == 'running'",
            "st-not_run": "params.value == 'interrupted'",
        },
    },
    {
        "field": "exit_code",
        "headerName": "exit",
        "width": 75,
        "cellClassRules": {"st-failed": "params.value != null && params.value != 0"},
    },
    {
        "field": "hosts_ok",
        "headerName": "ok",
        "width": 70,
        "cellClassRules": {"st-ok": "params.value > 0"},
    },
    {
        "field": "hosts_changed",
        "headerName": "changed",
        "width": 95,
        "cellClassRules": {"st-changed": "params.value > 0"},
    },
    {
        "field": "hosts_failed",
        "headerName": "failed",
        "width": 85,
        "cellClassRules": {"st-failed": "params.value > 0"},
    },
    {
        "field": "hosts_unreachable",
        "headerName": "unreachable",
        "width": 115,
        "cellClassRules": {"st-unreachable": "params.value > 0"},
    },
]


def runs_page(
    rows: Sequence[Mapping[str, Any]], projects: Sequence[Project], key: str | None, poll_ms: int
) -> html.Div:
    """Every run of every project, newest first, filterable, sortable, paginated."""
    playbooks = sorted({str(r["playbook"]) for r in rows})
    hosts = sorted({h for r in rows for h in str(r["hosts"]).split()})
    columns = [c for c in RUN_COLUMNS if c["field"] != "project" or (len(projects) > 1 and not key)]
    title = f"Runs of {key}" if key else "Runs"
    filters = html.Div(
        [
            dcc.Dropdown(
                id="runs-status",
                options=list(_views.RUN_OUTCOMES),
                multi=True,
                placeholder="status…",
            ),
            dcc.Dropdown(
                id="runs-playbook", options=playbooks, multi=True, placeholder="playbook…"
            ),
            dcc.Dropdown(id="runs-host", options=hosts, placeholder="ran on host…"),
        ],
        className="filters",
    )
    return html.Div(
        [
            html.H1(title),
            html.P(_empty_note(projects) if not rows else f"{len(rows)} runs", id="runs-count"),
            filters,
            dag.AgGrid(
                id="runs-grid",
                rowData=list(rows),
                columnDefs=columns,
                defaultColDef={"sortable": True, "resizable": True},
                getRowId="params.data.project + '/' + params.data.run_id",
                dashGridOptions={
                    "pagination": True,
                    "paginationPageSize": RUNS_PAGE_SIZE,
                    "paginationPageSizeSelector": False,
                    "animateRows": False,
                    "tooltipShowDelay": 300,
                },
                style={"height": "calc(100vh - 260px)", "minHeight": "420px"},
            ),
            dcc.Interval(id="runs-poll", interval=poll_ms),
            dcc.Store(id="runs-sig"),
            dcc.Store(id="runs-scope", data=key),
        ]
    )


def _empty_note(projects: Sequence[Project]) -> str:
    where = ", ".join(p.label for p in projects) or "the given directories"
    return f"no runs recorded yet in {where}"


# ---- one run -----------------------------------------------------------------------------


def run_page(project: Project, record: RunRecord, poll_ms: int, now: float) -> html.Div:
    """One run: header, counts, host x step grid, timeline, failures, fetched files, details."""
    columns = _views.grid_columns(record)
    return html.Div(
        [
            dcc.Store(id="run-ref", data={"project": project.key, "run_id": record.run_id}),
            html.Div(run_header(project, record), id="run-header"),
            html.Div(counts(record), id="run-counts"),
            html.H2("Hosts x steps"),
            dag.AgGrid(
                id="run-grid",
                rowData=_views.grid_rows(record, columns, now),
                columnDefs=grid_column_defs(columns),
                defaultColDef={"resizable": True, "sortable": True},
                getRowId="params.data.host",
                dashGridOptions={
                    "animateRows": False,
                    "tooltipShowDelay": 300,
                    "suppressColumnVirtualisation": len(columns) <= 40,
                },
                style={"height": f"{min(640, 200 + 42 * max(1, len(record.hosts)))}px"},
            ),
            html.Div(
                html.P("Click a step in the grid or on the timeline for its details."),
                id="step-detail",
                className="detail",
            ),
            html.H2("Timeline"),
            timeline_pager(record),
            dcc.Graph(
                id="run-timeline",
                figure=timeline_figure(record, now, 0),
                config={"displaylogo": False},
            ),
            html.Div(failures_block(project, record), id="run-failures"),
            html.Div(fetched_block(record), id="run-fetched"),
            dcc.Interval(id="run-poll", interval=poll_ms, disabled=not record.running),
        ]
    )


def timeline_figure(record: RunRecord, now: float, page: int) -> Any:
    """The run's Gantt chart, for the hosts of one timeline page."""
    hosts = _views.timeline_hosts(record, page)
    return _figures.timeline(_views.timeline_bars(record, now, set(hosts)), hosts)


def timeline_pager(record: RunRecord) -> dcc.Dropdown:
    """Which hosts the timeline shows (hidden when they all fit on one page)."""
    pages = _views.timeline_pages(record)
    return dcc.Dropdown(
        id="timeline-page",
        options=[{"label": label, "value": page} for page, label in pages],
        value=0,
        clearable=False,
        searchable=False,
        style={"display": "block" if len(pages) > 1 else "none", "maxWidth": "320px"},
    )


def grid_column_defs(columns: Sequence[_views.Column]) -> list[dict[str, Any]]:
    """Host and its state pinned left, then one column per step under its play and role."""
    defs: list[dict[str, Any]] = [
        {"field": "host", "pinned": "left", "width": 140},
        {
            "field": "state",
            "headerName": "host state",
            "pinned": "left",
            "width": 110,
            "cellClassRules": _CELL_RULES,
        },
    ]
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for column in columns:
        groups.setdefault(column.play, {}).setdefault(column.role, []).append(
            {
                "field": column.field,
                "headerName": f"{column.phase} > {column.step}",
                "headerTooltip": f"{column.play} > {column.label}",
                "width": 140,
                "wrapHeaderText": True,
                "autoHeaderHeight": True,
                "cellClassRules": _status_rules(column.field),
            }
        )
    for play, roles in groups.items():
        children = [{"headerName": role, "children": cols} for role, cols in roles.items()]
        defs.append({"headerName": play, "children": children})
    return defs


def run_header(project: Project, record: RunRecord) -> list[Any]:
    """Run id, status, who, when, what; plays and their stop reasons."""
    exit_text = "" if record.exit_code is None else f" · exit {record.exit_code}"
    took = "" if record.duration is None else f" · {record.duration:.1f}s"
    plays = [
        html.Li(
            [
                f"{p.id} {p.name}: {len(p.hosts)} hosts",
                html.Span(f" — stopped: {p.stop_reason}", className="stop")
                if p.stop_reason
                else None,
            ]
        )
        for p in record.plays
    ]
    return [
        html.H1(
            [
                f"Run {record.run_id} ",
                html.Span(live_text(record), id="run-live", className=f"live {record.status}"),
            ]
        ),
        html.P(f"{record.status}{exit_text}{took}", id="run-status"),
        _kind_note(record),
        html.Dl(
            [
                *_pair("playbook", record.playbook or "-"),
                *_pair("command", " ".join(record.argv) or "-"),
                *_pair(
                    "by", f"{record.user}@{record.controller} (rorunner {record.rorunner_version})"
                ),
                *_pair("started", record.started_at),
                *_pair("ended", record.ended_at or "—"),
                *_pair("options", ", ".join(f"{k}={v}" for k, v in sorted(record.options.items()))),
            ],
            className="meta",
        ),
        html.Ul(plays, className="plays"),
        html.P([dcc.Link("plan graph", href=f"/plan/{project.key}/{record.run_id}")])
        if record.plan
        else None,
    ]


def _kind_note(record: RunRecord) -> html.P | None:
    """A check run or an ad hoc command says so (a check's 'changed' changed nothing)."""
    kind = _views.run_kind(record)
    if kind == "play":
        return None
    return html.P(f"{kind}: {_views.RUN_KINDS[kind]}", id="run-kind", className="kind-note")


def live_text(record: RunRecord) -> str:
    """'live' while the run goes on, else how it ended."""
    return "● live" if record.running else record.status


def _pair(term: str, value: str) -> list[Any]:
    return [html.Dt(term), html.Dd(value)]


def counts(record: RunRecord) -> list[Any]:
    """Step counts by status, then hosts by state."""
    steps = _views.status_counts(record)
    hosts = {
        s: record.hosts_in(s)
        for s in ("ok", "changed", "failed", "unreachable", "running", "pending", "not_run")
    }
    return [
        html.Div(
            [html.B("steps "), *(chip(s, n) for s, n in steps.items() if n)],
            className="counts",
            id="step-counts",
        ),
        html.Div(
            [html.B("hosts "), *(chip(s, n) for s, n in hosts.items() if n)],
            className="counts",
            id="host-counts",
        ),
    ]


def failures_block(project: Project, record: RunRecord) -> list[Any]:
    """Each failed or unreachable step: where, rc, reason, stderr tail (the first
    FAILURES_IN_FULL of them; the rest one line each, in one block)."""
    failed = _views.failures(record)
    if not failed:
        return []
    items = [_failure_item(project, record, step) for step in failed[:FAILURES_IN_FULL]]
    rest = failed[FAILURES_IN_FULL:]
    more = [
        html.P(f"… and {len(rest)} more (click one in the grid for its details):"),
        html.Pre("\n".join(_failure_line(step) for step in rest), id="failures-more"),
    ]
    return [
        html.H2(f"Failures ({len(failed)})"),
        html.Ul(items, className="failures"),
        *(more if rest else ()),
    ]


def _failure_item(project: Project, record: RunRecord, step: StepRecord) -> html.Li:
    stderr = _views.step_detail(project.store, record, step, time.time())["logs"]["stderr"]
    return html.Li(
        [
            chip(step.status),
            f" [{step.host}] {_views.step_label(step)}",
            f" (rc={step.rc})" if step.rc is not None else "",
            html.Pre(step.reason) if step.reason else None,
            html.Pre(stderr["tail"], className="stderr") if stderr["tail"] else None,
        ]
    )


def _failure_line(step: StepRecord) -> str:
    rc = f" rc={step.rc}" if step.rc is not None else ""
    return f"{step.status} [{step.host}] {_views.step_label(step)}{rc}"


def fetched_block(record: RunRecord) -> list[Any]:
    """Files fetched in this run, one line per file under its host (one block of text:
    a component per file would cost the browser seconds on hundreds of hosts)."""
    files = _views.fetched_files(record)
    if not files:
        return []
    count = sum(len(paths) for paths in files.values())
    lines = [f"{host}: {path}" for host, paths in files.items() for path in paths]
    return [
        html.H2(f"Fetched files ({count} from {len(files)} hosts)"),
        html.Pre("\n".join(lines), className="fetched"),
    ]


def detail_panel(project: Project, run_id: str, detail: Mapping[str, Any]) -> list[Any]:
    """The clicked step: status, times, command, reason, log tails with download links."""
    rows = [
        *_pair("status", str(detail["status"])),
        *_pair("exit code", "-" if detail["rc"] is None else str(detail["rc"])),
        *_pair("started", detail["started_at"] or "-"),
        *_pair("ended", detail["ended_at"] or "-"),
        *_pair("took", "-" if detail["elapsed"] is None else f"{detail['elapsed']:.2f}s"),
        *_pair("kind", str(detail["kind"])),
    ]
    parts: list[Any] = [
        html.H3(f"{detail['host']}: {detail['label']}", id="detail-title"),
        html.Dl(rows, className="meta"),
    ]
    if detail["command"]:
        parts += [html.H4("command"), html.Pre(detail["command"], id="detail-command")]
    if detail["reason"]:
        parts += [html.H4("reason"), html.Pre(detail["reason"], id="detail-reason")]
    for name in ("stderr", "stdout"):
        log = detail["logs"][name]
        if log["file"] is None:
            continue
        href = f"/logs/{quote(project.key)}/{quote(run_id)}/{quote(log['file'])}"
        parts += [
            html.H4(
                [
                    f"{name} (last lines) ",
                    html.A("download full log", href=href, id=f"detail-{name}-link"),
                ]
            ),
            html.Pre(log["tail"] or "(empty)", id=f"detail-{name}"),
        ]
    if detail["changes"]:
        parts += [html.H4("changed"), html.Ul([html.Li(c) for c in detail["changes"]])]
    return parts


# ---- plan --------------------------------------------------------------------------------

CYTO_STYLE: list[dict[str, Any]] = [
    {
        "selector": "node",
        "style": {
            "label": "data(label)",
            "font-size": 12,
            "text-wrap": "wrap",
            "text-max-width": 196,
            "text-valign": "center",
            "text-halign": "center",
            "width": 204,
            "height": 48,
            "shape": "round-rectangle",
            "background-color": "#eceff1",
            "border-width": 1,
            "border-color": "#90a4ae",
        },
    },
    {
        "selector": ".group",
        "style": {
            "background-color": "#fafafa",
            "border-color": "#cfd8dc",
            "text-valign": "top",
            "font-size": 14,
            "font-weight": "bold",
            "padding": 10,
        },
    },
    {"selector": ".hostnode", "style": {"width": 204, "height": 56, "border-width": 2}},
    {
        "selector": "edge",
        "style": {
            "width": 1.2,
            "curve-style": "bezier",
            "target-arrow-shape": "triangle",
            "line-color": "#90a4ae",
            "target-arrow-color": "#90a4ae",
        },
    },
    {"selector": "edge.order", "style": {"line-style": "dashed"}},
    {"selector": ".would-run", "style": {"background-color": "#64b5f6"}},
    {"selector": ".up-to-date", "style": {"background-color": "#eceff1"}},
    {"selector": ".match", "style": {"border-width": 4, "border-color": "#d81b60"}},
    {"selector": ".dim", "style": {"opacity": 0.25}},
    {"selector": ":selected", "style": {"border-width": 4, "border-color": "#000"}},
] + [
    {"selector": f".{status}", "style": {"background-color": colour}}
    for status, colour in STATUS_COLOURS.items()
]


RUN_LEGEND = ("ok", "changed", "skipped", "failed", "unreachable", "not_run", "running")
DRY_RUN_LEGEND = ("would-run", "up-to-date")


def plan_page(project: Project, source: PlanSource) -> html.Div:
    """A plan graph (a run's, or the dry run's): grouped, coloured, searchable, details on
    click; one node per host above COLLAPSE_ABOVE hosts."""
    plan = source.plan
    hosts = plan_hosts(plan)
    drawn = elements(plan, source.record, PlanView())
    zoom, pan, height = viewport(drawn)
    note = (
        f" · more than {COLLAPSE_ABOVE} hosts: one node per host, click one to expand it"
        if len(hosts) > COLLAPSE_ABOVE
        else ""
    )
    dry = source.dry_run if source.is_dry_run else None
    legend = DRY_RUN_LEGEND if dry is not None else RUN_LEGEND
    return html.Div(
        [
            dcc.Store(id="plan-ref", data={"project": project.key, "source": source.name}),
            dcc.Store(id="plan-expanded", data=[]),
            *(_dry_run_header(project, dry, source) if dry else _run_plan_header(project, source)),
            html.P(
                f"{len(plan.get('nodes', ()))} steps on {len(hosts)} hosts{note}", id="plan-info"
            ),
            html.Div(
                [
                    dcc.RadioItems(
                        id="plan-group",
                        value="host",
                        inline=True,
                        options=[
                            {"label": "group by host", "value": "host"},
                            {"label": "group by play", "value": "play"},
                        ],
                    ),
                    dcc.Input(
                        id="plan-search",
                        type="search",
                        debounce=True,
                        placeholder="search steps (host, role, step…)",
                    ),
                    html.Span([chip(s) for s in legend], className="legend"),
                ],
                className="filters",
            ),
            cyto.Cytoscape(
                id="plan-graph",
                layout={"name": "preset", "fit": False},
                elements=drawn,
                zoom=zoom,
                pan=pan,
                stylesheet=CYTO_STYLE,
                minZoom=0.05,
                maxZoom=3,
                style=graph_box(height),
                className="graph",
            ),
            html.Div(html.P("Click a step for its details."), id="plan-detail", className="detail"),
        ]
    )


def _run_plan_header(project: Project, source: PlanSource) -> list[Any]:
    other = (
        [dcc.Link("what would run next (the dry run)", href=f"/plan/{project.key}/{DRY_RUN}")]
        if source.dry_run is not None
        else []
    )
    return [html.H1(f"Plan of run {source.name}"), html.P(other, id="plan-other")]


def _dry_run_header(project: Project, dry: DryRunRecord, source: PlanSource) -> list[Any]:
    """What the dry run said, who asked when, and whether a run has started since."""
    newest = source.newest_run
    stale = newest is not None and newest.started_at > dry.created_at
    text = (
        f"{dry.would_run} of {len(dry.steps)} steps would run, as `rorunner play --dry-run` "
        f"said at {dry.created_at} ({dry.user}@{dry.controller}: {' '.join(dry.argv[1:])})"
    )
    parts: list[Any] = [
        html.H1("What would run next (dry run)"),
        html.P(text, id="dry-run-summary"),
    ]
    if stale and newest is not None:
        parts.append(
            html.P(
                f"run {newest.run_id} started after this dry run: run --dry-run again "
                "for what would run now",
                id="dry-run-stale",
                className="kind-note",
            )
        )
    if newest is not None and newest.plan:
        link = dcc.Link("the newest run's plan", href=f"/plan/{project.key}/{newest.run_id}")
        parts.append(html.P(link, id="plan-other"))
    return parts


def verdict_panel(node: Mapping[str, Any], verdict: DryRunStep | None) -> list[Any]:
    """A step of the dry run: would it run, and why."""
    label = f"{node.get('host')}: {str(node.get('label', '')).replace(chr(10), ' > ')}"
    if verdict is None:
        return [html.H3(label, id="detail-title"), html.P("not in the dry run's verdicts")]
    rows = [
        *_pair("task", verdict.task),
        *_pair("would run", "yes" if verdict.would_run else "no: up to date"),
    ]
    parts: list[Any] = [html.H3(label, id="detail-title"), html.Dl(rows, className="meta")]
    if verdict.would_run:
        parts += [html.H4("why"), html.Pre(verdict.reason, id="detail-reason")]
    return parts


def graph_box(height: int) -> dict[str, str]:
    """The plan graph's box: the page's width, as tall as the graph needs (capped)."""
    return {"width": "100%", "height": f"{height}px", "border": "1px solid #e0e4e7"}


# ---- hosts -------------------------------------------------------------------------------

HOST_COLUMNS: list[dict[str, Any]] = [
    {"field": "host", "pinned": "left", "width": 150},
    {
        "field": "last_state",
        "headerName": "last state",
        "width": 120,
        "cellClassRules": _CELL_RULES,
    },
    {"field": "last_run", "headerName": "last run", "cellRenderer": "markdown", "width": 250},
    {"field": "last_started", "headerName": "last run started (UTC)", "width": 190},
    {"field": "last_success", "headerName": "last success (UTC)", "width": 180},
    {
        "field": "failure_streak",
        "headerName": "failure streak",
        "width": 140,
        "cellClassRules": {"st-failed": "params.value > 0"},
    },
    {"field": "runs", "headerName": "runs seen", "width": 110},
]


def hosts_page(project: Project, rows: Sequence[Mapping[str, Any]]) -> html.Div:
    """Per host: last run, last success, failure streak; a duration trend for the picked host."""
    first = rows[0]["host"] if rows else None
    return html.Div(
        [
            dcc.Store(id="hosts-ref", data={"project": project.key}),
            html.H1(f"Hosts of {project.key}"),
            html.P(f"{len(rows)} hosts · trends over the newest {_views.TREND_RUNS} runs"),
            dag.AgGrid(
                id="hosts-grid",
                rowData=list(rows),
                columnDefs=HOST_COLUMNS,
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                getRowId="params.data.host",
                dashGridOptions={
                    "animateRows": False,
                    "pagination": len(rows) > 50,
                    "paginationPageSize": 50,
                    "paginationPageSizeSelector": False,
                },
                style={"height": f"{min(520, 90 + 42 * max(1, len(rows)))}px"},
            ),
            dcc.Dropdown(
                id="hosts-pick",
                options=[r["host"] for r in rows],
                value=first,
                clearable=False,
                placeholder="host…",
            ),
            dcc.Graph(id="hosts-trend", config={"displaylogo": False}),
        ]
    )


def message(title: str, text: str) -> html.Div:
    """A page that only says something (not found, no plan...)."""
    return html.Div([html.H1(title), html.P(text, id="message")])
