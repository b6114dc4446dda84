"""The Dash app: routing by URL, the callbacks of each page, and the log download route."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flask
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from rorunner.dashboard import _figures, _pages, _views
from rorunner.dashboard._plan import PlanSource, PlanView, elements, plan_source, viewport
from rorunner.dashboard._views import Project, project_keys
from rorunner.records import RecordError, RunRecord

ASSETS = Path(__file__).with_name("assets")


class Dashboard:
    """The projects the app reads and how often live pages poll."""

    def __init__(self, state_dirs: Sequence[Path], refresh: float = 1.0) -> None:
        self.projects = project_keys(state_dirs)
        self.poll_ms = max(200, int(refresh * 1000))

    def project(self, key: str) -> Project | None:
        """The project with URL key `key`."""
        return next((p for p in self.projects if p.key == key), None)

    def run_rows(self, key: str | None = None) -> list[dict[str, Any]]:
        """Rows of the runs table (one project, or all of them), newest first."""
        projects = [p for p in self.projects if key in (None, p.key)]
        rows = [_views.run_row(p, r) for p in projects for r in p.store.summaries()]
        return sorted(rows, key=lambda row: (row["started"], row["run_id"]), reverse=True)

    def signature(self, key: str | None = None) -> list[Any]:
        """Changes when a record is added, removed or rewritten (cheap: stat only)."""
        stamps = []
        for project in (p for p in self.projects if key in (None, p.key)):
            runs = project.store.runs_dir
            for path in sorted(runs.glob("*.json")) if runs.is_dir() else ():
                try:
                    stamps.append([path.name, path.stat().st_mtime_ns])
                except FileNotFoundError:
                    continue
        return stamps

    def plan_source(self, ref: dict[str, str]) -> PlanSource | None:
        """The graph a plan page shows (`ref`: its project and source, as the page stored)."""
        project = self.project(ref["project"])
        return None if project is None else plan_source(project.store, ref["source"])

    def load(self, key: str, run_id: str) -> tuple[Project, RunRecord] | None:
        """The project and full record of a run, None when either is unknown."""
        project = self.project(key)
        if project is None:
            return None
        try:
            return project, project.store.load(run_id)
        except RecordError:
            return None


def create_app(state_dirs: Sequence[Path], refresh: float = 1.0) -> Dash:
    """The read-only dashboard over the run records of `state_dirs`."""
    board = Dashboard(state_dirs, refresh)
    app = Dash(
        __name__,
        assets_folder=str(ASSETS),
        title="rorunner",
        update_title="",  # no "Updating..." title while live pages poll
        suppress_callback_exceptions=True,
        serve_locally=True,
        compress=False,
        add_log_handler=False,
        enable_mcp=False,
    )
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="nav"), html.Main(id="page")])
    _route(app, board)
    _runs_callbacks(app, board)
    _run_callbacks(app, board)
    _plan_callbacks(app, board)
    _hosts_callbacks(app, board)
    _log_route(app.server, board)
    return app


def _route(app: Dash, board: Dashboard) -> None:
    @app.callback(Output("page", "children"), Output("nav", "children"), Input("url", "pathname"))
    def render(pathname: str | None) -> tuple[Any, Any]:
        parts = [p for p in (pathname or "/").split("/") if p]
        key = parts[1] if len(parts) > 1 else None
        return page_for(board, parts), _pages.nav(board.projects, key)


def page_for(board: Dashboard, parts: Sequence[str]) -> Any:
    """The page at URL path `parts` (['run', key, id], ['plan', key], ...)."""
    if not parts or (parts[0] == "runs" and len(parts) == 2 and board.project(parts[1])):
        key = parts[1] if parts else None
        return _pages.runs_page(board.run_rows(key), board.projects, key, board.poll_ms * 2)
    if parts[0] == "run" and len(parts) == 3:
        loaded = board.load(parts[1], parts[2])
        if loaded is None:
            return _pages.message("Run not found", f"no run {parts[2]} in project {parts[1]}")
        return _pages.run_page(*loaded, board.poll_ms, time.time())
    if parts[0] == "plan" and len(parts) in (2, 3):
        return _plan_page(board, parts[1], parts[2] if len(parts) == 3 else None)
    if parts[0] == "hosts" and len(parts) == 2:
        project = board.project(parts[1])
        if project is not None:
            return _pages.hosts_page(project, _views.host_rows(project, project.store.summaries()))
    return _pages.message("Not found", "no such page: " + "/".join(parts))


def _plan_page(board: Dashboard, key: str, name: str | None) -> Any:
    project = board.project(key)
    if project is None:
        return _pages.message("Not found", f"no project {key}")
    source = plan_source(project.store, name)
    if source is None:
        return _pages.message(
            "No plan", "no recorded run of this project saved its plan graph, and no dry run"
        )
    return _pages.plan_page(project, source)


def _runs_callbacks(app: Dash, board: Dashboard) -> None:
    @app.callback(
        Output("runs-grid", "rowData"),
        Output("runs-count", "children"),
        Output("runs-sig", "data"),
        Input("runs-status", "value"),
        Input("runs-playbook", "value"),
        Input("runs-host", "value"),
        Input("runs-poll", "n_intervals"),
        State("runs-sig", "data"),
        State("runs-scope", "data"),
        prevent_initial_call=True,
    )
    def refresh_runs(
        statuses: list[str] | None,
        playbooks: list[str] | None,
        host: str | None,
        _n: int | None,
        previous: Any,
        scope: str | None,
    ) -> tuple[Any, Any, Any]:
        signature = board.signature(scope)
        if ctx.triggered_id == "runs-poll" and signature == previous:
            return no_update, no_update, no_update
        rows = _views.filter_rows(board.run_rows(scope), statuses, playbooks, host)
        return rows, f"{len(rows)} runs", signature


def _run_callbacks(app: Dash, board: Dashboard) -> None:
    @app.callback(
        Output("run-header", "children"),
        Output("run-counts", "children"),
        Output("run-grid", "rowData"),
        Output("run-timeline", "figure"),
        Output("run-failures", "children"),
        Output("run-fetched", "children"),
        Output("run-poll", "disabled"),
        Input("run-poll", "n_intervals"),
        State("timeline-page", "value"),
        State("run-ref", "data"),
        prevent_initial_call=True,
    )
    def follow(_n: int | None, page: int | None, ref: dict[str, str]) -> tuple[Any, ...]:
        loaded = board.load(ref["project"], ref["run_id"])
        if loaded is None:
            return (no_update,) * 6 + (True,)
        project, record = loaded
        now = time.time()
        columns = _views.grid_columns(record)
        return (
            _pages.run_header(project, record),
            _pages.counts(record),
            _views.grid_rows(record, columns, now),
            _pages.timeline_figure(record, now, page or 0),
            _pages.failures_block(project, record),
            _pages.fetched_block(record),
            not record.running,
        )

    @app.callback(
        Output("run-timeline", "figure", allow_duplicate=True),
        Input("timeline-page", "value"),
        State("run-ref", "data"),
        prevent_initial_call=True,
    )
    def turn_page(page: int | None, ref: dict[str, str]) -> Any:
        loaded = board.load(ref["project"], ref["run_id"])
        if loaded is None:
            return no_update
        return _pages.timeline_figure(loaded[1], time.time(), page or 0)

    @app.callback(
        Output("step-detail", "children"),
        Input("run-grid", "cellClicked"),
        Input("run-timeline", "clickData"),
        State("run-ref", "data"),
        prevent_initial_call=True,
    )
    def show_step(
        cell: dict[str, Any] | None, click: dict[str, Any] | None, ref: dict[str, str]
    ) -> Any:
        loaded = board.load(ref["project"], ref["run_id"])
        if loaded is None:
            return no_update
        project, record = loaded
        step = _clicked_step(record, cell if ctx.triggered_id == "run-grid" else None, click)
        if step is None:
            return html.P("That cell is not a step: click a step's status.")
        detail = _views.step_detail(project.store, record, step, time.time())
        return _pages.detail_panel(project, record.run_id, detail)


def _clicked_step(
    record: RunRecord, cell: dict[str, Any] | None, click: dict[str, Any] | None
) -> Any:
    if cell is not None:
        columns = {c.field: c for c in _views.grid_columns(record)}
        column = columns.get(str(cell.get("colId")))
        return None if column is None else _views.find_step(record, str(cell.get("rowId")), column)
    points = (click or {}).get("points") or []
    task = points[0].get("customdata") if points else None
    return _views.step_by_task(record, str(task)) if task else None


def _plan_callbacks(app: Dash, board: Dashboard) -> None:
    @app.callback(
        Output("plan-graph", "elements"),
        Output("plan-graph", "style"),
        Input("plan-group", "value"),
        Input("plan-search", "value"),
        Input("plan-expanded", "data"),
        State("plan-ref", "data"),
        prevent_initial_call=True,
    )
    def redraw(
        group: str, search: str | None, expanded: list[str], ref: dict[str, str]
    ) -> tuple[Any, Any]:
        source = board.plan_source(ref)
        if source is None:
            return no_update, no_update
        view = PlanView(group or "host", frozenset(expanded or ()), search or "")
        drawn = elements(source.plan, source.record, view)
        return drawn, _pages.graph_box(viewport(drawn)[2])

    @app.callback(
        Output("plan-detail", "children"),
        Output("plan-expanded", "data"),
        Input("plan-graph", "tapNodeData"),
        State("plan-expanded", "data"),
        State("plan-ref", "data"),
        prevent_initial_call=True,
    )
    def tap(
        node: dict[str, Any] | None, expanded: list[str], ref: dict[str, str]
    ) -> tuple[Any, Any]:
        if not node or str(node.get("id", "")).startswith("group:"):
            return no_update, no_update
        if str(node["id"]).startswith("host:"):
            host = str(node["host"])
            opened = sorted({*expanded, host})
            text = f"{host}: {node['steps']} steps, worst status {node['status']} (expanded)"
            return html.P(text, id="detail-title"), opened
        return _plan_detail(board, ref, str(node["id"]), node), no_update


def _plan_detail(board: Dashboard, ref: dict[str, str], task: str, node: dict[str, Any]) -> Any:
    source = board.plan_source(ref)
    if source is not None and source.is_dry_run and source.dry_run is not None:
        return _pages.verdict_panel(node, source.dry_run.step(task))
    loaded = board.load(ref["project"], ref["source"])
    step = _views.step_by_task(loaded[1], task) if loaded else None
    if loaded is None or step is None:
        return [html.H3(task, id="detail-title"), html.P(f"status: {node.get('status')}")]
    project, record = loaded
    detail = _views.step_detail(project.store, record, step, time.time())
    return _pages.detail_panel(project, record.run_id, detail)


def _hosts_callbacks(app: Dash, board: Dashboard) -> None:
    @app.callback(
        Output("hosts-pick", "value"),
        Input("hosts-grid", "cellClicked"),
        prevent_initial_call=True,
    )
    def pick(cell: dict[str, Any] | None) -> Any:
        return (cell or {}).get("rowId") or no_update

    @app.callback(
        Output("hosts-trend", "figure"),
        Input("hosts-pick", "value"),
        State("hosts-ref", "data"),
    )
    def trend(host: str | None, ref: dict[str, str]) -> Any:
        project = board.project(ref["project"])
        if project is None or not host:
            return _figures.trend({}, "")
        records = []
        for summary in project.store.summaries()[: _views.TREND_RUNS]:
            try:
                records.append(project.store.load(summary.run_id))
            except RecordError:
                continue
        return _figures.trend(_views.duration_trend(records, host), host)


def _log_route(server: flask.Flask, board: Dashboard) -> None:
    @server.route("/logs/<key>/<run_id>/<name>")
    def download_log(key: str, run_id: str, name: str) -> flask.Response:
        project = board.project(key)
        if project is None:
            flask.abort(404)
        path = project.store.log_file(run_id, str(project.store.state_dir / "logs" / run_id / name))
        if path is None:
            flask.abort(404)
        return flask.send_file(path, mimetype="text/plain", as_attachment=True, download_name=name)
