"""Run a plan: lower it, drive doit, collect outcomes, write the run record."""

from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rorunner.engine._cache import verified_noop
from rorunner.engine._db import StateDB
from rorunner.engine._doit import doit_task, run_tasks
from rorunner.engine._dry import likely_to_run
from rorunner.engine._hoststate import HostStates, drift_reasons, tracked
from rorunner.engine._limits import play_limits
from rorunner.engine._lock import ProjectLock
from rorunner.engine._lower import Lowered, LoweredBarrier, LoweredTask, lower_plan
from rorunner.engine._prewarm import Prewarm, hosts_to_prewarm
from rorunner.engine._record import PlanRecords, Recorder, Tee, open_record
from rorunner.engine._result import RunResult, summarise
from rorunner.engine._semantics import RESHIP, PlaySemantics, secret_reships
from rorunner.engine._state import RunState
from rorunner.engine._step import StepAction, StepCallable, outcome_for
from rorunner.errors import RorunnerError, TransportError, UnreachableError
from rorunner.model import PlanStep
from rorunner.outcome import CUT_SHORT, RunEvents, Status, StepOutcome
from rorunner.records import Invocation, new_run_id, prune_runs
from rorunner.transport import Pool, TransportPool

if TYPE_CHECKING:
    from rorunner.plan import Plan

STATE_DIR = ".rorunner"
DEFAULT_FORKS = 25
DEFAULT_KEEP_RUNS = 50
YOUNG_COLLECTION = 7000  # new objects between young collections when the run owns the process


@dataclass(frozen=True)
class EngineOptions:
    """Where the project lives and how to run it."""

    project_dir: Path  # the playbook's directory; state goes to <project_dir>/.rorunner
    forks: int = DEFAULT_FORKS
    force: bool = False
    keep_runs: int = DEFAULT_KEEP_RUNS  # run records (and their logs) kept; older ones go
    # What the command line asked for, kept in the run record (argv masked there).
    invocation: Invocation = field(default_factory=Invocation, compare=False)
    # Where steps get their connections. None: a Pool of the run's own, closed when it ends;
    # a given pool stays open for its owner (only an interrupt closes it, to stop commands).
    pool: TransportPool | None = field(default=None, compare=False)
    # Read every host's state and run again what drifted there (issue 10); without it, only
    # the hosts a run contacts anyway are checked.
    verify: bool = False
    # Called with each ship step and the run's pool just before the step writes (--diff).
    preview: Callable[[PlanStep, TransportPool], None] | None = field(default=None, compare=False)
    # After the run, under its lock: prove the plan a no-op for the plan cache (RunResult.noop).
    prove_noop: bool = False
    # The run is what the process is for, and ends it (the CLI's play): from its first step
    # on, young objects are collected every YOUNG_COLLECTION new ones, not 700. A library
    # caller's collector is left alone.
    owns_process: bool = False

    @property
    def state_dir(self) -> Path:
        """`.rorunner/` beside the playbook."""
        return self.project_dir / STATE_DIR

    @property
    def dep_file(self) -> Path:
        """The dependency DB."""
        return self.state_dir / "deps.sqlite"


def run_plan(plan: Plan, options: EngineOptions, events: RunEvents | None = None) -> RunResult:
    """Run every step that is not up to date; per-host outcomes come back as data, and
    `events` hears of each step as it starts and ends. The run record
    (`.rorunner/runs/<run_id>.json`) follows the run as it goes."""
    options.state_dir.mkdir(parents=True, exist_ok=True)
    with ProjectLock(options.state_dir / "lock"):
        run_id = new_run_id()
        log_dir = options.state_dir / "logs" / run_id
        lowered = lower_plan(plan, project_dir=str(options.project_dir), log_dir=str(log_dir))
        steps = lowered.steps
        db = StateDB(options.dep_file)
        pool = options.pool if options.pool is not None else Pool()
        states = HostStates(steps)
        interrupted = False
        try:
            expected, unread = _expected(plan, steps, db, options, pool, states)
            specs = hosts_to_prewarm(lt.step for lt in expected)
            own = steps if options.pool is None else ()  # a given pool stays open for its owner
            # Connecting starts before the record is written, which the handshakes overlap.
            prewarm = Prewarm(specs, options.forks, pool, known=unread, steps=own)
            try:
                records = PlanRecords.of(plan, steps)
                writer = open_record(
                    plan, records, options.state_dir, run_id, options.invocation, expected
                )
            except BaseException:
                prewarm.stop()
                raise
            recorder = Recorder(writer)
            state = RunState(play_limits(plan), Tee(recorder, events), direct=prewarm)
            recorder.stop_reason = state.stop_reason
            try:
                run = _Run(
                    db, log_dir, prewarm, pool, PlaySemantics(state, db), states, options.preview
                )
                if options.verify:
                    run = replace(run, unverified=unread)
                interrupted = _drive(lowered, state, options, run)
                state.deliver_events()
            finally:
                prewarm.stop()
                writer.close()
        finally:
            db.dump()
            if options.pool is None or interrupted:
                pool.close_all()
        outcomes = _complete(steps, state, interrupted)
        hosts = tuple(dict.fromkeys(step.host for step in plan.steps))
        result = RunResult(run_id, outcomes, summarise(hosts, outcomes), interrupted)
        final = writer.end(exit_code=result.exit_code, interrupted=interrupted)
        prune_runs(options.state_dir, max(options.keep_runs, 1))
        noop = None
        if options.prove_noop:
            noop = verified_noop(plan, options, steps, db, result, records)
        return replace(result, record=str(writer.path), record_doc=final, noop=noop)


