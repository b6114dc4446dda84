"""The dependency DB: a doit backend over sqlite3 that writes every value through.

doit's own SqliteDB keeps changes in memory until the run ends, so a kill -9
loses every success of the run. This backend implements doit's documented
backend interface (get/set/in_/remove/remove_all/dump) and commits each
`set` as it happens, whatever the key and in whatever order doit stores them:
doit stores a task's values only after the task succeeded, so any row it wrote
describes a finished task. WAL with synchronous=NORMAL makes each commit
survive a killed process without an fsync per write.

Rows are committed off doit's thread, one commit at a time, each task's in the order they
were stored, every row due at that moment in one transaction (in one statement per kind
of change: each call into sqlite lets go of the GIL and must win it back from the busy
step threads): doit's dispatching thread (which stores successes) never waits on sqlite.
Woken by a success, a writer thread waits LINGER (20 ms) for the successes of the next
moments before it commits them together. A thread whose writes must be on disk before it
goes on commits what is queued itself, at once (a round trip through the writer costs
more hand-overs of the GIL):
- a step about to act, every success stored before it, so a kill -9 during a step never
  repeats the steps it came after (at 100 hosts x 7 steps ~580 of the 700 steps start with
  a success not yet committed, and a run makes ~550 commits instead of ~115);
- a started marker that replaces a stored row (a step about to run must not keep an old
  success) and a stale marker, before their step or its cause acts.
A success that no step's start follows is on disk within LINGER (a kill -9 before then
repeats that step, as for a step in flight). A started marker where nothing is stored
changes nothing a re-run does (no row runs the step as well); it only lets a dry run say
"did not finish last time" instead of "new", so it is lazy: it neither wakes the writer nor
goes with other tasks' rows, but waits up to LAZY_LIMIT seconds for its own step's
success, which replaces it (a step still running then has its marker committed; a delete
of every row deletes it too). A cold run so writes each row once: 700 rows at 100 hosts x
7 steps, not 1,373.

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
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from rorunner.errors import RorunnerError

SCHEMA = "create table if not exists doit (task_id text primary key, task_data text)"
# Our key in a task's row (doit's own keys never start with "rorunner").
STARTED = "rorunner:started"
STALE = "rorunner:stale"
_MARKERS = (STARTED, STALE)
COMMIT_LIMIT = 300.0  # seconds a write that must be on disk waits for another's commit
LAZY_LIMIT = 1.0  # seconds a write nobody waits for may stay uncommitted (a lazy one)
LINGER = 0.02  # seconds the woken writer waits for more rows (a waiting write does not)
# A statement changing many rows: its start, the placeholders of one row, its end.
_INSERT = ("insert or replace into doit values ", "(?, ?)", "")
_DELETE = ("delete from doit where task_id in (", "?", ")")
_DELETE_ALL = "delete from doit"
CHUNK = 400  # rows per statement (SQLite allowed 999 parameters before 3.32)


class DBClosedError(RorunnerError):
    """The DB was closed (the run is ending): a step must not start, since neither its
    started marker nor the successes before it could reach the disk."""


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
        return _COMPACT.encode(data)

    def decode(self, data: str) -> Any:
        """Parsed JSON."""
        return json.loads(data)


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps makes one per call


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
        self._sqlite = self._conn  # for whoever commits (`_conn` is None once closed)
        # One query for every row: a run asks about every task anyway.
        self._rows: dict[str, dict[str, Any]] = {
            task_id: self.codec.decode(data)
            for task_id, data in self._conn.execute("select task_id, task_data from doit")
        }
        self._pending: list[_Write] = []  # for the writer thread, in order (under the lock)
        self._lazy: dict[str, _Write] = {}  # lazy markers held back, oldest first (same)
        self._queued = 0  # writes that wake the writer, numbered as they are queued
        # Every one of them numbered up to this is committed (set under the commit lock;
        # a stale read elsewhere only sends a thread to that lock to find it done).
        self._durable = 0
        # Held by whoever commits (the writer, or a thread waiting for its writes): one
        # at a time, each committing what it took, in the order taken.
        self._commit_lock = threading.Lock()
        self._wake = threading.Event()  # set when a write must not wait for LAZY_LIMIT
        self._closed = threading.Event()  # set when the writer must not wait for LINGER
        self._closing = False
        self.lazy_limit = LAZY_LIMIT
        self.linger = LINGER
        self._writer: threading.Thread | None = None
        self._failure: Exception | None = None  # the writer's, raised to the next caller
        self._lost = False  # a write dropped (DB closed) or left to a stuck writer

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
            row = self._rows.get(task_id)
            if row is not None:  # None: a remove since then queued the row's delete
                self._write(task_id, row)

    def in_(self, task_id: str) -> bool:
        """Whether the task has a stored row."""
        with self._lock:
            return bool(self._rows.get(task_id))

    def remove(self, task_id: str) -> None:
        """Forget a task (doit calls this when a task fails)."""
        with self._lock:
            self._rows.pop(task_id, None)
            self._send(_Write(task_id, None))

    def remove_all(self) -> None:
        """Forget every task."""
        with self._lock:
            self._rows.clear()
            self._send(_Write(None, None))

    def dump(self) -> None:
        """Commit what is waiting and close the DB; later writes are dropped."""
        with self._lock:
            writer, conn, self._conn, self._writer = self._writer, self._conn, None, None
            if writer is not None:
                self._closing = True
                self._wake.set()
                self._closed.set()
        if writer is not None:
            writer.join(COMMIT_LIMIT)
            if writer.is_alive():
                self._lost = True
                return  # stuck on the disk: its connection is left to it
        if conn is not None:
            conn.close()

    def committed(self) -> bool:
        """After `dump`: whether the file holds every value stored, as this object does."""
        with self._lock:
            return self._conn is None and not self._lost and self._failure is None

    def mark_started(self, task_id: str) -> None:
        """Replace the task's row by a started marker, committed before the step acts when it
        replaces a stored row (an old success must not outlive the step's start); and wait
        until every success stored before is committed (a kill -9 during the step must not
        repeat the steps it came after)."""
        with self._lock:
            self._open()
            stored = bool(self._rows.get(task_id))
            self._rows[task_id] = {STARTED: True}
            number = self._write(task_id, self._rows[task_id], wait=stored, lazy=not stored)
            if number is None and self._queued > self._durable:
                number = self._queued
        self._committed(number)

    def started(self, task_id: str) -> bool:
        """Whether the task's last run started and was never recorded as finished."""
        with self._lock:
            return bool(self._rows.get(task_id, {}).get(STARTED))

    def mark_stale(self, task_id: str, reason: str) -> None:
        """Replace the task's row by `reason` (why it must run again), committed now."""
        with self._lock:
            self._open()
            self._rows[task_id] = {STALE: reason}
            number = self._write(task_id, self._rows[task_id], wait=True)
        self._committed(number)

    def stale(self, task_id: str) -> str:
        """Why the task must run again ('' when it was not marked stale)."""
        with self._lock:
            return str(self._rows.get(task_id, {}).get(STALE) or "")

    def _write(
        self, task_id: str, row: dict[str, Any], wait: bool = False, lazy: bool = False
    ) -> int | None:
        """Queue the row's write (caller holds the lock); with `wait`, its number, for
        `_committed`; a `lazy` one waits for its task's next write, which replaces it, or
        LAZY_LIMIT (see the module doc). The row is copied (later `set`s change it in place);
        its values are never changed once stored, so they may be encoded later."""
        since = time.monotonic() if lazy else None
        if not self._send(_Write(task_id, dict(row), since)) or not wait:
            return None
        return self._queued

    def _send(self, write: _Write) -> bool:
        """Queue `write` for the writer thread, waking it and numbering it unless the write
        is lazy (caller holds the lock); False when the DB is closed: a step still running
        when the run ends (interrupted) leaves its row as it was, so it runs again next
        time."""
        self._raise_failure()
        if self._conn is None:
            self._lost = True
            return False
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._commit_loop, name="rorunner-db", daemon=True
            )
            self._writer.start()
        if write.since is not None:
            assert write.task_id is not None  # only a started marker is lazy
            self._lazy.pop(write.task_id, None)
            self._lazy[write.task_id] = write
            return True
        if write.task_id is None:
            self._lazy.clear()  # a delete of every row deletes them too
        else:
            self._lazy.pop(write.task_id, None)  # replaced by this write
        self._pending.append(write)
        self._queued += 1
        self._wake.set()
        return True

    def _committed(self, number: int | None) -> None:
        """Return once the writes numbered up to `number` are on disk (the writer tried
        them), committing them in this thread unless a commit did already (no round trip
        through the writer, which may be lingering); raise the writer's error."""
        if number is not None:
            if not self._commit_lock.acquire(timeout=COMMIT_LIMIT):
                raise RorunnerError(f"the dependency DB did not commit within {COMMIT_LIMIT:g}s")
            try:
                if self._durable < number:
                    self._commit_queued(lazy=False, closing=False)
            finally:
                self._commit_lock.release()
        self._raise_failure()

    def _commit_loop(self) -> None:
        """Commit the queued writes, those due together in one transaction, once woken and
        LINGER later (or at once when the DB closes), or when a lazy one is due, until the
        DB closes."""
        timeout = self.lazy_limit
        while True:
            woken = self._wake.wait(timeout)
            self._wake.clear()  # a write queued from now on sets it again
            if woken:  # the successes of the next moments ride along (not a due lazy one)
                self._closed.wait(self.linger)
            with self._commit_lock:
                closing = self._closing
                self._commit_queued(lazy=True, closing=closing)
                with self._lock:
                    timeout = _next_due(self._lazy, self.lazy_limit)
            if closing:
                return

    def _commit_queued(self, lazy: bool, closing: bool) -> None:
        """Commit every write queued (and with `lazy`, the held-back ones now due, or all of
        them when `closing`) in one transaction (caller holds the commit lock)."""
        with self._lock:
            writes, self._pending = self._pending, []
            if lazy:
                writes += _due(self._lazy, self.lazy_limit, closing)
            taken = self._queued  # only lazy writes are kept back
        try:
            if writes and self._failure is None:
                self._commit(writes)
        finally:
            self._durable = taken

    def _commit(self, writes: list[_Write]) -> None:
        conn = self._sqlite
        try:
            statements = _statements(writes, self.codec)
            if len(statements) == 1:  # a statement is a transaction of its own
                conn.execute(*statements[0])
                return
            with conn:  # one transaction
                conn.execute("begin")
                for sql, args in statements:
                    conn.execute(sql, args)
        except Exception as exc:  # raised to the next caller: the run stops on it
            self._failure = exc

    def _open(self) -> None:
        """Raise DBClosedError once the DB is closed or closing (caller holds the lock)."""
        self._raise_failure()
        if self._conn is None:
            self._lost = True
            raise DBClosedError("the dependency DB is closed: the run is ending")

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


