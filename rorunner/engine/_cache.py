"""Whether a plan is a verified no-op, for the plan cache (rorunner.records PlanCache): every
step up to date in the dependency DB as a dry run decides it. Proved at the end of the run
itself, under its project lock, from what the run holds: its lowered steps and the DB's rows
as it closed the DB (every one of them on disk: `StateDB.committed`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rorunner.engine._check import FILES, StepCheck
from rorunner.engine._db import StateDB
from rorunner.engine._doit import saved_values
from rorunner.engine._lower import LoweredTask
from rorunner.engine._record import PlanRecords
from rorunner.engine._result import RunResult, summarise
from rorunner.engine._step import outcome_for
from rorunner.outcome import SUCCEEDED, Status
from rorunner.records import DepState, PlayRecord, StepRecord, WatchedFile, path_state

if TYPE_CHECKING:
    from rorunner.engine._run import EngineOptions
    from rorunner.plan import Plan

UP_TO_DATE = "up to date"
_WITH_TARGETS = ("local", "fetch")  # a skipped step's reason, as a run records it
_DONE: frozenset[Status] = frozenset({*SUCCEEDED, "skipped"})


@dataclass(frozen=True)
class NoopProof:
    """A plan with nothing to do: the DB and the files doit's check reads as they were found,
    what its run record lists, and the result an unchanged run of it reports."""

    db: DepState
    watched: tuple[WatchedFile, ...]
    targets: tuple[str, ...]
    plays: tuple[PlayRecord, ...]
    steps: tuple[StepRecord, ...]
    result: RunResult


def verified_noop(
    plan: Plan,
    options: EngineOptions,
    steps: Sequence[LoweredTask],
    db: StateDB,
    ran: RunResult,
    records: PlanRecords,
) -> NoopProof | None:
    """After a run of `plan` (`ran`), whose lowered `steps`, closed `db` and plan `records`
    these are, the caller still holding the project lock: the proof that no step would run
    now, or None (the run did not end with every step done, one would run, `always` steps,
    or the DB file may not hold what `db` does)."""
    if ran.interrupted or ran.exit_code != 0 or not db.committed():
        return None
    if any(outcome.status not in _DONE for outcome in ran.outcomes):
        return None
    with contextlib.suppress(Exception):  # a cache is an optimisation: the run stands
        return _proof(plan, options, steps, db, records)
    return None


def _proof(
    plan: Plan,
    options: EngineOptions,
    steps: Sequence[LoweredTask],
    db: StateDB,
    records: PlanRecords,
) -> NoopProof | None:
    if not plan.steps or not options.dep_file.exists():
        return None
    if any(lt.step.spec.always for lt in steps):
        return None
    # Only local and fetch steps have targets; a step reads run-made files only when some
    # step makes files.
    made = any(step.spec.creates for step in plan.steps)
    tasked = {lt.name for lt in steps if made or lt.step.spec.kind in _WITH_TARGETS}
    targets = sorted({str(t) for lt in steps if lt.name in tasked for t in _targets(lt)})
    values = saved_values(db, (lt.name for lt in steps))
    if not _up_to_date(steps, tasked, values, targets):
        return None
    watched = _watched([lt for lt in steps if made and lt.name in tasked], values)
    if watched is None:
        return None
    return NoopProof(
        db=DepState.now(options.dep_file),
        watched=watched,
        targets=tuple(targets),
        plays=records.plays,
        steps=records.steps,
        result=_unchanged_result(plan, steps),
    )


def _targets(lowered: LoweredTask) -> list[str]:
    task = lowered.task
    if task.get("file_dep"):  # doit would check files this proof does not cover
        raise _NoProof
    return [str(target) for target in task.get("targets", ())]


class _NoProof(Exception):
    """A task this module cannot vouch for."""


def _up_to_date(
    steps: Sequence[LoweredTask],
    tasked: set[str],
    values: dict[str, dict[str, object]],
    targets: Sequence[str],
) -> bool:
    """What doit's check of these tasks says (each is lowered with no file_dep: its
    `uptodate` StepCheck, then its targets), from the values their successes saved; a step
    started and never finished, or marked stale, has none (issue 10's markers replace them)."""
    for lt in steps:
        check = lt.check if lt.name in tasked else StepCheck(lt.step.signature)
        if check.explain(values[lt.name]):
            return False
    return all(os.path.exists(target) for target in targets)


def _watched(
    steps: Sequence[LoweredTask], values: dict[str, dict[str, object]]
) -> tuple[WatchedFile, ...] | None:
    """Each run-made file a step reads, with the digest its step's success saved."""
    found: dict[str, WatchedFile] = {}
    for lt in steps:
        saved = values.get(lt.name, {}).get(FILES)
        for path in lt.watched:
            entry = saved.get(path) if isinstance(saved, dict) else None
            if not isinstance(entry, list) or len(entry) != 3:
                return None
            found[path] = WatchedFile(path, path_state(path, "o"), str(entry[2]))
    return tuple(found.values())


def _unchanged_result(plan: Plan, steps: Sequence[LoweredTask]) -> RunResult:
    """What a run of the plan reports when every step is up to date."""
    outcomes = tuple(outcome_for(lt, "skipped", reason=UP_TO_DATE) for lt in steps)
    hosts = tuple(dict.fromkeys(step.host for step in plan.steps))
    return RunResult("", outcomes, summarise(hosts, outcomes))
