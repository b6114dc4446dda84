"""The dashboard layer: a read-only Dash app and a static HTML report over run records.

It reads `.rorunner/runs/` only through `rorunner.records` and imports Dash,
dash-ag-grid, dash-cytoscape and plotly (the `dashboard` extra). Nothing below
this layer imports it; the CLI imports it only for `rorunner dashboard` and
`rorunner report`. Dash and plotly load on first use of these names: the page
data modules (`_views`, `_plan`) need neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "report_html", "serve", "write_report"]

if TYPE_CHECKING:
    from rorunner.dashboard._app import create_app
    from rorunner.dashboard._report import report_html, write_report
    from rorunner.dashboard._server import serve

_HOMES = {
    "create_app": "_app",
    "report_html": "_report",
    "write_report": "_report",
    "serve": "_server",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"rorunner.dashboard.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'rorunner.dashboard' has no attribute {name!r}")
