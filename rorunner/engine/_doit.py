"""The engine's one contact with doit: task dicts in, a threaded run, events out.

Only doit's public API is used, each piece as its documentation describes it:
- tasks are plain task dicts, turned into doit Tasks by `doit.loader.generate_tasks`;
- up to date is an `uptodate` callable (StepCheck, called as (task, values) with the
  values the task's python-action returned at its last success);
- state is a dependency backend object (StateDB: get/set/in_/remove/remove_all/dump)
  behind `doit.dependency.Dependency`, whose `get_values`/`get_status` the dry run reads;
- events come from a reporter object implementing doit's reporter methods, each spelled
  out and forwarded to a TaskEvents;
- a run is `TaskControl` + `MThreadRunner`, as doit's own `run` command drives them.
tests/test_doit_contract.py pins each of these; pyproject pins doit to the tested range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import rorunner.tasks  # noqa: F401 - first: doit without its package init (tasks._doitinit)

# isort: split
from doit.control import TaskControl
from doit.dependency import Dependency
from doit.exceptions import BaseFail, InvalidCommand, InvalidTask, UnmetDependency
from doit.loader import generate_tasks
from doit.runner import MThreadRunner
from doit.task import Stream, Task

from rorunner.engine._check import StepCheck
from rorunner.engine._db import StateDB
from rorunner.errors import RorunnerError


class TaskEvents(Protocol):
    """What the engine hears from doit besides its own actions' results."""

    def task_skipped(self, name: str) -> None:
        """doit found the task up to date and did not run it."""
        ...

    def task_refused(self, name: str, message: str, *, unmet: bool) -> None:
        """doit did not run the task or its action raised (`unmet`: a task_dep failed)."""
        ...


def doit_task(
    name: str,
    task: Mapping[str, Any],
    check: StepCheck,
    *,
    always: bool,
    action: Callable[[], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The dict doit gets for one step: a plain basename (so doit adds no group task, which
    it would run and record on every run), one action, the step's uptodate check."""
    flat = {k: v for k, v in task.items() if k not in ("name", "basename")}
    flat["basename"] = name
    flat["actions"] = [action] if action is not None else []
    flat["uptodate"] = [False] if always else [check]
    flat["io"] = {"capture": False}
    flat["verbosity"] = 0
    return flat


def run_tasks(
    tasks: Sequence[Mapping[str, Any]],
    db: StateDB,
    *,
    forks: int,
    force: bool,
    events: TaskEvents,
) -> None:
    """Run the tasks on `forks` threads, continuing past failures; `db` is closed after."""
    deps = _dependency(db)
    reporter = _Reporter(events)
    try:
        control = TaskControl(_load(tasks))
        control.process(None)
        runner = MThreadRunner(deps, reporter, True, force, Stream(0), max(1, forks))
        runner.run_all(control.task_dispatcher())
    except (InvalidTask, InvalidCommand) as exc:
        raise RorunnerError(f"doit refused the lowered plan: {exc}") from exc
    finally:
        deps.close()
    if reporter.errors:
        raise RorunnerError("doit refused the lowered plan: " + "; ".join(reporter.errors))


def saved_values(db: StateDB, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The values each task saved at its last success ({} when none)."""
    deps = _dependency(db)
    return {name: dict(deps.get_values(name)) for name in names}


def out_of_date(
    db: StateDB, tasks: Sequence[Mapping[str, Any]], names: Iterable[str]
) -> dict[str, str]:
    """Of `names`, those doit's own check would run (e.g. a target is missing), with why."""
    deps = _dependency(db)
    loaded = {task.name: task for task in _load(tasks)}
    late = {}
    for name in names:
        status = deps.get_status(loaded[name], loaded, get_log=True)
        if status.status != "up-to-date":
            missing = status.reasons.get("missing_target")
            late[name] = f"target missing: {missing[0]}" if missing else "out of date"
    return late


def _load(tasks: Sequence[Mapping[str, Any]]) -> list[Task]:
    return list(generate_tasks("rorunner", (dict(t) for t in tasks)))


def _dependency(db: StateDB) -> Dependency:
    """doit's dependency manager over our open backend (doit constructs a backend from a
    class; this one hands it the instance, which the engine also writes "started" to)."""

    def backend(name: str, codec: object, module_name: str | None = None) -> StateDB:
        return db

    return _Dependency(backend, db.name)


class _Dependency(Dependency):  # type: ignore[misc]  # doit is untyped
    """doit's dependency manager; a task's success is committed as one write."""

    def save_success(self, task: Task, result_hash: str | None = None) -> None:
        """doit's own, its values written as one row."""
        db: StateDB = self.backend
        with db.one_write(task.name):
            super().save_success(task, result_hash)


class _Reporter:
    """doit's reporter interface; what the engine needs goes on to TaskEvents."""

    def __init__(self, events: TaskEvents) -> None:
        self._events = events
        self.errors: list[str] = []

    def initialize(self, tasks: Mapping[str, Task], selected_tasks: Sequence[str]) -> None:
        """Nothing to prepare."""

    def get_status(self, task: Task) -> None:
        """Nothing to say before the check."""

    def execute_task(self, task: Task) -> None:
        """The step's own action reports its start."""

    def add_success(self, task: Task) -> None:
        """The step's own action reported its outcome."""

    def add_failure(self, task: Task, fail: BaseFail) -> None:
        """doit's own refusal (a failed task_dep) or an action that raised."""
        message = fail.get_msg().strip()
        self._events.task_refused(task.name, message, unmet=isinstance(fail, UnmetDependency))

    def skip_uptodate(self, task: Task) -> None:
        """Up to date: not run."""
        self._events.task_skipped(task.name)

    def skip_ignore(self, task: Task) -> None:
        """`doit ignore` is never used on rorunner's DB."""

    def cleanup_error(self, exception: BaseException) -> None:
        """No task has teardown actions."""

    def runtime_error(self, msg: str) -> None:
        """doit stopped on an invalid task while running: surfaced after the run."""
        self.errors.append(msg)

    def teardown_task(self, task: Task) -> None:
        """No task has teardown actions."""

    def complete_run(self) -> None:
        """The engine writes its own record."""
