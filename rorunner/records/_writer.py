"""Writing a run record during the run: atomic replaces, throttled, thread-safe."""

from __future__ import annotations

import getpass
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rorunner import __version__
from rorunner.outcome import CUT_SHORT
from rorunner.records._mask import mask_argv
from rorunner.records._model import (
    SCHEMA_VERSION,
    STEP_STATUSES,
    PlayRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    host_record,
    utc_iso,
)

DEFAULT_MIN_INTERVAL = 0.25  # seconds between two rewrites of a record during a run
WRITE_SHARE = 0.2  # a big record is rewritten less often: writing takes at most this share
Clock = Callable[[], float]
_RUN_SEQUENCE = itertools.count(1)  # one per process: play and run never share an id


@dataclass(frozen=True)
class Invocation:
    """What the command line asked for: recorded with the run (argv is masked when written)."""

    playbook: str | None = None
    inventory: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    command: str = "play"


@dataclass(frozen=True)
class RunMeta:
    """What the caller knows about a run before it starts (argv is masked when written)."""

    run_id: str
    project_dir: str
    playbook: str | None = None
    inventory: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    command: str = "play"
    plan: str | None = None  # file name of the plan graph JSON written beside the record

    @classmethod
    def of(
        cls, invocation: Invocation, run_id: str, project_dir: str, plan: str | None = None
    ) -> RunMeta:
        """The meta of a run that `invocation` asked for."""
        return cls(
            run_id=run_id,
            project_dir=project_dir,
            playbook=invocation.playbook,
            inventory=invocation.inventory,
            argv=invocation.argv,
            options=invocation.options,
            command=invocation.command,
            plan=plan,
        )


