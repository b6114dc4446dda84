"""The doit contract: every piece of doit's API the engine relies on, checked against the
installed doit, so that an upgrade that changes one of them fails here, loudly.

The engine's only contact with doit is rorunner/engine/_doit.py; these tests drive it with
tiny tasks and real threads, and check that nothing in the package reaches doit's internals.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from rorunner.engine._check import StepCheck
from rorunner.engine._db import (
    CHUNK,
    COMMIT_LIMIT,
    STARTED,
    DBClosedError,
    StateDB,
    _Write,
)
from rorunner.engine._doit import doit_task, out_of_date, run_tasks, saved_values
from rorunner.errors import RorunnerError

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "rorunner"
# The modules allowed to import doit: the engine's adapter, and the seed API's StepFailure
# (a doit TaskFailed, as docs/seed-api.md promises).
DOIT_IMPORTERS = {"rorunner/engine/_doit.py", "rorunner/tasks/_outcome.py"}
# Keys doit writes into its DB rows; only doit may read or write them.
DOIT_DB_KEYS = {"_values_:", "result:", "checker:", "deps:", "ignore:", "_config_changed"}
SIG = StepCheck("sig")  # the check of every task below unless it says otherwise


class Events:
    """A TaskEvents that remembers what it heard."""

    def __init__(self) -> None:
        self.skipped: list[str] = []
        self.refused: list[tuple[str, str, bool]] = []

    def task_skipped(self, name: str) -> None:
        self.skipped.append(name)

    def task_refused(self, name: str, message: str, *, unmet: bool) -> None:
        self.refused.append((name, message, unmet))


def _task(
    name: str,
    action: Callable[[], Mapping[str, Any]],
    *,
    check: StepCheck | None = None,
    always: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    return doit_task(name, extra, check or SIG, always=always, action=action)


def _run(db_path: Path, tasks: list[dict[str, Any]], *, forks: int = 1, force: bool = False):  # type: ignore[no-untyped-def]
    events = Events()
    run_tasks(tasks, StateDB(db_path), forks=forks, force=force, events=events)
    return events


def test_installed_doit_is_in_the_pinned_range() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if re.match(r"doit\b", d)]
    low, high = re.fullmatch(r"doit>=([\d.]+),<([\d.]+)", pin).groups()  # type: ignore[union-attr]

    def parse(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    assert parse(low) <= parse(version("doit")) < parse(high), (pin, version("doit"))


def test_values_returned_by_an_action_reach_its_uptodate_callable_next_run(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    class Check(StepCheck):
        def __call__(self, task: object, values: Mapping[str, Any]) -> bool:
            seen.append(dict(values))
            return super().__call__(task, values)

    calls: list[str] = []
    check = Check("v1")

    def action() -> dict[str, Any]:
        calls.append("ran")
        return check.values_now()

    db = tmp_path / "deps.sqlite"
    assert _run(db, [_task("t", action, check=check)]).skipped == []
    events = _run(db, [_task("t", action, check=check)])
    assert calls == ["ran"] and events.skipped == ["t"]
    assert seen[-1] == check.values_now()
    assert saved_values(StateDB(db), ["t"]) == {"t": check.values_now()}
    changed = Check("v2")
    assert _run(db, [_task("t", action, check=changed)]).skipped == []
    assert calls == ["ran", "ran"]


def test_force_runs_up_to_date_tasks_and_uptodate_false_always_runs(tmp_path: Path) -> None:
    calls: list[str] = []
    db = tmp_path / "deps.sqlite"

    def tasks() -> list[dict[str, Any]]:
        return [
            _task("a", lambda: calls.append("a") or SIG.values_now()),
            _task("b", lambda: calls.append("b") or {}, always=True),
        ]

    _run(db, tasks())
    assert _run(db, tasks()).skipped == ["a"]
    _run(db, tasks(), force=True)
    assert calls == ["a", "b", "b", "a", "b"]


def test_every_stored_value_is_committed_before_the_run_ends(tmp_path: Path) -> None:
    db = tmp_path / "deps.sqlite"
    rows: dict[str, Any] = {}

    def read_first_row() -> dict[str, Any]:
        # A second connection, as a killed run's successor would open the file; the DB's
        # writer thread commits within moments, and the run cannot end before this returns.
        deadline = time.monotonic() + 30
        while "first" not in rows or (rows["first"] is None and time.monotonic() < deadline):
            with sqlite3.connect(db) as other:
                found = other.execute("select task_data from doit where task_id='first'")
                row = found.fetchone()
            rows["first"] = json.loads(row[0]) if row else None
            time.sleep(0 if row else 0.01)
        return {}

    _run(
        db,
        [
            _task("first", SIG.values_now),
            _task("second", read_first_row, task_dep=["first"]),
        ],
    )
    assert rows["first"] is not None
    reopened = StateDB(db)
    assert saved_values(reopened, ["first"])["first"] == SIG.values_now()
    reopened.dump()


def test_a_started_marker_hides_the_last_success_until_doit_stores_the_next(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "deps.sqlite"
    _run(db_path, [_task("t", SIG.values_now)])
    db = StateDB(db_path)
    db.mark_started("t")
    with sqlite3.connect(db_path) as other:  # committed before mark_started returns
        row = other.execute("select task_data from doit where task_id='t'").fetchone()
    assert json.loads(row[0]) == {STARTED: True}
    db.dump()
    db = StateDB(db_path)  # durable: what a killed run leaves
    assert db.started("t") and db.in_("t") and saved_values(db, ["t"]) == {"t": {}}
    db.dump()
    assert _run(db_path, [_task("t", SIG.values_now)]).skipped == []
    db = StateDB(db_path)
    assert not db.started("t") and saved_values(db, ["t"])["t"] == SIG.values_now()
    db.dump()


def _committed_row(db_path: Path, task: str) -> Any:
    """The task's row as another connection reads it once it is there (bounded wait)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as other:
            row = other.execute("select task_data from doit where task_id=?", (task,)).fetchone()
        if row is not None:
            return json.loads(row[0])
        time.sleep(0.01)
    raise AssertionError(f"{task} was never committed")


