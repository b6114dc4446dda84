"""Serving the app with werkzeug's threaded server (no banner, no per-request log lines)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dash import Dash
from werkzeug.serving import make_server


def serve(app: Dash, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until interrupted; `on_ready` gets the URL once the socket listens (port 0: any)."""
    quiet = logging.getLogger("werkzeug")
    quiet.setLevel(logging.WARNING)
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())  # werkzeug adds a stderr handler when none is set
    server = make_server(host, port, app.server, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{server.server_port}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