def new_run_id() -> str:
    """A fresh run id: `<UTC now %Y%m%dT%H%M%S>-<pid>-<n>`, n counting this process's runs."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{stamp}-{os.getpid()}-{next(_RUN_SEQUENCE)}"


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
    except FileNotFoundError:  # the first write: the directory is made once, not per write
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class RecordWriter:
    """Keeps one run's record and rewrites `path` at most every `min_interval` seconds.

    Updates come from any thread and only change the record in memory: a timer
    thread writes it, at once when the last write is older than the interval,
    else when the interval has passed, so a reader is never more than about
    `min_interval` behind and the steps' threads never wait for a write.
    `start` and `finish` write at once; with `min_interval` 0 every update does.
    """

    def __init__(
        self,
        path: Path,
        meta: RunMeta,
        plays: Sequence[PlayRecord],
        steps: Sequence[StepRecord],
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        clock: Clock = time.time,
        mask: Callable[[str], str] | None = None,
    ) -> None:
        self.path = path
        self.writes = 0
        self._interval = min_interval
        self._clock = clock
        self._mask = mask or (lambda text: text)
        self._lock = threading.Lock()  # the record in memory
        self._write_lock = threading.Lock()  # the file: one write at a time, newest last
        self._timer: threading.Timer | None = None
        self._last_write = float("-inf")
        self._version = 0  # bumped by every snapshot taken for writing
        self._written = 0
        self.write_seconds = 0.0  # time spent writing the record so far
        self._cost = 0.0  # seconds the last write took
        self._started = clock()
        self._doc = _initial(meta, plays, self._started)
        self._planned = {s.task: s.changes for s in steps}
        self._steps = {s.task: _pending(s) for s in steps}
        self._texts: dict[str, str] = {}  # each step's JSON text, until the step changes
        # each host's JSON with the statuses it was made of (most are unchanged at a write)
        self._host_json: dict[str, tuple[tuple[StepStatus, ...], dict[str, Any]]] = {}
        self._starts: dict[str, float] = {}
        # What the record's head counts, kept as steps change (a write reads no unchanged
        # step): each host's steps, the hosts with a step changed since, the totals.
        self._host_steps: dict[str, list[dict[str, Any]]] = {h: [] for h in self._hosts()}
        for step in self._steps.values():
            self._host_steps[step["host"]].append(step)
        self._dirty = set(self._host_steps)
        self._totals = dict.fromkeys(STEP_STATUSES, 0)
        for step in self._steps.values():
            self._totals[step["status"]] += 1

    def start(self) -> None:
        """Write the record of a run that has just started (every step pending)."""
        self._flush()

    def step_started(self, task: str, at: float | None = None) -> None:
        """`task` started now (or at `at`, seconds since the epoch)."""
        with self._lock:
            start = self._now(at)
            self._starts[task] = start
            self._status(task, "running")
            self._steps[task].update(started_at=utc_iso(start), ended_at=None)
            self._texts.pop(task, None)
        self._changed()

    def step_finished(
        self,
        task: str,
        status: StepStatus,
        *,
        rc: int | None = None,
        reason: str = "",
        stdout: str | None = None,
        stderr: str | None = None,
        at: float | None = None,
    ) -> None:
        """`task` ended with `status`; a step that never started gets start = end."""
        with self._lock:
            self._set_finished(task, status, rc, self._mask(reason), (stdout, stderr), at)
        self._changed()

    def all_skipped(self, reason: str) -> None:
        """Every step up to date as of now, in one update (a run with nothing to do)."""
        with self._lock:
            for task in self._steps:
                self._set_finished(task, "skipped", None, reason, (None, None), None)

    def play_stopped(self, play: str, reason: str) -> None:
        """`play` stopped starting steps (serial batch failed, max_fail_percentage...)."""
        with self._lock:
            for entry in self._doc["plays"]:
                if entry["id"] == play and not entry["stop_reason"]:
                    entry["stop_reason"] = self._mask(reason)
        self._changed()

    def finish(self, *, exit_code: int | None, interrupted: bool = False) -> RunRecord:
        """End the run: steps still pending or running become not_run; write now."""
        return RunRecord.from_json(self.end(exit_code=exit_code, interrupted=interrupted))

    def end(self, *, exit_code: int | None, interrupted: bool = False) -> dict[str, Any]:
        """`finish`, returning the record as JSON data, as written (not parsed back)."""
        with self._lock:
            why = "interrupted" if interrupted else "not started"
            for task, step in self._steps.items():
                if step["status"] in ("pending", "running"):
                    cut = step["status"] == "running"  # it runs again on the next run
                    reason = CUT_SHORT if cut else why
                    self._set_finished(task, "not_run", None, reason, (None, None), None)
            end = self._clock()
            status: RunStatus = "interrupted" if interrupted else "finished"
            self._doc.update(
                status=status,
                ended_at=utc_iso(end),
                duration=round(end - self._started, 3),
                exit_code=exit_code,
            )
            self._cancel_timer()
        doc = self._flush(whole=True)
        assert doc is not None
        return doc

    def close(self) -> None:
        """Write any pending update now and stop the timer (idempotent)."""
        with self._lock:
            self._cancel_timer()
        self._flush()

    def snapshot(self) -> dict[str, Any]:
        """The record as JSON data, as it would be written now."""
        with self._lock:
            return self._snapshot()

    def _set_finished(
        self,
        task: str,
        status: StepStatus,
        rc: int | None,
        reason: str,
        logs: tuple[str | None, str | None],
        at: float | None,
    ) -> None:
        end = self._now(at)
        start = self._starts.get(task, None if status == "not_run" else end)
        ok = status in ("ok", "changed")
        self._texts.pop(task, None)
        self._status(task, status)
        self._steps[task].update(
            rc=rc,
            reason=reason,
            stdout=logs[0],
            stderr=logs[1],
            started_at=None if start is None else utc_iso(start),
            ended_at=None if start is None else utc_iso(end),
            duration=None if start is None else round(max(0.0, end - start), 3),
            changes=[c.as_json() for c in self._planned[task]] if ok else [],
        )

    def _snapshot(self) -> dict[str, Any]:
        return {**self._head(), "steps": [dict(s) for s in self._steps.values()]}

    def _status(self, task: str, status: StepStatus) -> None:
        """Set a step's status, counted in the totals, its host's JSON to be made again."""
        step = self._steps[task]
        self._totals[step["status"]] -= 1
        self._totals[status] += 1
        step["status"] = status
        self._dirty.add(step["host"])

    def _head(self) -> dict[str, Any]:
        """The record but its steps."""
        for host in self._dirty:
            statuses = tuple(step["status"] for step in self._host_steps[host])
            known = self._host_json.get(host)
            if known is None or known[0] != statuses:
                self._host_json[host] = (statuses, host_record(host, statuses).as_json())
        self._dirty.clear()
        return {
            **self._doc,
            "plays": [dict(p) for p in self._doc["plays"]],
            "updated_at": utc_iso(self._clock()),
            "hosts": {h: dict(self._host_json[h][1]) for h in self._host_steps},
            "totals": dict(self._totals),
        }

    def _step_texts(self) -> list[str]:
        """Every step's JSON text; only the steps that changed since the last write are
        encoded again (a big record's steps are most of its text, and few change at once)."""
        texts = self._texts
        out = []
        for task, step in self._steps.items():
            text = texts.get(task)
            if text is None:
                text = texts[task] = json.dumps(step, sort_keys=True)
            out.append(text)
        return out

    def _hosts(self) -> list[str]:
        hosts = [h for play in self._doc["plays"] for h in play["hosts"]]
        return list(dict.fromkeys([*hosts, *(s["host"] for s in self._steps.values())]))

    def _now(self, at: float | None) -> float:
        return self._clock() if at is None else at

    def _changed(self) -> None:
        if self._interval <= 0:
            self._flush()
            return
        with self._lock:
            if self._timer is not None:
                return  # a write is already due; it will carry this update
            interval = max(self._interval, self._cost / WRITE_SHARE)
            wait = max(0.0, self._last_write + interval - self._clock())
            self._timer = threading.Timer(wait, self._on_timer)
            self._timer.daemon = True
            self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            if self._timer is None:  # cancelled: finish or close writes instead
                return
            self._timer = None
        self._flush()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush(self, *, whole: bool = False) -> dict[str, Any] | None:
        """Write the record as it is now; a write overtaken by a newer one is dropped. The
        text is json.dumps(record, sort_keys=True), the steps' part made of their cached
        texts; `whole`: the record as data too."""
        began = time.monotonic()
        with self._lock:
            head = self._head()
            steps = self._step_texts()
            doc = {**head, "steps": [dict(s) for s in self._steps.values()]} if whole else None
            self._version += 1
            version = self._version
            self._last_write = self._clock()
        head["steps"] = _STEPS_HERE
        before, _, after = json.dumps(head, sort_keys=True).rpartition(json.dumps(_STEPS_HERE))
        text = f"{before}[{', '.join(steps)}]{after}\n"
        with self._write_lock:
            if version > self._written:
                write_atomic(self.path, text)
                self._written = version
                self.writes += 1
                self._cost = time.monotonic() - began
                self.write_seconds += self._cost
        return doc


# Stands for the steps in the record's JSON text until their cached texts replace it: the
# last occurrence (what follows "steps" in key order is numbers, a time and the user name).
_STEPS_HERE = "\x00rorunner-steps"


def _initial(meta: RunMeta, plays: Sequence[PlayRecord], started: float) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "rorunner_version": __version__,
        "run_id": meta.run_id,
        "status": "running",
        "command": meta.command,
        "playbook": meta.playbook,
        "project_dir": meta.project_dir,
        "inventory": list(meta.inventory),
        "argv": mask_argv(meta.argv),
        "user": login_name(),
        "controller": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": utc_iso(started),
        "ended_at": None,
        "duration": None,
        "exit_code": None,
        "options": dict(meta.options),
        "plan": meta.plan,
        "plays": [p.as_json() for p in plays],
    }


def _pending(step: StepRecord) -> dict[str, Any]:
    doc = step.as_json()
    doc.update(status="pending", rc=None, started_at=None, ended_at=None, duration=None)
    doc.update(reason="", stdout=None, stderr=None, changes=[])
    return doc


def login_name() -> str:
    """The controller user's login name (its uid when it has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return str(os.getuid())