def test_a_new_steps_started_marker_is_committed_with_its_success_not_alone(
    tmp_path: Path,
) -> None:
    """Where nothing is stored, a started marker changes nothing a re-run does: it does not
    wake the writer, and a cold run commits once per step (marker and success together, the
    row written once: its last version)."""
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.lazy_limit = COMMIT_LIMIT  # only a write that wakes the writer commits
    statements = _traced(db)
    for name in ("a", "b", "c"):
        db.mark_started(name)
        time.sleep(0.05)  # a writer woken by the marker would commit it alone meanwhile
        with db.one_write(name):
            db.set(name, "_values_:", {"n": name})
        assert _committed_row(db_path, name) == {"_values_:": {"n": name}}
    db.dump()
    assert _transactions(statements) == 3 and _rows_inserted(statements) == 3, statements


def test_a_lone_started_marker_reaches_the_disk_within_the_lazy_limit(tmp_path: Path) -> None:
    """With no other write to ride with, a new step's started marker is still committed (a
    dry run after a kill then says the step did not finish)."""
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.lazy_limit = 0.05
    db.mark_started("t")
    assert _committed_row(db_path, "t") == {STARTED: True}
    db.dump()
    reopened = StateDB(db_path)
    assert reopened.started("t")
    reopened.dump()


def _traced(db: StateDB) -> list[str]:
    """The SQL statements the DB's writer runs from now on."""
    statements: list[str] = []
    assert db._conn is not None
    db._conn.set_trace_callback(statements.append)
    return statements


