"""The action doit runs for each step: gate, execute the generator's actions, record."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from doit.action import CmdAction
from doit.exceptions import BaseFail, TaskError

from rorunner.engine._prewarm import REMOTE_KINDS, Prewarm
from rorunner.engine._result import Status, StepOutcome
from rorunner.engine._state import RunState
from rorunner.errors import UnreachableError
from rorunner.tasks import step_error
from rorunner.tasks._lower import LoweredTask, SignatureCheck


def outcome_for(lowered: LoweredTask, status: Status, **details: Any) -> StepOutcome:
    """A StepOutcome for a lowered step."""
    step = lowered.step
    return StepOutcome(
        task=lowered.name,
        host=step.host,
        play=step.play,
        role=step.role,
        phase=step.phase,
        step=step.name,
        status=status,
        **details,
    )


@dataclass(frozen=True)
class StepAction:
    """The single doit action of a step.

    It never reports a failure to doit: a failed step must stop only its own
    host, while doit would also stop every task behind a cross-host edge (a
    serial barrier). Failures are recorded in RunState instead, and the step's
    signature is forgotten so that its next run repeats it.
    """

    lowered: LoweredTask
    actions: tuple[Any, ...]
    state: RunState
    log_stem: Path | None
    prewarm: Prewarm | None = None
    # doit inspects every action's signature on each run (to offer it keyword arguments);
    # this one takes none, and inspecting a callable instance is slow.
    __signature__: ClassVar[inspect.Signature] = inspect.Signature()

    def __call__(self) -> None:
        step = self.lowered.step
        blocked = self.state.blocked(step.host, step.play)
        if blocked:
            self._forget()
            self.state.record(outcome_for(self.lowered, "not_run", reason=blocked))
            return
        start = time.monotonic()
        if self._connect_failed(start):
            return
        for created in step.spec.creates:
            # A local_pre may promise build/x.tgz; give it the directory to write into.
            Path(created).parent.mkdir(parents=True, exist_ok=True)
        with self.state.file_locks(self.lowered.shared_files):
            fail = _execute(self.actions)
        status, rc, reason = _classify(fail, step.spec.kind)
        if fail is not None and self.state.interrupted.is_set():
            # Cut short by Ctrl-C (its connection was closed under it): not its own failure.
            status, rc, reason = "not_run", None, "interrupted"
        if status not in ("ok", "changed"):
            self._forget()
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

    def _connect_failed(self, start: float) -> bool:
        """Wait for the host's early connect; record its failure as this step's outcome."""
        if self.prewarm is None or self.lowered.step.spec.kind not in REMOTE_KINDS:
            return False
        error = self.prewarm.wait(self.lowered.step.host)
        if error is None:
            return False
        self._forget()
        status: Status = "unreachable" if isinstance(error, UnreachableError) else "failed"
        duration = round(time.monotonic() - start, 3)
        self.state.record(outcome_for(self.lowered, status, duration=duration, reason=str(error)))
        return True

    def _forget(self) -> None:
        for check in self.lowered.task.get("uptodate", ()):
            if isinstance(check, SignatureCheck):
                check.forget()

    def _logs(self) -> dict[str, str | None]:
        if self.log_stem is None:
            return {}
        out = self.log_stem.with_name(self.log_stem.name + ".stdout")
        err = self.log_stem.with_name(self.log_stem.name + ".stderr")
        return {
            "stdout": str(out) if out.exists() else None,
            "stderr": str(err) if err.exists() else None,
        }


def _execute(actions: Sequence[Any]) -> BaseFail | None:
    for action in actions:
        try:
            result = _call(action)
        except Exception as exc:  # an action's bug fails its step, not the run
            return TaskError(f"{type(exc).__name__}: {exc}", exc)
        if isinstance(result, BaseFail):
            return result
        if result is False:
            return TaskError(f"action {action!r} returned False")
    return None


def _call(action: Any) -> Any:
    if isinstance(action, tuple):
        func, args, kwargs = (*action, None, None)[:3]
        return func(*(args or ()), **(kwargs or {}))
    if isinstance(action, str | list):
        return CmdAction(action, shell=isinstance(action, str)).execute()
    call: Callable[[], Any] = action
    return call()


def _classify(fail: BaseFail | None, kind: str) -> tuple[Status, int | None, str]:
    if fail is None:
        return ("ok" if kind == "local" else "changed"), 0, ""
    error = step_error(fail)
    rc = getattr(fail, "exit_status", None)
    if isinstance(error, UnreachableError):
        return "unreachable", None, str(error)
    if rc is not None:
        return "failed", rc, ""
    message = str(error) if error is not None else fail.get_msg().strip()
    return "failed", rc, message.splitlines()[0] if message else "failed"
