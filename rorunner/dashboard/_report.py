"""`rorunner report`: one self-contained HTML file (plotly inlined, no network) for a run."""

from __future__ import annotations

import time
from html import escape
from pathlib import Path

from rorunner.dashboard import _figures, _views
from rorunner.dashboard._views import STATUS_COLOURS
from rorunner.records import RunRecord, RunStore


def _text_colour(status: str) -> str:
    return "#fff" if status in _views.DARK else "#263238"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#263238}"
    "table{border-collapse:collapse;font-size:12px}"
    "td,th{border:1px solid #e0e0e0;padding:3px 6px;text-align:left;white-space:nowrap}"
    "pre{background:#f5f5f5;padding:8px;white-space:pre-wrap;max-width:100%}"
    ".chip{display:inline-block;border-radius:10px;padding:2px 10px;margin:2px;font-size:13px}"
    "dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}dt{font-weight:bold}"
    + "".join(
        f".st-{status}{{background:{colour};color:{_text_colour(status)}}}"
        for status, colour in STATUS_COLOURS.items()
    )
)


def report_html(store: RunStore, record: RunRecord) -> str:
    """The report of `record`: header, counts, host x step grid, timeline, failures."""
    now = time.time()
    # the report draws every host: it is read at leisure, not reloaded
    figure = _figures.timeline(_views.timeline_bars(record, now), [h.host for h in record.hosts])
    timeline = figure.to_html(
        full_html=False,
        include_plotlyjs=True,
        div_id="timeline",
        config={"displaylogo": False, "responsive": True},
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rorunner run {escape(record.run_id)}</title><style>{_CSS}</style></head><body>",
        *_header(record),
        *_counts(record),
        "<h2>Hosts x steps</h2>",
        *_grid(record),
        "<h2>Timeline</h2>",
        timeline,
        *_failures(store, record),
        *_fetched(record),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(store: RunStore, record: RunRecord, path: Path) -> None:
    """Write the report to `path` (whole or not at all)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(report_html(store, record), encoding="utf-8")
    tmp.replace(path)


def _header(record: RunRecord) -> list[str]:
    exit_code = "" if record.exit_code is None else f" · exit {record.exit_code}"
    took = "" if record.duration is None else f" · {record.duration:.1f}s"
    kind = _views.run_kind(record)
    meta = [
        ("kind", _views.RUN_KINDS[kind] if kind != "play" else kind),
        ("playbook", record.playbook or "-"),
        ("command", " ".join(record.argv) or "-"),
        ("by", f"{record.user}@{record.controller} (rorunner {record.rorunner_version})"),
        ("started", record.started_at),
        ("ended", record.ended_at or "-"),
    ]
    plays = [
        f"<li>{escape(p.id)} {escape(p.name)}: {len(p.hosts)} hosts"
        + (f" — stopped: {escape(p.stop_reason)}" if p.stop_reason else "")
        + "</li>"
        for p in record.plays
    ]
    return [
        f"<h1>Run {escape(record.run_id)}</h1>",
        f'<p id="run-status">{escape(record.status)}{exit_code}{took}</p>',
        '<dl class="meta">',
        *(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in meta),
        "</dl>",
        f"<ul>{''.join(plays)}</ul>",
    ]


def _chips(counts: dict[str, int]) -> str:
    return "".join(
        f'<span class="chip st-{s}" data-status="{s}" data-count="{n}">{s} {n}</span>'
        for s, n in counts.items()
        if n
    )


def _counts(record: RunRecord) -> list[str]:
    hosts = {s: record.hosts_in(s) for s in ("ok", "changed", "failed", "unreachable", "not_run")}
    return [
        f'<p id="step-counts"><b>steps </b>{_chips(_views.status_counts(record))}</p>',
        f'<p id="host-counts"><b>hosts </b>{_chips(hosts)}</p>',
    ]


def _grid(record: RunRecord) -> list[str]:
    columns = _views.grid_columns(record)
    rows = _views.grid_rows(record, columns, time.time())
    head = "".join(f"<th>{escape(c.play)}<br>{escape(c.label)}</th>" for c in columns)
    lines = [f'<table id="grid"><thead><tr><th>host</th><th>state</th>{head}</tr></thead><tbody>']
    for row in rows:
        cells = "".join(
            f'<td class="st-{escape(str(row.get(f"{c.field}_s", "")))}">'
            f"{escape(str(row.get(c.field, '')))}</td>"
            for c in columns
        )
        state = escape(str(row["state"]))
        lines.append(
            f'<tr data-host="{escape(row["host"])}"><th>{escape(row["host"])}</th>'
            f'<td class="st-{state}">{state}</td>{cells}</tr>'
        )
    lines.append("</tbody></table>")
    return lines


def _failures(store: RunStore, record: RunRecord) -> list[str]:
    failed = _views.failures(record)
    if not failed:
        return []
    lines = [f"<h2>Failures ({len(failed)})</h2>", '<ul id="failures">']
    for step in failed:
        detail = _views.step_detail(store, record, step, time.time())
        rc = "" if step.rc is None else f" (rc={step.rc})"
        tail = detail["logs"]["stderr"]["tail"] or detail["logs"]["stdout"]["tail"]
        lines.append(
            f'<li><span class="chip st-{step.status}">{step.status}</span> '
            f"[{escape(step.host)}] {escape(_views.step_label(step))}{rc}"
            + (f"<pre>{escape(step.reason)}</pre>" if step.reason else "")
            + (f'<pre class="stderr">{escape(tail)}</pre>' if tail else "")
            + "</li>"
        )
    lines.append("</ul>")
    return lines


def _fetched(record: RunRecord) -> list[str]:
    files = _views.fetched_files(record)
    if not files:
        return []
    items = "".join(
        f"<li><b>{escape(host)}</b><ul>{''.join(f'<li>{escape(p)}</li>' for p in paths)}</ul></li>"
        for host, paths in files.items()
    )
    return ["<h2>Fetched files</h2>", f"<ul>{items}</ul>"]
