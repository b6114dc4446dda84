"""The reporter, for `rorunner play` and `rorunner run` alike: live lines as steps (or ad
hoc commands) finish, the recap or summary, the dry-run listing and the JSON record.

Besides the CLI this is the only package that prints (its _live module draws the live
display on a terminal, with rich). Lines are written whole, under one lock, so worker threads
never interleave mid-line.

What a run shows: a banner when a play starts work, each step that ran with its status
(a failed or unreachable one with its reason indented below it: how it ended and the last
lines of its output), a play's stop reason once, one line when a play ends (its counts;
up-to-date steps are only counted, `-v` lists them), the recap, the steps an interrupt cut
short, and a final line with the total time and counts. `-v` also streams each running
step's output (read from its log files as they grow), `-vv` adds connection events.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from rorunner.outcome import FAILED, Status, StepOutcome, StepRef

if TYPE_CHECKING:  # only types: `rorunner run` reports without loading the engine (and doit)
    from types import TracebackType

    from rorunner.engine import DryRunEntry, RunResult
    from rorunner.plan import Plan
    from rorunner.report._events import EventHandler
    from rorunner.report._live import LogFollower

_WIDTH = 11  # longest status word ("unreachable") plus a space
_INDENT = "    "
BANNER_WIDTH = 72
# The words a status is counted under in play and final lines.
_COUNT_WORDS: dict[Status, str] = {
    "changed": "changed",
    "ok": "ok",
    "skipped": "up to date",
    "failed": "failed",
    "unreachable": "unreachable",
    "not_run": "not run",
}
TRANSPORT_LOGGER = "rorunner.transport"  # the connection events -vv shows


def where(step: StepRef) -> str:
    """play > role > phase > step."""
    return f"{step.play} > {step.role} > {step.phase} > {step.step}"


def step_line(outcome: StepOutcome) -> str:
    """One status line: status, host, play > role > phase > step, details."""
    return f"{outcome.status:<{_WIDTH}} [{outcome.host}] {where(outcome)}{_details(outcome)}"


def _details(outcome: StepOutcome) -> str:
    parts: list[str] = []
    if outcome.status == "skipped":
        parts.append("up to date")
    if outcome.rc not in (None, 0):
        parts.append(f"rc={outcome.rc}")
    if outcome.status not in ("skipped", "not_run"):
        parts.append(f"{outcome.duration:.2f}s")
    return f" ({'; '.join(parts)})" if parts else ""


def outcome_lines(outcome: StepOutcome) -> list[str]:
    """A step's status line; under a failed or unreachable one, its reason, indented."""
    lines = [step_line(outcome)]
    if outcome.status in FAILED:
        lines.extend(f"{_INDENT}{line}" for line in outcome.reason.splitlines())
    return lines


def counts_text(counts: Counter[Status]) -> str:
    """'3 changed, 35 up to date, 1 failed' (statuses with a count only)."""
    parts = [f"{counts[s]} {_COUNT_WORDS[s]}" for s in _COUNT_WORDS if counts[s]]
    return ", ".join(parts) or "nothing"


def banner(name: str) -> str:
    """Ansible's play banner: PLAY [name] ****."""
    head = f"PLAY [{name}] "
    return head + "*" * max(3, BANNER_WIDTH - len(head))


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
    if result.record:
        lines.append(record_line(result.record))
    return lines


def record_line(path: str) -> str:
    """Where the run record is."""
    return f"run record: {path}"


def unchanged_run_lines(screen: Mapping[str, Any], record: str, took: float) -> list[str]:
    """What a run with every step up to date prints, from what the plan cache keeps of it
    (`screen`: each play's [id, name, steps], the recap's lines, the steps and hosts)."""
    lines = [
        play_end_line(PlayTotal(pid, name, steps), took, Counter({"skipped": steps}))
        for pid, name, steps in screen["plays"]
    ]
    lines += [*screen["recap"], record_line(record)]
    steps, hosts = screen["steps"], screen["hosts"]
    lines.append(final_text(took, steps, hosts, Counter({"skipped": steps}), cut=False))
    return lines


def play_end_line(total: PlayTotal, took: float, counts: Counter[Status]) -> str:
    """A play's last line: how long it took and how its steps ended."""
    return f"play {total.id} [{total.name}] done in {took:.1f}s: {counts_text(counts)}"