def _transactions(statements: list[str]) -> int:
    """Transactions among traced statements (a change outside begin..COMMIT is one)."""
    count, inside = 0, False
    for sql in statements:
        if sql == "begin":
            count, inside = count + 1, True
        elif sql == "COMMIT":
            inside = False
        elif not inside and sql.startswith(("insert", "delete")):
            count += 1
    return count


def _rows_inserted(statements: list[str]) -> int:
    """Rows the traced inserts wrote (the tests' values never hold "), (")."""
    inserts = [sql for sql in statements if sql.startswith("insert or replace")]
    return sum(sql.count("), (") + 1 for sql in inserts)


def test_a_new_steps_started_marker_does_not_go_with_another_steps_success(
    tmp_path: Path,
) -> None:
    """A lazy marker waits for its own step's success rather than riding with the first
    commit that comes: a cold run writes each row once."""
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.lazy_limit = COMMIT_LIMIT
    db.linger = 0.0
    statements = _traced(db)
    db.mark_started("a")
    db.set("b", "_values_:", {"n": "b"})  # wakes the writer
    assert _committed_row(db_path, "b") == {"_values_:": {"n": "b"}}
    with sqlite3.connect(db_path) as other:
        assert other.execute("select task_id from doit").fetchall() == [("b",)]
    with db.one_write("a"):
        db.set("a", "_values_:", {"n": "a"})
    assert _committed_row(db_path, "a") == {"_values_:": {"n": "a"}}
    db.dump()
    assert _rows_inserted(statements) == 2 and not any(STARTED in s for s in statements)


def test_successes_stored_within_the_linger_are_committed_together(tmp_path: Path) -> None:
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.linger = 1.0
    statements = _traced(db)
    db.set("a", "k", 1)  # wakes the writer, which waits the linger for more
    time.sleep(0.1)  # with no linger, `a` would be committed alone meanwhile
    db.set("b", "k", 1)
    assert _committed_row(db_path, "b") == {"k": 1}
    db.dump()
    assert _transactions(statements) == 1 and _rows_inserted(statements) == 2, statements


def _stored_t(db_path: Path) -> StateDB:
    """The DB at `db_path` holding a row of task "t", opened again (as by a second run)."""
    db = StateDB(db_path)
    db.set("t", "k", 1)
    db.dump()
    return StateDB(db_path)


def test_a_write_that_waits_for_its_commit_does_not_wait_the_linger(tmp_path: Path) -> None:
    db_path = tmp_path / "deps.sqlite"
    db = _stored_t(db_path)
    db.linger = COMMIT_LIMIT
    db.set("u", "k", 1)  # the writer is woken and lingers
    marked = threading.Thread(target=db.mark_started, args=("t",))  # replaces a stored row
    marked.start()
    marked.join(60)  # bounded: a writer that lingered would hold it for COMMIT_LIMIT
    assert not marked.is_alive()
    assert _committed_row(db_path, "t") == {STARTED: True}
    assert _committed_row(db_path, "u") == {"k": 1}  # went in the same commit
    db.dump()


def test_a_step_starts_acting_only_once_earlier_successes_are_committed(
    tmp_path: Path,
) -> None:
    """A kill -9 during a step must not repeat the steps it came after: their successes are
    on disk before it acts, even though its own (lazy) marker is not."""
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.lazy_limit = COMMIT_LIMIT
    db.linger = COMMIT_LIMIT  # nothing but the new step's start ends the linger
    db.set("one", "_values_:", {"n": 1})
    marked = threading.Thread(target=db.mark_started, args=("two",))
    marked.start()
    marked.join(60)  # bounded: without the wait, "one" would sit in the linger meanwhile
    assert not marked.is_alive()
    with sqlite3.connect(db_path) as other:
        rows = other.execute("select task_id from doit").fetchall()
    assert rows == [("one",)]  # and the lazy marker of "two" is still held back
    db.dump()


