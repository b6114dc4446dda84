"""How an action reports a classified failure to doit and, through it, to the engine."""

from __future__ import annotations

from typing import Any

import rorunner.tasks._doitinit  # noqa: F401 - before the first doit import

# isort: split
from doit.exceptions import BaseFail, TaskFailed

from rorunner.errors import RorunnerError, TransportError


class StepFailure(TaskFailed):  # type: ignore[misc]
    """A doit TaskFailed that keeps the typed rorunner error (doit drops raised exceptions)."""

    def __init__(self, error: RorunnerError, exit_status: int | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.exit_status = exit_status

    def __reduce__(self) -> tuple[Any, ...]:
        # doit's process runner pickles failures; a TransportError cannot rebuild from its args.
        if isinstance(self.error, TransportError):
            kind = type(self.error)
            return (_rebuild, (kind, self.error.host, self.error.cause, self.exit_status))
        return (StepFailure, (self.error, self.exit_status))


def _rebuild(
    kind: type[TransportError], host: str, cause: str, exit_status: int | None
) -> StepFailure:
    return StepFailure(kind(host, cause), exit_status)


def step_error(fail: BaseFail | None) -> RorunnerError | None:
    """The typed error behind a doit failure, None for an unexpected exception doit wrapped."""
    if isinstance(fail, StepFailure):
        return fail.error
    return None
