"""Dry run: ask doit's dependency DB which steps would run, executing and contacting nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from doit.dependency import Dependency, JSONCodec

from rorunner.engine._db import MissingIsChanged, WriteThroughSqliteDB
from rorunner.engine._doit import flat_task, load_doit_tasks
from rorunner.tasks._lower import LoweredTask, lower

if TYPE_CHECKING:
    from rorunner.engine._run import EngineOptions
    from rorunner.plan import Plan


@dataclass(frozen=True)
class DryRunEntry:
    """One step of one host: would it run, and why (new, inputs changed, always, forced...)."""

    host: str
    play: str
    role: str
    phase: str
    step: str
    would_run: bool
    reason: str
    node: tuple[str, str, str, str, str]


def dry_run(plan: Plan, options: EngineOptions) -> tuple[DryRunEntry, ...]:
    """Every step in plan order with its verdict; no lock, no connection, nothing written."""
    lowered = lower(plan, project_dir=str(options.project_dir))
    if not options.dep_file.exists():
        return tuple(
            _entry(lt, "always" if lt.step.spec.always else "new", options.force) for lt in lowered
        )
    deps = Dependency(WriteThroughSqliteDB, str(options.dep_file), checker_cls=MissingIsChanged)
    try:
        tasks = load_doit_tasks([flat_task(lt.name, lt.task) for lt in lowered])
        return tuple(_entry(lt, _reason(lt, deps, tasks), options.force) for lt in lowered)
    finally:
        deps.close()


def likely_to_run(lowered: Sequence[LoweredTask], options: EngineOptions) -> list[LoweredTask]:
    """Steps whose signature alone says they will run: always, forced, new or changed."""
    if options.force or not options.dep_file.exists():
        return list(lowered)
    db = WriteThroughSqliteDB(str(options.dep_file), JSONCodec())
    try:
        return [
            lt
            for lt in lowered
            if lt.step.spec.always or _saved_signature(db.stored(lt.name)) != lt.step.signature
        ]
    finally:
        db.dump()


def _saved_signature(stored: Mapping[str, Any]) -> Any:
    return (stored.get("_values_:") or {}).get("_config_changed")


def _entry(lowered: LoweredTask, reason: str, force: bool) -> DryRunEntry:
    step = lowered.step
    if force and reason == "":
        reason = "forced"
    return DryRunEntry(
        step.host, step.play, step.role, step.phase, step.name, bool(reason), reason, step.node
    )


def _reason(lowered: LoweredTask, deps: Any, tasks: Mapping[str, Any]) -> str:
    """'' when up to date, else why the step would run."""
    if lowered.step.spec.always:
        return "always"
    stored = deps.backend.stored(lowered.name)
    if not stored:
        return "new"
    saved = _saved_signature(stored)
    if saved is None:
        return "did not succeed last time"
    if saved != lowered.step.signature:
        return "inputs changed"
    status = deps.get_status(tasks[lowered.name], tasks)
    return "" if status.status == "up-to-date" else "files changed"


def statuses(entries: tuple[DryRunEntry, ...]) -> dict[tuple[str, str, str, str, str], str]:
    """Graph statuses by plan node: 'would run (reason)' or 'up to date'."""
    return {e.node: f"would run ({e.reason})" if e.would_run else "up to date" for e in entries}
