"""The reporter, for `rorunner play` and `rorunner run` alike: live lines as steps (or ad
hoc commands) finish, the recap or summary, the dry-run listing and the JSON record.

Besides the CLI this is the only module that prints. Lines are written whole,
under one lock, so worker threads never interleave mid-line.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from rorunner.outcome import StepOutcome, StepRef

if TYPE_CHECKING:  # only types: `rorunner run` reports without loading the engine (and doit)
    from rorunner.engine import DryRunEntry, RunResult

_WIDTH = 11  # longest status word ("unreachable") plus a space


def step_line(outcome: StepOutcome) -> str:
    """One status line: status, host, play > role > phase > step, details."""
    where = f"{outcome.play} > {outcome.role} > {outcome.phase} > {outcome.step}"
    return f"{outcome.status:<{_WIDTH}} [{outcome.host}] {where}{_details(outcome)}"


def _details(outcome: StepOutcome) -> str:
    parts: list[str] = []
    if outcome.status == "skipped":
        parts.append("up to date")
    if outcome.rc not in (None, 0):
        parts.append(f"rc={outcome.rc}")
    if outcome.status not in ("skipped", "not_run"):
        parts.append(f"{outcome.duration:.2f}s")
    if outcome.reason and outcome.status != "skipped":
        parts.append(outcome.reason)
    if outcome.status == "failed" and outcome.stderr:
        parts.append(f"stderr: {outcome.stderr}")
    return f" ({'; '.join(parts)})" if parts else ""


def command_block(outcome: StepOutcome) -> str:
    """An ad hoc command's result on one host: a head line, its stdout, then its stderr."""
    if outcome.status == "unreachable":
        head = f"{outcome.host} | UNREACHABLE | {outcome.reason}"
    elif outcome.rc is None:
        head = f"{outcome.host} | FAILED | {outcome.reason}"
    else:
        head = f"{outcome.host} | {outcome.status.upper()} | rc={outcome.rc} >>"
    parts = [head]
    if outcome.stdout_text:
        parts.append(outcome.stdout_text.rstrip("\n"))
    if outcome.stderr_text:
        parts.append("stderr:\n" + outcome.stderr_text.rstrip("\n"))
    return "\n".join(parts)


def command_summary(outcomes: Sequence[StepOutcome]) -> str:
    """The last line of an ad hoc run: hosts and how many ended ok, failed, unreachable."""
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "failed", "unreachable")}
    return (
        f"{len(outcomes)} hosts: ok={counts['ok']} failed={counts['failed']} "
        f"unreachable={counts['unreachable']}"
    )


def recap_lines(result: RunResult) -> list[str]:
    """Ansible-style PLAY RECAP, one line per host."""
    width = max((len(h.host) for h in result.hosts), default=0)
    lines = ["", "PLAY RECAP " + "*" * 60]
    for host in result.hosts:
        counts = "  ".join(f"{status}={count}" for status, count in host.counts)
        lines.append(f"{host.host:<{width}} : {counts}")
    if result.interrupted:
        lines.append("interrupted: steps in flight were not recorded and will run again")
    if result.record:
        lines.append(f"run record: {result.record}")
    return lines


def dry_run_lines(entries: Iterable[DryRunEntry]) -> list[str]:
    """Per host, its steps in order with 'would run' or 'up to date' and why; a barrier
    between plays or serial batches as a line of its own."""
    lines: list[str] = []
    host = None
    for entry in entries:
        if entry.barrier:
            host = None
            gap = "\n" if lines else ""
            lines.append(f"{gap}-- barrier {entry.play} > {entry.step}: {entry.reason}")
            continue
        if entry.host != host:
            host = entry.host
            lines.append(f"{'' if not lines else chr(10)}[{host}]")
        verdict = "would run " if entry.would_run else "up to date"
        why = f" ({entry.reason})" if entry.reason else ""
        lines.append(f"  {verdict} {entry.play} > {entry.role} > {entry.phase} > {entry.step}{why}")
    return lines


class Reporter:
    """Writes whole lines to one stream under one lock; the RunEvents of a play or ad hoc run."""

    def __init__(self, out: TextIO | None = None, *, live: bool = True) -> None:
        self._out = out if out is not None else sys.stdout
        self._live = live
        self._lock = threading.Lock()

    def lines(self, lines: Iterable[str]) -> None:
        """Write lines as one block."""
        text = "".join(f"{line}\n" for line in lines)
        with self._lock:
            self._out.write(text)
            self._out.flush()

    def step_started(self, step: StepRef) -> None:
        """Nothing is shown when a step starts (only what it ended with)."""

    def step_finished(self, outcome: StepOutcome) -> None:
        """A playbook step's status line (not for not_run), or an ad hoc command's block."""
        if not self._live:
            return
        if not outcome.task:
            self.lines([command_block(outcome)])
        elif outcome.status != "not_run":
            self.lines([step_line(outcome)])

    def command_summary(self, outcomes: Sequence[StepOutcome]) -> None:
        """The summary line of an ad hoc run."""
        self.lines([command_summary(outcomes)])

    def recap(self, result: RunResult) -> None:
        """The final recap."""
        self.lines(recap_lines(result))

    def record_json(self, result: RunResult) -> None:
        """The run record as JSON (for --json): what runs/<run_id>.json holds at the end."""
        record = result.run_record.as_json() if result.run_record is not None else {}
        self.lines([json.dumps(record, indent=2, sort_keys=True)])

    def dry_run(self, entries: Iterable[DryRunEntry]) -> None:
        """The dry-run listing."""
        self.lines(dry_run_lines(entries))
