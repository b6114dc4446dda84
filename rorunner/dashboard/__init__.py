"""The dashboard layer: a read-only Dash app and a static HTML report over run records.

It reads `.rorunner/runs/` only through `rorunner.records` and imports Dash,
dash-ag-grid, dash-cytoscape and plotly (the `dashboard` extra). Nothing below
this layer imports it; the CLI imports it only for `rorunner dashboard` and
`rorunner report`.
"""

from __future__ import annotations

from rorunner.dashboard._app import create_app
from rorunner.dashboard._report import report_html, write_report
from rorunner.dashboard._server import serve

__all__ = ["create_app", "report_html", "serve", "write_report"]