def _expected(
    plan: Plan,
    steps: Sequence[LoweredTask],
    db: StateDB,
    options: EngineOptions,
    pool: TransportPool,
    states: HostStates,
) -> tuple[list[LoweredTask], dict[str, RorunnerError]]:
    """The steps that will run, and the hosts whose state could not be read (with why).

    The state of each host that will be contacted anyway and has a recorded step that would
    not run (with --verify: of every host) is read first, in one round trip per host; steps
    that drifted there, and the steps they feed, are marked stale. Secret files come back for
    a play that runs a step."""
    expected = likely_to_run(steps, db, options.force)
    going = {lt.name for lt in expected}
    contacted = hosts_to_prewarm(lt.step for lt in expected)
    check = states.hosts() if options.verify else states.undecided(contacted, going)
    unread = states.read_all(check, pool, options.forks)
    if not options.force:
        drift = drift_reasons(plan, states, going)
        for lowered in steps:
            if lowered.name in drift and lowered.name not in going:
                db.mark_stale(lowered.name, drift[lowered.name])
                expected.append(lowered)
    for reship in secret_reships(steps, (lt.name for lt in expected)):
        db.mark_stale(reship.name, RESHIP)
        expected.append(reship)
    return expected, unread


@dataclass(frozen=True)
class _Run:
    """What every step of one run shares."""

    db: StateDB
    log_dir: Path
    prewarm: Prewarm
    pool: TransportPool
    semantics: PlaySemantics
    host_states: HostStates
    preview: Callable[[PlanStep, TransportPool], None] | None = None
    # --verify: the hosts whose state could not be read, and why.
    unverified: Mapping[str, RorunnerError] = field(default_factory=dict)


def _drive(lowered: Lowered, state: RunState, options: EngineOptions, run: _Run) -> bool:
    tasks = [
        node.task if isinstance(node, LoweredBarrier) else _doit_task(node, state, run)
        for node in lowered.nodes
    ]
    if options.owns_process:
        _collect_less()
    try:
        with _sigterm_as_interrupt():
            run_tasks(
                tasks,
                run.db,
                forks=options.forks,
                force=options.force,
                events=_Events({lt.name: lt for lt in lowered.steps}, state, run.unverified),
            )
    except KeyboardInterrupt:
        state.interrupted.set()
        return True
    return False


def _collect_less() -> None:
    """Young collections 10x rarer for the rest of the process (EngineOptions.owns_process).

    At 100 lab hosts the collector held the GIL for ~100-130 ms of a run: ~150 young
    collections, and the full one they led to (30-60 ms) scanning everything made since
    planning. At 7,000 the older generations fill 10x slower, and no full collection comes:
    ~25 ms, for ~1 MiB more at the peak (cyclic garbage waits longer). Nothing is frozen: a
    connection closed during the run stays collectable."""
    gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])


def _doit_task(lowered: LoweredTask, state: RunState, run: _Run) -> dict[str, Any]:
    actions: tuple[StepCallable, ...] = tuple(lowered.task["actions"])
    check = lowered.check
    stem = run.log_dir / lowered.log_stem
    action = StepAction(
        lowered,
        actions,
        check,
        state,
        stem,
        run.pool,
        run.db.mark_started,
        run.prewarm,
        run.semantics,
        run.host_states,
        run.preview,
    )
    return doit_task(
        lowered.name, lowered.task, check, always=lowered.step.spec.always, action=action
    )


class _Events:
    """What doit tells the engine beyond the steps' own outcomes (a TaskEvents)."""

    def __init__(
        self,
        by_name: dict[str, LoweredTask],
        state: RunState,
        unverified: Mapping[str, RorunnerError],
    ) -> None:
        self._by_name = by_name
        self._state = state
        self._unverified = unverified

    def task_skipped(self, name: str) -> None:
        """Up to date; under --verify, a step its host's state could not confirm is not."""
        lowered = self._by_name.get(name)
        if lowered is None:
            return
        error = self._unverified.get(lowered.step.host)
        if error is not None and tracked(lowered.step):
            status: Status = "unreachable" if isinstance(error, UnreachableError) else "failed"
            reason = f"could not verify the host's state: {_cause(error)}"
            self._state.record(outcome_for(lowered, status, reason=reason))
            return
        self._state.record(outcome_for(lowered, "skipped", reason="up to date"))

    def task_refused(self, name: str, message: str, *, unmet: bool) -> None:
        """A step doit did not run (a failed dependency) or whose action raised."""
        lowered = self._by_name.get(name)
        if lowered is None or self._state.has(name):
            return
        lines = message.splitlines()
        status: Status = "not_run" if unmet else "failed"
        self._state.record(outcome_for(lowered, status, reason=lines[0] if lines else "failed"))


def _complete(
    lowered: Sequence[LoweredTask], state: RunState, interrupted: bool
) -> tuple[StepOutcome, ...]:
    recorded = state.outcomes()
    why = "interrupted" if interrupted else "not started"
    return tuple(
        recorded.get(lt.name)
        or outcome_for(lt, "not_run", reason=CUT_SHORT if state.was_started(lt.name) else why)
        for lt in lowered
    )


def _cause(error: RorunnerError) -> str:
    """An error's text without the host prefix (the step names its host)."""
    return error.cause if isinstance(error, TransportError) else str(error)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
