"""plotly figures shared by the dashboard and the static report: timeline and duration trend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from rorunner.dashboard._views import STATUS_COLOURS, Bar

ROW_HEIGHT = 22  # pixels per host row on the timeline
MAX_HEIGHT = 2000


def _time(epoch: float) -> float:
    # milliseconds since the epoch: a date axis takes numbers as they are, while date
    # strings are parsed one by one in the browser (seconds for thousands of steps)
    return round(epoch * 1000.0, 3)


def timeline(bars: Sequence[Bar], hosts: Sequence[str]) -> go.Figure:
    """A Gantt chart: one horizontal bar per step, a row per host, coloured by status."""
    figure = go.Figure()
    _bars(figure, bars)
    _timeline_layout(figure, hosts)
    return figure


def _bars(figure: go.Figure, bars: Sequence[Bar]) -> None:
    for status in STATUS_COLOURS:
        own = [b for b in bars if b.status == status]
        if not own:
            continue
        figure.add_trace(
            go.Bar(
                name=status,
                orientation="h",
                y=[b.host for b in own],
                base=[_time(b.start) for b in own],
                x=[max(1.0, (b.end - b.start) * 1000.0) for b in own],
                customdata=[b.task for b in own],
                hovertext=[f"{b.label} · {status} · {b.end - b.start:.2f}s" for b in own],
                hoverinfo="text+y",
                marker={"color": STATUS_COLOURS[status], "line": {"width": 0.5, "color": "#fff"}},
            )
        )


def _timeline_layout(figure: go.Figure, hosts: Sequence[str]) -> None:
    figure.update_layout(
        barmode="overlay",
        height=min(MAX_HEIGHT, 140 + ROW_HEIGHT * max(1, len(hosts))),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"},
        xaxis={"type": "date", "title": "time (UTC)"},
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(hosts)),
            "automargin": True,
        },
        plot_bgcolor="#ffffff",
    )


def trend(series: Mapping[str, Sequence[tuple[str, float]]], host: str) -> go.Figure:
    """Duration of each of `host`'s steps across runs (one line per step)."""
    figure = go.Figure()
    for label, points in sorted(series.items()):
        figure.add_trace(
            go.Scatter(
                name=label,
                mode="lines+markers",
                x=[p[0].replace("T", " ").rstrip("Z") for p in points],
                y=[p[1] for p in points],
            )
        )
    figure.update_layout(
        title={"text": f"step durations on {host} across runs" if host else "pick a host"},
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        xaxis={"type": "date", "title": "run start (UTC)"},
        yaxis={"title": "seconds", "rangemode": "tozero", "automargin": True},
        legend={"font": {"size": 10}},
        plot_bgcolor="#ffffff",
    )
    return figure
