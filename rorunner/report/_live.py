"""The reporter's live parts: the display on a terminal (rich), and -v's following of each
running step's log files.

The display redraws a few times a second (its own thread, rich's Live): per play its
progress, then the running steps with their elapsed time; finished lines scroll above it.
It reads a Board, whose small lock is taken by nothing else while it is held (the
reporter's own lock is never taken from the display's thread: rich holds its own lock
while it asks for the display, and the reporter's threads print under theirs).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from rorunner.masking import printable
from rorunner.outcome import FAILED, StepOutcome, StepRef
from rorunner.report import PlayTotal, Reporter

if TYPE_CHECKING:
    from types import TracebackType

REFRESH_PER_SECOND = 4  # the display's redraws: cheap next to the run it shows
MAX_RUNNING_SHOWN = 12
FOLLOW_INTERVAL = 0.25  # how often -v reads the running steps' logs
_READ_LIMIT = 1 << 20  # bytes read per log per round (the rest waits for the next one)


@dataclass
class _PlayBar:
    total: PlayTotal
    done: int = 0
    failed: int = 0
    started: bool = False


class Board:
    """What the live display shows: plays in progress and the steps running."""

    def __init__(self, plays: Sequence[PlayTotal]) -> None:
        self._lock = threading.Lock()
        self._plays = {p.id: _PlayBar(p) for p in plays}
        self._running: dict[str, tuple[StepRef, float]] = {}

    def started(self, step: StepRef) -> None:
        """`step` runs from now."""
        with self._lock:
            self._running[step.task] = (step, time.monotonic())
            bar = self._plays.get(step.play)
            if bar is not None:
                bar.started = True

    def finished(self, outcome: StepOutcome) -> None:
        """`outcome`'s step has ended."""
        with self._lock:
            self._running.pop(outcome.task, None)
            bar = self._plays.get(outcome.play)
            if bar is not None:
                bar.started = True
                bar.done += 1
                bar.failed += outcome.status in FAILED

    def render(self) -> Group:
        """The display now: a line per play in progress, then the running steps."""
        now = time.monotonic()
        with self._lock:
            plays = [
                (b.total, b.done, b.failed)
                for b in self._plays.values()
                if b.started and b.done < b.total.steps
            ]
            running = sorted(self._running.values(), key=lambda item: item[1])
        lines = [
            Text(f"play {t.id} [{t.name}]: {done}/{t.steps} done, {failed} failed", style="bold")
            for t, done, failed in plays
        ]
        for step, since in running[:MAX_RUNNING_SHOWN]:
            where = f"{step.play} > {step.role} > {step.phase} > {step.step}"
            lines.append(Text(f"  running [{step.host}] {where}  {now - since:.0f}s"))
        if len(running) > MAX_RUNNING_SHOWN:
            lines.append(Text(f"  ... and {len(running) - MAX_RUNNING_SHOWN} more running"))
        return Group(*lines)


class LiveReporter(Reporter):
    """The Reporter on a terminal: the same lines, printed above a live display."""

    def __init__(
        self, out: TextIO | None = None, *, verbosity: int = 0, plays: Sequence[PlayTotal] = ()
    ) -> None:
        super().__init__(out, live=True, verbosity=verbosity, plays=plays)
        self._board = Board(plays)
        self._console = Console(file=self._out, highlight=False, markup=False, emoji=False)
        self._display = Live(
            console=self._console,
            get_renderable=self._board.render,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def _write(self, text: str) -> None:
        self._console.print(Text(text.removesuffix("\n")), soft_wrap=True)

    def __enter__(self) -> LiveReporter:
        """Show the display."""
        self._display.start()
        super().__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Take the display away (the lines printed stay)."""
        super().__exit__(kind, error, trace)
        self._display.stop()

    def step_started(self, step: StepRef) -> None:
        """As the Reporter; the display shows the step running."""
        super().step_started(step)
        if step.task:
            self._board.started(step)

    def step_finished(self, outcome: StepOutcome) -> None:
        """As the Reporter; the display counts the step done."""
        super().step_finished(outcome)
        if outcome.task:
            self._board.finished(outcome)


class _Followed:
    """One running step's log files and what of them has been shown."""

    def __init__(self, step: StepRef) -> None:
        self.step = step
        self.files: dict[str, BinaryIO | None] = {"stdout": None, "stderr": None}
        self.partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def read(self, stream: str, final: bool) -> list[str]:
        """The new whole lines of one stream (at the end, the last partial one too)."""
        path = self.step.stdout if stream == "stdout" else self.step.stderr
        handle = self.files[stream]
        if handle is None and path is not None and os.path.exists(path):
            handle = self.files[stream] = open(path, "rb")  # noqa: SIM115 - kept open
        if handle is None:
            return []
        data = self.partial[stream] + (handle.read() if final else handle.read(_READ_LIMIT))
        *whole, rest = data.split(b"\n")
        if final and rest:
            whole, rest = [*whole, rest], b""
        self.partial[stream] = rest
        step = self.step
        marker = " (stderr)" if stream == "stderr" else ""
        label = f"[{step.host}] {step.role} > {step.step}{marker}"
        return [
            f"{label}: {printable(line.decode('utf-8', errors='replace'))}".rstrip()
            for line in whole
        ]

    def close(self) -> None:
        """Close the log files."""
        for handle in self.files.values():
            if handle is not None:
                handle.close()


class LogFollower:
    """-v: prints each running step's output as its log files grow, line by line."""

    def __init__(self, lock: threading.RLock, write: Callable[[str], None]) -> None:
        self._lock = lock  # the reporter's: lines are written whole, between its own
        self._write = write
        self._followed: dict[str, _Followed] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rorunner-follow", daemon=True)

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; the files still open are closed."""
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for followed in self._followed.values():
                followed.close()
            self._followed.clear()

    def follow(self, step: StepRef) -> None:
        """Start following a step that writes logs (called under the reporter's lock)."""
        if step.stdout or step.stderr:
            self._followed[step.task] = _Followed(step)

    def finish(self, task: str) -> None:
        """Print what is left of a step that ended (called under the reporter's lock)."""
        followed = self._followed.pop(task, None)
        if followed is not None:
            self._print(followed, final=True)
            followed.close()

    def _loop(self) -> None:
        while not self._stop.wait(FOLLOW_INTERVAL):
            with self._lock:
                for followed in list(self._followed.values()):
                    self._print(followed, final=False)

    def _print(self, followed: _Followed, final: bool) -> None:
        lines = followed.read("stdout", final) + followed.read("stderr", final)
        if lines:
            self._write("".join(f"{line}\n" for line in lines))
