"""What happened to each unit of work on each host, for `rorunner play` and `rorunner run`
alike: plain data, never exceptions; and the events a reporter hears while a run goes on."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol

Status = Literal["ok", "changed", "skipped", "failed", "unreachable", "not_run"]
STATUSES: tuple[Status, ...] = ("ok", "changed", "skipped", "failed", "unreachable", "not_run")
SUCCEEDED: tuple[Status, ...] = ("ok", "changed")  # it ran and did what it should
FAILED: tuple[Status, ...] = ("failed", "unreachable")  # it ran and did not
# The reason of a step an interrupt cut short (it started, its success was never recorded).
CUT_SHORT = "interrupted while running: it runs again on the next run"


@dataclass(frozen=True, kw_only=True)
class StepRef:
    """Which unit of work: a playbook step of one host (`task` is its doit task name), or an
    ad hoc command on one host (only `host` is set)."""

    host: str
    task: str = ""
    play: str = ""
    role: str = ""
    phase: str = ""
    step: str = ""
    stdout: str | None = None  # a playbook step's log files (where its output goes)
    stderr: str | None = None


@dataclass(frozen=True, kw_only=True)
class StepOutcome(StepRef):
    """What happened to one unit of work on one host in this run.

    ok: ran and succeeded on the controller, or an ad hoc command exited 0;
    changed: a playbook step ran and succeeded on or against the host;
    skipped: up to date; failed/unreachable: it ran and did not succeed (`rc` is the
    exit status when there is one); not_run: never started (its host failed earlier,
    the play hit max_fail_percentage, or the run was interrupted), or cut short by an
    interrupt. `reason` says why, in full: a failed command's says how it ended and quotes
    the last lines of its output (rorunner.tasks quote_output), and it is what the screen
    shows under the step's line and what the run record keeps. `stdout`/`stderr` name the
    step's log files once they exist.
    """

    status: Status
    rc: int | None = None
    duration: float = 0.0
    reason: str = ""
    stdout_text: str = ""  # output kept in memory (an ad hoc command's, whole)
    stderr_text: str = ""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready mapping (shallow: every field is a plain value)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class RunEvents(Protocol):
    """What a run (play or ad hoc) tells whoever watches it, as it happens. The calls come
    from worker threads, one at a time: an implementation never sees two at once."""

    def step_started(self, step: StepRef) -> None:
        """`step` starts now (it is not up to date, and nothing stops it)."""
        ...

    def step_finished(self, outcome: StepOutcome) -> None:
        """`outcome` is final: the step ran, was skipped as up to date, or will not run."""
        ...
