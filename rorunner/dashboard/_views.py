"""What each page shows, as plain data built from run records (no Dash, no plotly here)."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rorunner.model import CONTROLLER
from rorunner.outcome import STATUSES
from rorunner.records import (
    RunRecord,
    RunStore,
    StepRecord,
    parse_utc,
    tail_text,
)

STATUS_COLOURS = {
    "ok": "#43a047",
    "changed": "#f9a825",
    "skipped": "#90a4ae",
    "failed": "#e53935",
    "unreachable": "#8e24aa",
    "not_run": "#d7dbde",
    "running": "#1e88e5",
    "pending": "#f5f7f8",
}
DARK = ("ok", "failed", "unreachable", "running")  # statuses drawn with white text
GRID_STATUSES = STATUSES
HOST_STATE_ORDER = ("unreachable", "failed", "running", "pending", "changed", "ok", "not_run")
TIMELINE_HOSTS = 25  # hosts per timeline page (each bar is an SVG element: keep pages light)
TREND_RUNS = 50  # the hosts page draws duration trends over this many newest runs


@dataclass(frozen=True)
class Project:
    """One `.rorunner/` the dashboard reads, under a short key used in URLs."""

    key: str
    store: RunStore

    @property
    def label(self) -> str:
        """The project dir the state dir belongs to."""
        return str(self.store.state_dir.parent)


def project_keys(state_dirs: Sequence[Path]) -> list[Project]:
    """Projects keyed by their directory's name; where two share one, by their parent's
    name and theirs (site-playbooks), then numbered."""
    dirs = [state.resolve() for state in state_dirs]
    names = [_slug(d.parent.name) or "project" for d in dirs]
    keys: list[str] = []
    for state, name in zip(dirs, names, strict=True):
        key = name if names.count(name) == 1 else _slug(f"{state.parent.parent.name}-{name}")
        base, number = key, 1
        while key in keys:
            number += 1
            key = f"{base}-{number}"
        keys.append(key)
    return [Project(key, RunStore(state)) for key, state in zip(keys, dirs, strict=True)]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-.")


def step_label(step: StepRecord) -> str:
    """play > role > phase > step: the same step across hosts."""
    return f"{step.play} > {step.role} > {step.phase} > {step.step}"


def elapsed(step: StepRecord, now: float | None = None) -> float | None:
    """Seconds the step took, or has been running for."""
    if step.duration is not None:
        return step.duration
    if step.status == "running" and step.started_at:
        return max(0.0, (now or time.time()) - parse_utc(step.started_at))
    return None


# ---- runs table --------------------------------------------------------------------------


def run_row(project: Project, record: RunRecord) -> dict[str, Any]:
    """One row of the runs table."""
    return {
        "run_id": record.run_id,
        "link": f"[{record.run_id}](/run/{project.key}/{record.run_id})",
        "project": project.key,
        "started": record.started_at.replace("T", " ")[:19],
        "playbook": _short_playbook(record),
        "kind": run_kind(record),
        "user": record.user,
        "command": " ".join(record.argv[1:]) if record.argv else "",
        "duration": None if record.duration is None else round(record.duration, 1),
        "status": record.status,
        "exit_code": record.exit_code,
        "hosts_ok": record.hosts_in("ok"),
        "hosts_changed": record.hosts_in("changed"),
        "hosts_failed": record.hosts_in("failed"),
        "hosts_unreachable": record.hosts_in("unreachable"),
        "hosts": " ".join(h.host for h in record.hosts),
    }


RUN_KINDS = {  # what the run page says of each kind
    "play": "a playbook run",
    "check": "a check run (--check): nothing was changed on the hosts; "
    "'changed' means would change",
    "ad hoc": "an ad hoc command (rorunner run): no playbook, no plan graph",
}


def run_kind(record: RunRecord) -> str:
    """What made the run: 'play', 'check' (play --check) or 'ad hoc' (rorunner run)."""
    if record.command == "run":
        return "ad hoc"
    return "check" if record.options.get("check") else "play"


def _short_playbook(record: RunRecord) -> str:
    if not record.playbook:
        return "-"
    path = Path(record.playbook)
    try:
        return str(path.relative_to(Path(record.project_dir).parent))
    except ValueError:
        return path.name


def filter_rows(
    rows: Iterable[Mapping[str, Any]],
    statuses: Sequence[str] | None,
    playbooks: Sequence[str] | None,
    host: str | None,
) -> list[dict[str, Any]]:
    """Rows whose status and playbook are among those chosen and which ran on `host`."""
    wanted_host = (host or "").strip()
    return [
        dict(row)
        for row in rows
        if (not statuses or _run_outcome(row) in statuses)
        and (not playbooks or row["playbook"] in playbooks)
        and (not wanted_host or wanted_host in row["hosts"].split())
    ]


def _run_outcome(row: Mapping[str, Any]) -> str:
    """running / interrupted / failed (exit code not 0) / ok."""
    if row["status"] != "finished":
        return str(row["status"])
    return "ok" if row["exit_code"] == 0 else "failed"


RUN_OUTCOMES = ("ok", "failed", "running", "interrupted")


# ---- one run: grid, timeline, details --------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One grid column: a step that hosts share (play, role, phase, step)."""

    field: str
    label: str
    play: str
    role: str
    phase: str
    step: str