def test_a_step_cannot_be_marked_started_or_stale_once_the_db_closed(tmp_path: Path) -> None:
    """Neither its marker nor the successes before it could reach the disk any more."""
    db = _stored_t(tmp_path / "deps.sqlite")
    db.dump()
    with pytest.raises(DBClosedError):
        db.mark_started("t")
    with pytest.raises(DBClosedError):
        db.mark_stale("t", "why")
    assert not db.committed()
    reopened = StateDB(tmp_path / "deps.sqlite")
    assert reopened.get("t", "k") == 1 and not reopened.started("t")
    reopened.dump()


def test_a_due_lazy_marker_does_not_wait_the_linger(tmp_path: Path) -> None:
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.lazy_limit = 0.05
    db.linger = 30.0  # the writer, woken by the lazy limit alone, must not wait this
    db.mark_started("t")
    began = time.monotonic()
    assert _committed_row(db_path, "t") == {STARTED: True}
    assert time.monotonic() - began < db.linger
    db.dump()


def test_a_row_removed_inside_its_one_write_block_stays_deleted(tmp_path: Path) -> None:
    db_path = tmp_path / "deps.sqlite"
    db = _stored_t(db_path)
    with db.one_write("t"):
        db.set("t", "k", 2)
        db.remove("t")  # as doit does when it cannot save a success
    db.dump()
    assert db.committed()
    with sqlite3.connect(db_path) as other:
        assert other.execute("select task_id from doit").fetchall() == []


def test_a_held_back_marker_goes_with_a_later_delete_of_every_row(tmp_path: Path) -> None:
    """A lazy marker queued before a delete of every row is committed before it, not after
    (where it would bring back a row the delete removed)."""
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.lazy_limit = COMMIT_LIMIT
    db.linger = 0.0
    with db._lock:  # the writer takes all three together
        db._rows["a"] = {STARTED: True}
        db._write("a", db._rows["a"], lazy=True)
        db._rows["b"] = {"k": 1}
        db._write("b", db._rows["b"])
        db._rows.clear()
        db._send(_Write(None, None))
    db.set("c", "k", 1)  # queued after the delete: committed after it
    assert _committed_row(db_path, "c") == {"k": 1}
    db.dump()  # commits whatever is still held back
    with sqlite3.connect(db_path) as other:
        assert other.execute("select task_id from doit").fetchall() == [("c",)]


def test_rows_waiting_for_one_commit_are_each_written_once_as_their_last_version(
    tmp_path: Path,
) -> None:
    """Rows stored while the writer waits go in one transaction, each task's row written
    once as its last version, deletes applied in order."""
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.set("old", "k", 0)
    db.dump()
    db = StateDB(db_path)
    statements: list[str] = []
    assert db._conn is not None
    db._conn.set_trace_callback(statements.append)
    with db._lock:  # the writer cannot take the writes before all are queued
        for name in ("a", "b", "c"):
            db._rows[name] = {"k": 1}
            db._write(name, db._rows[name])
            db._rows[name] = {"k": 2}
            db._write(name, db._rows[name])
        db._rows.pop("b")
        db._send(_Write("b", None))
        db._rows["old"] = {STARTED: True}
        done = db._write("old", db._rows["old"], wait=True)
    db._committed(done)
    db.dump()
    assert _transactions(statements) == 1 and _rows_inserted(statements) == 3, statements
    with sqlite3.connect(db_path) as other:
        rows = dict(other.execute("select task_id, task_data from doit").fetchall())
    assert {k: json.loads(v) for k, v in rows.items()} == {
        "a": {"k": 2},
        "c": {"k": 2},
        "old": {STARTED: True},
    }
    db = StateDB(db_path)
    with db._lock:
        db._write("x", {"k": 1})
        db._send(_Write(None, None))
        db._write("y", {"k": 1})
    db.dump()
    with sqlite3.connect(db_path) as other:
        assert other.execute("select task_id from doit").fetchall() == [("y",)]