def final_text(took: float, steps: int, hosts: int, counts: Counter[Status], *, cut: bool) -> str:
    """A run's last line: how long it took (`cut`: interrupted) and how its steps ended."""
    return (
        f"{'interrupted after' if cut else 'finished in'} {took:.1f}s: "
        f"{steps} steps on {hosts} host{'s' if hosts != 1 else ''}: "
        f"{counts_text(counts)}"
    )


def interrupt_lines(cut: Sequence[StepRef]) -> list[str]:
    """What an interrupt means for the next run: the steps it cut short run again."""
    if not cut:
        return ["interrupted: no step was running; the steps not run yet run next time"]
    lines = [
        f"interrupted: {len(cut)} step(s) were running and did not finish; they run again "
        "on the next run (their earlier successes no longer count), as do the steps not run yet:"
    ]
    lines.extend(f"{_INDENT}[{step.host}] {where(step)}" for step in cut)
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


@dataclass(frozen=True)
class PlayTotal:
    """A play as the reporter counts it: its id, name and how many steps it has."""

    id: str
    name: str
    steps: int


def live_reporter(
    out: TextIO | None = None, *, verbosity: int = 0, plays: Sequence[PlayTotal] = ()
) -> Reporter:
    """The Reporter for a terminal: the same lines, above a live display (rich, loaded here)."""
    from rorunner.report._live import LiveReporter  # noqa: PLC0415 - rich only when shown

    return LiveReporter(out, verbosity=verbosity, plays=plays)


def play_totals(plan: Plan) -> tuple[PlayTotal, ...]:
    """Every play of `plan` that has steps, in order, with its step count."""
    per_play = Counter(step.play for step in plan.steps)
    return tuple(PlayTotal(p.id, p.name, per_play[p.id]) for p in plan.plays if per_play[p.id])


@dataclass
class PlayProgress:
    """How far a play has come in this run."""

    total: PlayTotal
    counts: Counter[Status] = field(default_factory=Counter)
    first: float | None = None  # when its first step started or ended (monotonic)
    banner_shown: bool = False
    stop_shown: bool = False

    @property
    def done(self) -> int:
        """How many of its steps have their outcome."""
        return sum(self.counts.values())


@dataclass
class Running:
    """A step that started and has not ended."""

    step: StepRef
    since: float  # monotonic