class _Write:
    """One change for the writer thread: a task's row (`row` None: the task's row deleted;
    `task_id` None too: every row deleted)."""

    __slots__ = ("row", "since", "task_id")

    def __init__(
        self, task_id: str | None, row: dict[str, Any] | None, since: float | None = None
    ) -> None:
        self.task_id = task_id
        self.row = row
        self.since = since  # a lazy write: when it was queued


def _due(lazy: dict[str, _Write], lazy_limit: float, closing: bool) -> list[_Write]:
    """The held-back lazy writes older than `lazy_limit` (every one when closing), taken out
    of `lazy` (oldest first)."""
    oldest = time.monotonic() - lazy_limit
    due: list[str] = []
    for task_id, write in lazy.items():
        if not closing and write.since is not None and write.since > oldest:
            break
        due.append(task_id)
    return [lazy.pop(task_id) for task_id in due]


def _next_due(lazy: dict[str, _Write], lazy_limit: float) -> float:
    """Seconds until the oldest held-back write is due (`lazy_limit` when none is)."""
    oldest = next(iter(lazy.values()), None)
    if oldest is None or oldest.since is None:
        return lazy_limit
    return max(0.0, oldest.since + lazy_limit - time.monotonic())


def _statements(writes: list[_Write], codec: Codec) -> list[tuple[str, tuple[str, ...]]]:
    """The fewest statements that leave the table as applying `writes` in order would: each
    task's last change only (a later change of a task replaces its earlier ones), so the
    changes of different tasks commute and go in one statement per kind (each call into
    sqlite lets go of the GIL and must take it back from the busy step threads)."""
    clear = False
    last: dict[str, dict[str, Any] | None] = {}
    for write in writes:
        if write.task_id is None:
            clear = True
            last.clear()
        else:
            last[write.task_id] = write.row
    statements: list[tuple[str, tuple[str, ...]]] = [(_DELETE_ALL, ())] if clear else []
    gone = [(task_id,) for task_id, row in last.items() if row is None]
    rows = [(task_id, codec.encode(row)) for task_id, row in last.items() if row is not None]
    statements += _chunked(_DELETE, gone)
    statements += _chunked(_INSERT, rows)
    return statements


def _chunked(
    sql: tuple[str, str, str], rows: Sequence[tuple[str, ...]]
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The statements `sql` (start, one row's placeholders, end) for `rows`, CHUNK rows
    each."""
    start, row_marks, end = sql
    for first in range(0, len(rows), CHUNK):
        chunk = rows[first : first + CHUNK]
        marks = ", ".join([row_marks] * len(chunk))
        yield start + marks + end, tuple(value for row in chunk for value in row)