def test_more_rows_than_one_statement_holds_still_go_in_one_transaction(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    for name in ("gone1", "gone2"):
        db.set(name, "k", 0)
        assert _committed_row(db_path, name) == {"k": 0}
    statements = _traced(db)
    names = [f"t{i}" for i in range(2 * CHUNK + 1)]
    with db._lock:  # the writer takes them all at once
        for name in names:
            db._rows[name] = {"k": name}
            db._write(name, db._rows[name])
        for name in ("gone1", "gone2"):
            db._rows.pop(name)
            db._send(_Write(name, None))
    db.dump()
    assert _transactions(statements) == 1 and _rows_inserted(statements) == len(names)
    with sqlite3.connect(db_path) as other:
        rows = dict(other.execute("select task_id, task_data from doit").fetchall())
    assert {k: json.loads(v) for k, v in rows.items()} == {n: {"k": n} for n in names}


def test_a_failed_commit_reaches_the_next_write_and_nothing_waits_for_it(tmp_path: Path) -> None:
    db_path = tmp_path / "deps.sqlite"
    db = _stored_t(db_path)
    with sqlite3.connect(db_path) as other:  # every later statement of the writer fails
        other.execute("drop table doit")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.mark_started("t")  # replaces a stored row: waits for the commit, which failed
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.set("u", "k", 1)
    db.dump()
    assert not db.committed()


def test_the_db_says_whether_the_file_holds_every_value_it_stored(tmp_path: Path) -> None:
    # what the plan cache relies on to prove a no-op from the run's own rows (issue 12)
    db_path = tmp_path / "deps.sqlite"
    db = StateDB(db_path)
    db.set("t", "k", 1)
    assert not db.committed()  # still open: a write may be waiting
    db.dump()
    assert db.committed()
    db = StateDB(db_path)
    with sqlite3.connect(db_path) as other:  # the last batch, committed as the DB closes, fails
        other.execute("drop table doit")
    db.set("u", "k", 1)  # nothing waits for this commit
    db.dump()
    assert db.in_("u") and not db.committed()


def test_failed_dependencies_and_raising_actions_are_reported(tmp_path: Path) -> None:
    def boom() -> dict[str, Any]:
        raise ValueError("broken action")

    events = _run(tmp_path / "deps.sqlite", [_task("a", boom), _task("b", dict, task_dep=["a"])])
    (first, second) = events.refused
    assert first[0] == "a" and "broken action" in first[1] and first[2] is False
    assert second[0] == "b" and second[2] is True


def test_forks_run_independent_tasks_at_the_same_time(tmp_path: Path) -> None:
    both = threading.Barrier(2, timeout=30)

    def meet() -> dict[str, Any]:
        both.wait()  # BrokenBarrierError (a failed task) unless the other runs concurrently
        return {}

    events = _run(tmp_path / "deps.sqlite", [_task("a", meet), _task("b", meet)], forks=2)
    assert events.refused == []


def test_ctrl_c_during_a_run_propagates_and_closes_the_db(tmp_path: Path) -> None:
    hold = threading.Event()

    def interrupt() -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGINT)
        hold.wait(30)  # the main thread gets the KeyboardInterrupt meanwhile
        return {}

    db = StateDB(tmp_path / "deps.sqlite")
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tasks([_task("t", interrupt)], db, forks=1, force=False, events=Events())
    finally:
        hold.set()
    assert db.committed()
    db.set("late", "k", 1)  # closed: dropped, not an error
    assert not StateDB(tmp_path / "deps.sqlite").in_("late")
    assert not db.committed()  # it holds a value the file does not


def test_doit_reports_a_missing_target_and_refuses_an_unknown_dependency(tmp_path: Path) -> None:
    db_path = tmp_path / "deps.sqlite"
    target = tmp_path / "made.txt"

    def make() -> dict[str, Any]:
        target.write_text("x")
        return SIG.values_now()

    _run(db_path, [_task("t", make, targets=[str(target)])])
    db = StateDB(db_path)
    plain = [_task("t", make, targets=[str(target)])]
    assert out_of_date(db, plain, ["t"]) == {}
    target.unlink()
    assert out_of_date(db, plain, ["t"]) == {"t": f"target missing: {target}"}
    db.dump()
    with pytest.raises(RorunnerError, match="doit refused"):
        _run(db_path, [_task("t", make, task_dep=["nowhere"])])