class Reporter:
    """Writes whole lines to one stream under one lock; the RunEvents of a play or ad hoc run.

    `live`: show progress while the run goes (False for --json: only what the CLI asks for
    at the end). `verbosity`: 1 lists up-to-date steps and streams each running step's
    output, 2 adds connection events. `plays`: the plays of the run (play_totals), for
    banners and per-play lines.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        live: bool = True,
        verbosity: int = 0,
        plays: Sequence[PlayTotal] = (),
    ) -> None:
        self._out = out if out is not None else sys.stdout
        self._live = live
        self.verbosity = verbosity
        self._lock = threading.RLock()
        self._plays = {p.id: PlayProgress(p) for p in plays}
        self._running: dict[str, Running] = {}
        self._cut: list[StepRef] = []  # started, then ended as not_run: an interrupt cut them
        self._started_at = time.monotonic()
        self._follower: LogFollower | None = None
        self._log_handler: EventHandler | None = None

    # -- output -------------------------------------------------------------------------

    def lines(self, lines: Iterable[str]) -> None:
        """Write lines as one block."""
        text = "".join(f"{line}\n" for line in lines)
        with self._lock:
            self._write(text)

    def _write(self, text: str) -> None:
        """Write text (whole lines) to the output; the live display prints above itself."""
        self._out.write(text)
        self._out.flush()

    # -- the run's lifetime ---------------------------------------------------------------

    def __enter__(self) -> Reporter:
        """Start what watches the run (log following with -v, connection events with -vv)."""
        if self._live and self.verbosity >= 1:
            from rorunner.report._live import LogFollower  # noqa: PLC0415 - only for -v

            self._follower = LogFollower(self._lock, self._write)
            self._follower.start()
        if self._live and self.verbosity >= 2:
            from rorunner.report._events import EventHandler  # noqa: PLC0415 - only for -vv

            self._log_handler = EventHandler(self.lines)
            self._log_handler.attach(TRANSPORT_LOGGER)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop watching."""
        if self._follower is not None:
            self._follower.stop()
        if self._log_handler is not None:
            self._log_handler.detach(TRANSPORT_LOGGER)

    # -- RunEvents -------------------------------------------------------------------------

    def step_started(self, step: StepRef) -> None:
        """A playbook step starts: its play's banner (once); with -v its output follows."""
        if not step.task:
            return
        with self._lock:
            self._running[step.task] = Running(step, time.monotonic())
            if not self._live:
                return
            lines = self._banner(step.play)
            if lines:
                self._write("".join(f"{line}\n" for line in lines))
            if self._follower is not None:
                self._follower.follow(step)

    def step_finished(self, outcome: StepOutcome) -> None:
        """A playbook step's status line (up to date ones with -v only), its play's stop and
        end lines; an ad hoc command's block."""
        if not outcome.task:
            if self._live:
                self.lines([command_block(outcome)])
            return
        with self._lock:
            running = self._running.pop(outcome.task, None)
            if running is not None and outcome.status == "not_run":
                self._cut.append(outcome)
            progress = self._progress(outcome.play)
            progress.counts[outcome.status] += 1
            if not self._live:
                return
            if self._follower is not None and running is not None:
                self._follower.finish(outcome.task)
            lines = self._finished_lines(outcome, progress)
            if lines:
                self._write("".join(f"{line}\n" for line in lines))

    def _finished_lines(self, outcome: StepOutcome, progress: PlayProgress) -> list[str]:
        lines: list[str] = []
        if outcome.status == "not_run":
            stop = f"play {outcome.play} stopped: "
            if outcome.reason.startswith(stop) and not progress.stop_shown:
                progress.stop_shown = True
                lines += [*self._banner(outcome.play), outcome.reason]
        elif outcome.status != "skipped" or self.verbosity >= 1:
            lines += [*self._banner(outcome.play), *outcome_lines(outcome)]
        if progress.done == progress.total.steps:
            lines.append(self._play_end(progress))
        return lines

    def _progress(self, play: str) -> PlayProgress:
        progress = self._plays.get(play)
        if progress is None:  # a play the reporter was not told of: counted from here on
            progress = self._plays[play] = PlayProgress(PlayTotal(play, play, 0))
        if progress.first is None:
            progress.first = time.monotonic()
        return progress

    def _banner(self, play: str) -> list[str]:
        """The play's banner, the first time it has something to show."""
        progress = self._progress(play)
        if progress.banner_shown:
            return []
        progress.banner_shown = True
        return [banner(progress.total.name)]

    @staticmethod
    def _play_end(progress: PlayProgress) -> str:
        took = time.monotonic() - (progress.first or time.monotonic())
        return play_end_line(progress.total, took, progress.counts)

    # -- after the run ----------------------------------------------------------------------

    def command_summary(self, outcomes: Sequence[StepOutcome]) -> None:
        """The summary line of an ad hoc run."""
        self.lines([command_summary(outcomes)])

    def recap(self, result: RunResult) -> None:
        """The final recap, what an interrupt cut short, and the total time and counts."""
        lines = recap_lines(result)
        if result.interrupted:
            lines.extend(interrupt_lines(self.cut_short()))
        lines.append(self.final_line(result))
        self.lines(lines)

    def cut_short(self) -> list[StepRef]:
        """Steps that started and did not finish (still running, or ended as not run)."""
        with self._lock:
            still = sorted(self._running.values(), key=lambda r: r.since)
            return [*self._cut, *(r.step for r in still)]

    def final_line(self, result: RunResult) -> str:
        """How long the run took and how its steps ended."""
        counts: Counter[Status] = Counter()
        for outcome in result.outcomes:
            counts[outcome.status] += 1
        took = time.monotonic() - self._started_at
        return final_text(
            took, len(result.outcomes), len(result.hosts), counts, cut=result.interrupted
        )

    def record_json(self, result: RunResult) -> None:
        """The run record as JSON (for --json): what runs/<run_id>.json holds at the end."""
        record = result.run_record.as_json() if result.run_record is not None else {}
        self.lines([json.dumps(record, indent=2, sort_keys=True)])

    def dry_run(self, entries: Iterable[DryRunEntry]) -> None:
        """The dry-run listing."""
        self.lines(dry_run_lines(entries))
