"""The action doit runs for each step: gate, execute the generator's actions, record."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypedDict

from rorunner.engine._check import StepCheck
from rorunner.engine._lower import LoweredTask
from rorunner.engine._prewarm import REMOTE_KINDS, Prewarm
from rorunner.engine._state import RunState
from rorunner.errors import UnreachableError
from rorunner.outcome import SUCCEEDED, Status, StepOutcome, StepRef
from rorunner.tasks import StepFailure
from rorunner.transport import TransportPool

# What the task generators put in a task's actions: plain data, called with the run's pool.
StepCallable = Callable[[TransportPool], StepFailure | None]


def ref_for(lowered: LoweredTask) -> StepRef:
    """The StepRef of a lowered step."""
    return StepRef(**_identity(lowered))


def outcome_for(lowered: LoweredTask, status: Status, **details: Any) -> StepOutcome:
    """A StepOutcome for a lowered step."""
    return StepOutcome(**_identity(lowered), status=status, **details)


class _Identity(TypedDict):
    host: str
    task: str
    play: str
    role: str
    phase: str
    step: str


def _identity(lowered: LoweredTask) -> _Identity:
    step = lowered.step
    return {
        "host": step.host,
        "task": lowered.name,
        "play": step.play,
        "role": step.role,
        "phase": step.phase,
        "step": step.name,
    }


@dataclass(frozen=True)
class StepAction:
    """The single doit action of a step; it returns the values doit saves for the step.

    It never reports a failure to doit: a failed step must stop only its own
    host, while doit would also stop every task behind a cross-host edge (a
    serial barrier). Failures are recorded in RunState instead, and the action
    returns no values, so nothing of a success is saved and the next run repeats
    the step. Before acting it has `mark_started` record the step as started,
    so a run killed during the step repeats it too.
    """

    lowered: LoweredTask
    actions: tuple[StepCallable, ...]
    check: StepCheck
    state: RunState
    log_stem: Path | None
    pool: TransportPool
    mark_started: Callable[[str], None]
    prewarm: Prewarm | None = None
    # doit inspects every action's signature on each run (to offer it keyword arguments);
    # this one takes none, and inspecting a callable instance is slow.
    __signature__: ClassVar[inspect.Signature] = inspect.Signature()

    def __call__(self) -> dict[str, Any]:
        step = self.lowered.step
        blocked = self.state.blocked(step.host, step.play)
        if blocked:
            self.state.record(outcome_for(self.lowered, "not_run", reason=blocked))
            return {}
        start = time.monotonic()
        if self._connect_failed(start):
            return {}
        self.mark_started(self.lowered.name)
        self.state.started(ref_for(self.lowered))
        for created in step.spec.creates:
            # A local_pre may promise build/x.tgz; give it the directory to write into.
            Path(created).parent.mkdir(parents=True, exist_ok=True)
        with self.state.file_locks(self.lowered.shared_files):
            status, rc, reason = _run_actions(self.actions, self.pool, step.spec.kind)
            succeeded = status in SUCCEEDED
            values = self.check.values_now() if succeeded else {}
        if not succeeded and self.state.interrupted.is_set():
            # Cut short by Ctrl-C (its connection was closed under it): not its own failure.
            status, rc, reason = "not_run", None, "interrupted"
        self.state.record(
            outcome_for(
                self.lowered,
                status,
                rc=rc,
                duration=round(time.monotonic() - start, 3),
                reason=reason,
                **self._logs(),
            )
        )
        return values

    def _connect_failed(self, start: float) -> bool:
        """Wait for the host's early connect; record its failure as this step's outcome."""
        if self.prewarm is None or self.lowered.step.spec.kind not in REMOTE_KINDS:
            return False
        error = self.prewarm.wait(self.lowered.step.host)
        if error is None:
            return False
        status: Status = "unreachable" if isinstance(error, UnreachableError) else "failed"
        duration = round(time.monotonic() - start, 3)
        self.state.record(outcome_for(self.lowered, status, duration=duration, reason=str(error)))
        return True

    def _logs(self) -> dict[str, str | None]:
        if self.log_stem is None:
            return {}
        out = self.log_stem.with_name(self.log_stem.name + ".stdout")
        err = self.log_stem.with_name(self.log_stem.name + ".stderr")
        return {
            "stdout": str(out) if out.exists() else None,
            "stderr": str(err) if err.exists() else None,
        }


def _run_actions(
    actions: Sequence[StepCallable], pool: TransportPool, kind: str
) -> tuple[Status, int | None, str]:
    """Call the actions in order; the first failure ends the step. (status, rc, reason)."""
    for action in actions:
        try:
            fail = action(pool)
        except Exception as exc:  # an action's bug fails its step, not the run
            return "failed", None, f"{type(exc).__name__}: {exc}"
        if fail is not None:
            return _classify(fail)
    return ("ok" if kind == "local" else "changed"), 0, ""


def _classify(fail: StepFailure) -> tuple[Status, int | None, str]:
    error = fail.error
    if isinstance(error, UnreachableError):
        return "unreachable", None, str(error)
    if fail.exit_status is not None:
        return "failed", fail.exit_status, ""
    message = str(error)
    return "failed", None, message.splitlines()[0] if message else "failed"