def _doit_names(tree: ast.Module) -> set[str]:
    """Names a module binds to doit modules or objects."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "doit":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] == "doit"
            )
    return names


def _internals(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    doit_names = _doit_names(tree)
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("doit"):
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private or "._" in (node.module or ""):
                found.append(f"{where}: imports doit private {node.module} {private}")
        if isinstance(node, ast.Constant) and node.value in DOIT_DB_KEYS:
            found.append(f"{where}: doit's DB key {node.value!r}")
        if (
            doit_names
            and isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append(f"{where}: private attribute .{node.attr} in a module that uses doit")
        if isinstance(node, ast.ClassDef) and any(
            isinstance(base, ast.Name) and base.id in doit_names for base in node.bases
        ):
            found += [
                f"{where}: overrides doit's private {item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef)
                and item.name.startswith("_")
                and not item.name.startswith("__")
            ]
    return found


def test_nothing_in_the_package_reaches_doit_internals() -> None:
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _internals(path)]
    assert found == []


def test_only_the_engine_adapter_and_the_seed_failure_type_import_doit() -> None:
    importers = {
        str(path.relative_to(REPO))
        for path in PACKAGE.rglob("*.py")
        if _doit_names(ast.parse(path.read_text()))
    }
    assert importers == DOIT_IMPORTERS


def test_the_internals_check_finds_what_the_old_engine_did(tmp_path: Path) -> None:
    old = tmp_path / "old.py"
    old.write_text(
        "from doit.dependency import Dependency\n"
        "def saved(deps: Dependency, name: str) -> object:\n"
        "    return deps._get(name, '_values_:')\n"
    )
    hits = [hit.split(": ", 1)[1] for hit in _internals(old, tmp_path)]
    assert hits == [
        "private attribute ._get in a module that uses doit",
        "doit's DB key '_values_:'",
    ]


def test_a_step_check_tells_doit_its_task_and_values_parameters() -> None:
    """doit inspects every uptodate callable for `task` and `values` parameters; a StepCheck
    answers with its own ready-made signature, which must be its __call__'s."""
    import inspect

    called = inspect.signature(StepCheck.__call__).parameters
    assert list(inspect.signature(SIG).parameters) == [p for p in called if p != "self"]
    assert inspect.signature(SIG) is inspect.signature(StepCheck("other"))  # not derived anew


def test_a_success_is_committed_as_one_row_write(tmp_path: Path) -> None:
    """doit stores a success as several values; they reach the DB in one statement (not one
    commit per value), holding every key doit wrote."""
    db = StateDB(tmp_path / "deps.sqlite")
    statements: list[str] = []
    assert db._conn is not None
    db._conn.set_trace_callback(statements.append)
    run_tasks([_task("t", SIG.values_now)], db, forks=1, force=False, events=Events())
    writes = [s for s in statements if s.startswith("insert or replace")]
    assert len(writes) == 1, statements
    with sqlite3.connect(tmp_path / "deps.sqlite") as other:
        (row,) = other.execute("select task_data from doit where task_id='t'").fetchone()
    assert {"_values_:", "checker:", "deps:"} <= set(json.loads(row))


def test_a_run_skips_doits_command_line_and_the_package_still_works() -> None:
    # The engine imports doit's modules without doit's package __init__ (its command line,
    # ~30 ms); the package's own attributes still work on first use (tasks._doitinit).
    code = (
        "import sys\n"
        "import rorunner.engine, rorunner.tasks\n"
        "print('doit.doit_cmd' in sys.modules)\n"
        "import doit\n"
        "print(callable(doit.run), doit.__version__ == doit.version.VERSION)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True", "True"], done.stderr
