"""The action doit runs for each step: gate, execute the generator's actions, record."""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypedDict

from rorunner.engine._check import StepCheck
from rorunner.engine._db import DBClosedError
from rorunner.engine._hostrecord import RECORD_FAILED, RECORD_FAILED_LINE
from rorunner.engine._hoststate import HostStates
from rorunner.engine._lower import LoweredTask
from rorunner.engine._prewarm import REMOTE_KINDS, Prewarm
from rorunner.engine._semantics import PlaySemantics
from rorunner.engine._state import RunState
from rorunner.errors import TransportError, UnreachableError
from rorunner.model import PlanStep, StepSpec
from rorunner.outcome import CUT_SHORT, SUCCEEDED, Status, StepOutcome, StepRef
from rorunner.tasks import StepFailure
from rorunner.transport import TransportPool

COMMAND_KINDS = ("local", "remote")  # steps that run commands, and so write logs
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
    semantics: PlaySemantics | None = None  # issue 10: controller env, stale local_after
    host_states: HostStates | None = None  # issue 10: a success is recorded on the host
    preview: Callable[[PlanStep, TransportPool], None] | None = None  # ship steps (--diff)
    # doit inspects every action's signature on each run (to offer it keyword arguments);
    # this one takes none, and inspecting a callable instance is slow.
    __signature__: ClassVar[inspect.Signature] = inspect.Signature()

    def __call__(self) -> dict[str, Any]:
        step = self.lowered.step
        semantics = self.semantics
        cleanup = step.phase == "cleanup"
        blocked = self.state.blocked(step.host, step.play, cleanup=cleanup) or (
            semantics.blocked(self.lowered) if semantics else ""
        )
        if blocked:
            self.state.record(outcome_for(self.lowered, "not_run", reason=blocked))
            return {}
        start = time.monotonic()
        if self._connect_failed(start):
            return {}
        try:
            self.mark_started(self.lowered.name)
            if semantics is not None:
                semantics.starting(self.lowered)
        except DBClosedError:  # the run is ending: the step is recorded as interrupted
            return {}
        actions = self.actions
        if semantics is not None:
            actions = semantics.actions(self.lowered, actions)
        logs = self._logs(planned=True)
        ref = ref_for(self.lowered)
        self.state.started(replace(ref, stdout=logs.get("stdout"), stderr=logs.get("stderr")))
        if self.preview is not None and step.spec.kind == "ship":
            self.preview(step, self.pool)
        for created in step.spec.creates:
            # A local_pre may promise build/x.tgz; give it the directory to write into.
            Path(created).parent.mkdir(parents=True, exist_ok=True)
        with self.state.file_locks(self.lowered.shared_files):
            status, rc, reason = _run_actions(actions, self.pool, step.spec)
            if status in SUCCEEDED and self.host_states is not None:
                status, rc, reason = self._record_on_host(status, rc, reason)
            succeeded = status in SUCCEEDED
            values = self.check.values_now() if succeeded else {}
        if not succeeded and self.state.interrupted.is_set():
            # Cut short by Ctrl-C (its connection was closed under it): not its own failure.
            status, rc, reason = "not_run", None, CUT_SHORT
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

    def _record_on_host(
        self, status: Status, rc: int | None, reason: str
    ) -> tuple[Status, int | None, str]:
        """Record the success in the host's state; a failure to do so fails the step (the
        next run repeats it)."""
        assert self.host_states is not None
        try:
            self.host_states.applied(self.lowered, self.pool)
        except TransportError as exc:
            status = "unreachable" if isinstance(exc, UnreachableError) else "failed"
            return status, None, f"the step ran, but recording it on the host failed: {exc}"
        return status, rc, reason

    def _connect_failed(self, start: float) -> bool:
        """Wait for the host's early connect; record its failure as this step's outcome."""
        if self.prewarm is None or self.lowered.step.spec.kind not in REMOTE_KINDS:
            return False
        error = self.prewarm.wait(self.lowered.step.host)
        if error is None:
            return False
        status: Status = "unreachable" if isinstance(error, UnreachableError) else "failed"
        duration = round(time.monotonic() - start, 3)
        reason = _reason(error)
        self.state.record(outcome_for(self.lowered, status, duration=duration, reason=reason))
        return True

    def _logs(self, planned: bool = False) -> dict[str, str | None]:
        """The step's log files: those that exist, or (`planned`) where a command step's
        output will go."""
        if self.log_stem is None or self.lowered.step.spec.kind not in COMMAND_KINDS:
            return {}  # only command steps write logs
        out = f"{self.log_stem}.stdout"
        err = f"{self.log_stem}.stderr"
        return {
            "stdout": out if planned or os.path.exists(out) else None,
            "stderr": err if planned or os.path.exists(err) else None,
        }


def _run_actions(
    actions: Sequence[StepCallable], pool: TransportPool, spec: StepSpec
) -> tuple[Status, int | None, str]:
    """Call the actions in order; the first failure ends the step. (status, rc, reason)."""
    for action in actions:
        try:
            fail = action(pool)
        except Exception as exc:  # an action's bug fails its step, not the run
            return "failed", None, f"{type(exc).__name__}: {exc}"
        if fail is not None:
            return _classify(fail, spec)
    return ("ok" if spec.kind == "local" else "changed"), 0, ""


def _classify(fail: StepFailure, spec: StepSpec) -> tuple[Status, int | None, str]:
    """(status, rc, reason): the reason is the error's whole text (a failed command's says
    how it ended and quotes the end of its output), without the host prefix."""
    error = fail.error
    reason = _reason(error)
    if isinstance(error, UnreachableError):
        return "unreachable", None, reason
    if fail.exit_status == RECORD_FAILED and RECORD_FAILED_LINE in reason:
        # The command succeeded; the shell that ran it could not append its record.
        quoted = reason.partition("\n")[2]
        return "failed", None, f"{RECORD_FAILED_LINE.removeprefix('rorunner: ')}\n{quoted}"
    if fail.exit_status is not None:
        # The action names the command it ran (wrapped for the host); name the step's own.
        quoted = reason.partition("\n")[2]
        reason = f"{_what(spec)} exited with status {fail.exit_status}"
        reason += f"\n{quoted}" if quoted else ""
    return "failed", fail.exit_status, reason or "failed"


def _what(spec: StepSpec) -> str:
    """The step's command (its first line) or script, as a reason names it."""
    if spec.command is not None:
        lines = spec.command.strip().splitlines() or [""]
        more = " ..." if len(lines) > 1 else ""
        return f"command `{lines[0][:120]}{more}`"
    return f"script {spec.script}"


def _reason(error: BaseException) -> str:
    """An error's text for a step's reason: its cause alone when it names the host (the
    step names it already)."""
    return error.cause if isinstance(error, TransportError) else str(error)