def grid_columns(record: RunRecord) -> list[Column]:
    """The steps of the run in plan order, one column per (play, role, phase, step)."""
    keys: dict[tuple[str, str, str, str], None] = {}
    for step in record.steps:
        keys.setdefault((step.play, step.role, step.phase, step.step), None)
    return [
        Column(f"c{index}", f"{role} > {phase} > {name}", play, role, phase, name)
        for index, (play, role, phase, name) in enumerate(keys)
    ]


def grid_rows(record: RunRecord, columns: Sequence[Column], now: float) -> list[dict[str, Any]]:
    """One row per host: its state and, per column, what the cell says (a running step with
    its elapsed time) and, under `<field>_s`, the status that colours it."""
    field = {(c.play, c.role, c.phase, c.step): c.field for c in columns}
    rows: dict[str, dict[str, Any]] = {
        h.host: {"host": h.host, "state": h.state} for h in record.hosts
    }
    for step in record.steps:
        row = rows.setdefault(step.host, {"host": step.host, "state": "pending"})
        name = field[(step.play, step.role, step.phase, step.step)]
        value: str = step.status
        if step.status == "running":
            value = f"running {elapsed(step, now) or 0:.1f}s"
        row[name] = value
        row[f"{name}_s"] = step.status
    return list(rows.values())


def find_step(record: RunRecord, host: str, column: Column) -> StepRecord | None:
    """The step of `host` in grid column `column`."""
    for step in record.steps:
        if (step.host, step.play, step.role, step.phase, step.step) == (
            host,
            column.play,
            column.role,
            column.phase,
            column.step,
        ):
            return step
    return None


@dataclass(frozen=True)
class Bar:
    """A timeline bar: one executed (or running) step."""

    task: str
    host: str
    label: str
    status: str
    start: float
    end: float


def timeline_hosts(record: RunRecord, page: int = 0) -> list[str]:
    """The hosts on timeline page `page` (TIMELINE_HOSTS per page, in record order)."""
    hosts = [h.host for h in record.hosts]
    return hosts[page * TIMELINE_HOSTS : (page + 1) * TIMELINE_HOSTS]


def timeline_pages(record: RunRecord) -> list[tuple[int, str]]:
    """(page, 'hosts 1-25 of 500') for each timeline page."""
    count = len(record.hosts)
    return [
        (page, f"hosts {start + 1}-{min(start + TIMELINE_HOSTS, count)} of {count}")
        for page, start in enumerate(range(0, max(count, 1), TIMELINE_HOSTS))
    ]


def timeline_bars(record: RunRecord, now: float, hosts: Collection[str] | None = None) -> list[Bar]:
    """One bar per executed step and per running step (of `hosts`), from the recorded times."""
    bars = []
    for step in record.steps:
        if hosts is not None and step.host not in hosts:
            continue
        if not step.started_at or not (step.executed or step.status == "running"):
            continue
        start = parse_utc(step.started_at)
        end = parse_utc(step.ended_at) if step.ended_at else max(start, now)
        bars.append(Bar(step.task, step.host, step_label(step), step.status, start, end))
    return bars


