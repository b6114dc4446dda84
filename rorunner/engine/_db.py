"""doit dependency backend over sqlite3 that commits after every finished task.

doit's own SqliteDB keeps changes in memory until the run ends, so a kill -9
loses every success of the run. This backend writes each task's row through:
`Dependency.save_success` always writes the `deps:` key last, so that write
is where a finished task becomes durable. WAL with synchronous=NORMAL makes
each commit survive a killed process without an fsync per task.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from doit.dependency import MD5Checker

SCHEMA = "create table if not exists doit (task_id text primary key, task_data text)"
LAST_KEY_OF_SUCCESS = "deps:"


class WriteThroughSqliteDB:
    """A doit DB backend (get/set/in_/remove/remove_all/dump) committing per task."""

    desc = "sqlite3, committed after every finished task"

    def __init__(self, name: str, codec: Any, *, module_name: str | None = None) -> None:
        self.name = name
        self.codec = codec
        self._conn = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma synchronous=normal")
        self._conn.execute(SCHEMA)
        # One query for every row: a run asks about every task anyway.
        self._cache: dict[str, dict[str, Any]] = {
            task_id: codec.decode(data)
            for task_id, data in self._conn.execute("select task_id, task_data from doit")
        }

    def _load(self, task_id: str) -> dict[str, Any]:
        return self._cache.setdefault(task_id, {})

    def get(self, task_id: str, dependency: str) -> Any:
        """Value stored for (task, key), or None."""
        return self._load(task_id).get(dependency)

    def set(self, task_id: str, dependency: str, value: Any) -> None:
        """Store a value; the last key of a success makes the row durable."""
        data = self._load(task_id)
        data[dependency] = value
        if dependency in (LAST_KEY_OF_SUCCESS, "ignore:"):
            self._write(task_id, data)

    def _write(self, task_id: str, data: dict[str, Any]) -> None:
        self._conn.execute(
            "insert or replace into doit values (?, ?)", (task_id, self.codec.encode(data))
        )

    def in_(self, task_id: str) -> bool:
        """Whether the task has a stored row."""
        return bool(self._load(task_id))

    def remove(self, task_id: str) -> None:
        """Forget a task (doit calls this when a task fails)."""
        self._cache[task_id] = {}
        self._conn.execute("delete from doit where task_id=?", (task_id,))

    def remove_all(self) -> None:
        """Forget every task."""
        self._cache.clear()
        self._conn.execute("delete from doit")

    def dump(self) -> None:
        """Close the DB; every row is already committed."""
        self._conn.close()

    def stored(self, task_id: str) -> dict[str, Any]:
        """Everything stored for a task (for the dry run's reasons)."""
        return dict(self._load(task_id))


class MissingIsChanged(MD5Checker):  # type: ignore[misc]
    """doit's MD5 file checker, except that a missing file_dep means "changed", not an error.

    A shipped file made by a local_pre step is missing when that step failed;
    doit would then fail the ship task itself and, through task_dep, steps of
    other hosts behind a serial barrier. Here the step just runs (and the
    engine reports it as not run, since its host already failed).
    """

    CheckerError = ()  # info() never raises

    def info(self, file_path: str) -> os.stat_result | None:
        """os.stat, or None for a missing file."""
        try:
            return os.stat(file_path)
        except OSError:
            return None

    def check_modified(self, file_path: str, file_stat: os.stat_result | None, state: Any) -> bool:
        """Missing or different from the saved state."""
        return file_stat is None or bool(super().check_modified(file_path, file_stat, state))

    def get_state(self, dep: str, current_state: Any) -> Any:
        """The saved state, None (keep nothing new) for a missing file."""
        try:
            return super().get_state(dep, current_state)
        except OSError:
            return None
