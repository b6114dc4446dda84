"""Dry run: ask the dependency DB which steps would run, executing and contacting nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from rorunner.engine._check import StepCheck
from rorunner.engine._db import StateDB
from rorunner.engine._doit import doit_task, out_of_date, saved_values
from rorunner.engine._hoststate import verify_reasons
from rorunner.engine._lower import LoweredBarrier, LoweredTask, lower_plan
from rorunner.engine._semantics import RESHIP, secret_reships
from rorunner.model import Barrier, Node, PlanStep
from rorunner.plan import barrier_label
from rorunner.records import DRY_RUN_MAX_STEPS, DryRunStep, forget_dry_run, write_dry_run

if TYPE_CHECKING:
    from rorunner.engine._run import EngineOptions
    from rorunner.plan import Plan


class DryRunEntry(NamedTuple):
    """One step of one host: would it run, and why (new, inputs changed, always, forced...).

    A named tuple: a dry run makes one per step (700,000 at 100,000 hosts x 7 steps)."""

    host: str
    play: str
    role: str
    phase: str
    step: str
    would_run: bool
    reason: str
    barrier: bool = False  # a barrier: nothing runs; `reason` says what it waits for

    @property
    def node(self) -> Node:
        """The plan node it is about."""
        return (self.host, self.play, self.role, self.phase, self.step)


def dry_run(plan: Plan, options: EngineOptions) -> tuple[DryRunEntry, ...]:
    """Every step in plan order with its verdict; no lock, nothing written, and no connection
    but with `options.verify` (one per host, to read its state)."""
    if not options.dep_file.exists():  # nothing ran yet: every step is new, no task needed
        return _all_new(plan.nodes)
    lowered = lower_plan(plan, project_dir=str(options.project_dir))
    steps = lowered.steps
    db = StateDB(options.dep_file)
    try:
        why = dict(zip((lt.name for lt in steps), reasons(steps, db), strict=True))
    finally:
        db.dump()
    if options.verify:  # issue 10: what the hosts' state says (this connects to every host)
        going = {name for name, reason in why.items() if reason}
        for name, reason in verify_reasons(plan, steps, options.forks, going).items():
            why[name] = why[name] or reason
    _staled(steps, why)
    return tuple(
        _barrier_entry(node.barrier)
        if isinstance(node, LoweredBarrier)
        else _entry(node.step, why[node.name], options.force)
        for node in lowered.nodes
    )


def _all_new(nodes: Sequence[PlanStep | Barrier]) -> tuple[DryRunEntry, ...]:
    """Every node's entry when nothing ran yet: each step would run, as new or always (made
    without a call per step: a plan may have 700,000)."""
    make = tuple.__new__
    return tuple(
        make(
            DryRunEntry,
            (n.host, n.play, n.role, n.phase, n.name, True, "new", False)
            if not n.spec.always
            else (n.host, n.play, n.role, n.phase, n.name, True, "always", False),
        )
        if isinstance(n, PlanStep)
        else _barrier_entry(n)
        for n in nodes
    )


def _staled(steps: Sequence[LoweredTask], why: dict[str, str]) -> None:
    """Steps that a running step makes stale (a play's local_after, the removal of secret
    files) would run too, as would the ship steps of secret files a running step may need."""
    for reship in secret_reships(steps, (name for name, reason in why.items() if reason)):
        why[reship.name] = RESHIP
    for lowered in steps:
        if why[lowered.name]:
            for name in lowered.invalidates:
                why[name] = why[name] or f"a host step of play {lowered.step.play} would run"


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
        if lt.step.spec.always
        or not StepCheck(lt.step.signature).signature_matches(values[lt.name])
    ]


def _own_reason(lowered: LoweredTask, db: StateDB, values: dict[str, object]) -> str:
    if lowered.step.spec.always:
        return "always"
    if not db.in_(lowered.name):
        return "new"
    if db.started(lowered.name):
        return "did not finish last time"
    if db.stale(lowered.name):
        return db.stale(lowered.name)
    return lowered.check.explain(values)


def _entry(step: PlanStep, reason: str, force: bool) -> DryRunEntry:
    if force and reason == "":
        reason = "forced"
    return DryRunEntry(step.host, step.play, step.role, step.phase, step.name, bool(reason), reason)


def _barrier_entry(barrier: Barrier) -> DryRunEntry:
    label = barrier_label(barrier)
    return DryRunEntry("", barrier.play, "", "barrier", barrier.name, False, label, True)


def statuses(entries: tuple[DryRunEntry, ...]) -> dict[Node, str]:
    """Graph statuses by plan node: 'would run (reason)' or 'up to date' (none for barriers)."""
    return {
        e.node: f"would run ({e.reason})" if e.would_run else "up to date"
        for e in entries
        if not e.barrier
    }


def save_dry_run(
    plan: Plan,
    options: EngineOptions,
    entries: Sequence[DryRunEntry],
    max_steps: int = DRY_RUN_MAX_STEPS,
) -> Path | None:
    """Leave the verdicts in `.rorunner/dry-run.json` (steps in plan order, the plan graph
    with them as node statuses) for readers such as the dashboard; returns its path, or
    None (and no state, not even an older one) when the plan has more than `max_steps`."""
    if len(plan.steps) > max_steps:
        forget_dry_run(options.state_dir)
        return None
    names = {node.node: plan.task_name(node) for node in plan.nodes}
    steps = [DryRunStep(names[e.node], e.would_run, e.reason) for e in entries if not e.barrier]
    graph = plan.graph_document(status=statuses(tuple(entries)))
    return write_dry_run(options.state_dir, options.invocation, steps, graph)