def step_by_task(record: RunRecord, task: str) -> StepRecord | None:
    """The step with plan id `task`."""
    return next((s for s in record.steps if s.task == task), None)


def step_detail(store: RunStore, record: RunRecord, step: StepRecord, now: float) -> dict[str, Any]:
    """Everything the details panel shows about one step (log tails included)."""
    logs = {}
    for name, path in (("stdout", step.stdout), ("stderr", step.stderr)):
        log = store.log_file(record.run_id, path)
        logs[name] = {
            "tail": tail_text(log) if log is not None else "",
            "file": log.name if log is not None else None,
        }
    took = elapsed(step, now)
    return {
        "task": step.task,
        "host": step.host,
        "label": step_label(step),
        "kind": step.kind,
        "status": step.status,
        "rc": step.rc,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
        "elapsed": None if took is None else round(took, 3),
        "command": step.command,
        "reason": step.reason,
        "changes": [f"{c.action}: {c.src} -> {c.dest}" for c in step.changes],
        "logs": logs,
    }


def failures(record: RunRecord) -> list[StepRecord]:
    """Failed and unreachable steps, in plan order."""
    return [s for s in record.steps if s.status in ("failed", "unreachable")]


def fetched_files(record: RunRecord) -> dict[str, list[str]]:
    """Per host, the local paths its fetch steps wrote in this run."""
    files: dict[str, list[str]] = {}
    for step in record.steps:
        for change in step.changes:
            if change.action == "fetch":
                files.setdefault(step.host, []).append(change.dest)
    return files


def status_counts(record: RunRecord) -> dict[str, int]:
    """Steps per status (every status, zeros included)."""
    return {
        status: record.totals.get(status, 0) for status in (*GRID_STATUSES, "running", "pending")
    }


# ---- hosts ---------------------------------------------------------------------------------


def host_rows(project: Project, summaries: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """Per host seen in `summaries` (newest first): last run, last success, failure streak;
    by name, the controller last."""
    rows: dict[str, dict[str, Any]] = {}
    streak_open: dict[str, bool] = {}
    for record in summaries:
        for host in record.hosts:
            row = rows.get(host.host)
            if row is None:
                row = rows[host.host] = _new_host_row(project, record, host.host, host.state)
                streak_open[host.host] = True
            row["runs"] += 1
            _fold_host_state(row, streak_open, record, host.host, host.state)
    # the controller (a play's local_before/local_after) after the inventory's hosts
    return sorted(rows.values(), key=lambda r: (r["host"] == CONTROLLER, r["host"]))


def _new_host_row(project: Project, record: RunRecord, host: str, state: str) -> dict[str, Any]:
    return {
        "host": host,
        "last_run": f"[{record.run_id}](/run/{project.key}/{record.run_id})",
        "last_run_id": record.run_id,
        "last_started": record.started_at.replace("T", " ")[:19],
        "last_state": state,
        "last_success": None,
        "failure_streak": 0,
        "runs": 0,
    }


def _fold_host_state(
    row: dict[str, Any], streak_open: dict[str, bool], record: RunRecord, host: str, state: str
) -> None:
    if state in ("ok", "changed") and row["last_success"] is None:
        row["last_success"] = record.started_at.replace("T", " ")[:19]
    if not streak_open[host] or state in ("pending", "running"):
        return
    if state in ("failed", "unreachable"):
        row["failure_streak"] += 1
    else:
        streak_open[host] = False


def duration_trend(records: Sequence[RunRecord], host: str) -> dict[str, list[tuple[str, float]]]:
    """Per step label, (run start, duration) of `host`'s executed steps, oldest first."""
    series: dict[str, list[tuple[str, float]]] = {}
    for record in sorted(records, key=lambda r: r.started_at):
        for step in record.steps:
            if step.host == host and step.executed and step.duration is not None:
                series.setdefault(step_label(step), []).append((record.started_at, step.duration))
    return series
