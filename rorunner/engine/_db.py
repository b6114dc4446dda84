"""The dependency DB: a doit backend over sqlite3 that writes every value through.

doit's own SqliteDB keeps changes in memory until the run ends, so a kill -9
loses every success of the run. This backend implements doit's documented
backend interface (get/set/in_/remove/remove_all/dump) and commits each
`set` as it happens, whatever the key and in whatever order doit stores them:
doit stores a task's values only after the task succeeded, so any row it wrote
describes a finished task. WAL with synchronous=NORMAL makes each commit
survive a killed process without an fsync per write.

doit stores a success as several values (the action's values, the result, the file-deps
checker, the deps list): inside `one_write(task)` they are written as one row, once, when
all are set, instead of one commit per value (a killed run leaves the started marker or
the whole success, never half of one).

`mark_started` is the engine's own entry: a step about to run replaces its
row by a "started" marker, so a step that started and never finished (killed,
interrupted, even under --force) has no success left to be skipped on. `mark_stale`
likewise replaces a step's row by the reason it must run again (a host step of its
play ran, so a play's local_after must; issue 10), committed before that cause acts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

SCHEMA = "create table if not exists doit (task_id text primary key, task_data text)"
# Our key in a task's row (doit's own keys never start with "rorunner").
STARTED = "rorunner:started"
STALE = "rorunner:stale"
_MARKERS = (STARTED, STALE)


class Codec(Protocol):
    """doit's codec interface: values to text and back."""

    def encode(self, data: Any) -> str:
        """Text for `data`."""
        ...

    def decode(self, data: str) -> Any:
        """`data` decoded."""
        ...


class JsonCodec:
    """Rows as JSON text (what doit's own JSON codec writes, so older DBs read the same)."""

    def encode(self, data: Any) -> str:
        """Compact JSON."""
        return json.dumps(data, separators=(",", ":"))

    def decode(self, data: str) -> Any:
        """Parsed JSON."""
        return json.loads(data)


class StateDB:
    """Rows of task_id -> {key: value}, cached in memory and written through on change."""

    desc = "sqlite3, every value committed as it is stored"

    def __init__(self, path: str | Path, codec: Codec | None = None) -> None:
        self.name = str(path)
        self.codec: Codec = codec if codec is not None else JsonCodec()
        self._lock = threading.Lock()
        self._deferred: set[str] = set()  # tasks inside one_write: their row is written at its end
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.name, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma synchronous=normal")
        self._conn.execute(SCHEMA)
        # One query for every row: a run asks about every task anyway.
        self._rows: dict[str, dict[str, Any]] = {
            task_id: self.codec.decode(data)
            for task_id, data in self._conn.execute("select task_id, task_data from doit")
        }

    def get(self, task_id: str, dependency: str) -> Any:
        """Value stored for (task, key), or None."""
        with self._lock:
            return self._rows.get(task_id, {}).get(dependency)

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        """Store a value and commit the row; the task is no longer merely started."""
        with self._lock:
            row = self._rows.setdefault(task_id, {})
            for marker in _MARKERS:
                row.pop(marker, None)
            row[dependency] = value
            if task_id not in self._deferred:
                self._write(task_id, row)

    @contextmanager
    def one_write(self, task_id: str) -> Iterator[None]:
        """Every `set` of `task_id` inside is committed as one row at the end (nothing is
        written when the block raises: the task's row stays as it was on disk)."""
        with self._lock:
            self._deferred.add(task_id)
        try:
            yield
        except BaseException:
            with self._lock:
                self._deferred.discard(task_id)
            raise
        with self._lock:
            self._deferred.discard(task_id)
            self._write(task_id, self._rows.get(task_id, {}))

    def in_(self, task_id: str) -> bool:
        """Whether the task has a stored row."""
        with self._lock:
            return bool(self._rows.get(task_id))

    def remove(self, task_id: str) -> None:
        """Forget a task (doit calls this when a task fails)."""
        with self._lock:
            self._rows.pop(task_id, None)
            if self._conn is not None:
                self._conn.execute("delete from doit where task_id=?", (task_id,))

    def remove_all(self) -> None:
        """Forget every task."""
        with self._lock:
            self._rows.clear()
            if self._conn is not None:
                self._conn.execute("delete from doit")

    def dump(self) -> None:
        """Close the DB (every row is already committed); later writes are dropped."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def mark_started(self, task_id: str) -> None:
        """Replace the task's row by a started marker, committed before the step acts."""
        with self._lock:
            self._rows[task_id] = {STARTED: True}
            self._write(task_id, self._rows[task_id])

    def started(self, task_id: str) -> bool:
        """Whether the task's last run started and was never recorded as finished."""
        with self._lock:
            return bool(self._rows.get(task_id, {}).get(STARTED))

    def mark_stale(self, task_id: str, reason: str) -> None:
        """Replace the task's row by `reason` (why it must run again), committed now."""
        with self._lock:
            self._rows[task_id] = {STALE: reason}
            self._write(task_id, self._rows[task_id])

    def stale(self, task_id: str) -> str:
        """Why the task must run again ('' when it was not marked stale)."""
        with self._lock:
            return str(self._rows.get(task_id, {}).get(STALE) or "")

    def _write(self, task_id: str, row: dict[str, Any]) -> None:
        # A step still running when the run ends (interrupted) finds the DB closed:
        # its row stays as it was, so it runs again next time.
        if self._conn is None:
            return
        self._conn.execute(
            "insert or replace into doit values (?, ?)", (task_id, self.codec.encode(row))
        )
