"""Dry run: ask the dependency DB which steps would run, executing and contacting nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rorunner.engine._db import StateDB
from rorunner.engine._doit import doit_task, out_of_date, saved_values
from rorunner.engine._lower import LoweredBarrier, LoweredTask, lower_plan
from rorunner.plan import barrier_label

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
    barrier: bool = False  # a barrier: nothing runs; `reason` says what it waits for


def dry_run(plan: Plan, options: EngineOptions) -> tuple[DryRunEntry, ...]:
    """Every step in plan order with its verdict; no lock, no connection, nothing written."""
    lowered = lower_plan(plan, project_dir=str(options.project_dir))
    steps = lowered.steps
    if not options.dep_file.exists():
        why = {lt.name: "always" if lt.step.spec.always else "new" for lt in steps}
    else:
        db = StateDB(options.dep_file)
        try:
            why = dict(zip((lt.name for lt in steps), reasons(steps, db), strict=True))
        finally:
            db.dump()
    return tuple(
        _barrier_entry(node)
        if isinstance(node, LoweredBarrier)
        else _entry(node, why[node.name], options.force)
        for node in lowered.nodes
    )


def reasons(lowered: Sequence[LoweredTask], db: StateDB) -> list[str]:
    """Why each step would run ('' when up to date), from the DB alone."""
    values = saved_values(db, (lt.name for lt in lowered))
    own = {lt.name: _own_reason(lt, db, values[lt.name]) for lt in lowered}
    # Up to date by its own check: doit may still run it (a target went missing).
    undecided = [lt for lt in lowered if not own[lt.name]]
    tasks = [doit_task(lt.name, lt.task, lt.check, always=False) for lt in undecided]
    late = out_of_date(db, tasks, (lt.name for lt in undecided))
    return [own[lt.name] or late.get(lt.name, "") for lt in lowered]


def likely_to_run(lowered: Sequence[LoweredTask], db: StateDB, force: bool) -> list[LoweredTask]:
    """Steps whose signature alone says they will run: always, forced, new or changed."""
    if force:
        return list(lowered)
    values = saved_values(db, (lt.name for lt in lowered))
    return [
        lt
        for lt in lowered
        if lt.step.spec.always or not lt.check.signature_matches(values[lt.name])
    ]


def _own_reason(lowered: LoweredTask, db: StateDB, values: dict[str, object]) -> str:
    if lowered.step.spec.always:
        return "always"
    if not db.in_(lowered.name):
        return "new"
    if db.started(lowered.name):
        return "did not finish last time"
    return lowered.check.explain(values)


def _entry(lowered: LoweredTask, reason: str, force: bool) -> DryRunEntry:
    step = lowered.step
    if force and reason == "":
        reason = "forced"
    return DryRunEntry(
        step.host, step.play, step.role, step.phase, step.name, bool(reason), reason, step.node
    )


def _barrier_entry(lowered: LoweredBarrier) -> DryRunEntry:
    barrier = lowered.barrier
    label = barrier_label(barrier)
    return DryRunEntry(
        "", barrier.play, "", "barrier", barrier.name, False, label, barrier.node, True
    )


def statuses(entries: tuple[DryRunEntry, ...]) -> dict[tuple[str, str, str, str, str], str]:
    """Graph statuses by plan node: 'would run (reason)' or 'up to date' (none for barriers)."""
    return {
        e.node: f"would run ({e.reason})" if e.would_run else "up to date"
        for e in entries
        if not e.barrier
    }
