"""How an action reports a classified failure to doit and, through it, to the engine."""

from __future__ import annotations

from doit.exceptions import BaseFail, TaskFailed

from rorunner.errors import RorunnerError


class StepFailure(TaskFailed):  # type: ignore[misc]
    """A doit TaskFailed that keeps the typed rorunner error (doit drops raised exceptions)."""

    def __init__(self, error: RorunnerError, exit_status: int | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.exit_status = exit_status


def step_error(fail: BaseFail | None) -> RorunnerError | None:
    """The typed error behind a doit failure, None for an unexpected exception doit wrapped."""
    if isinstance(fail, StepFailure):
        return fail.error
    return None
