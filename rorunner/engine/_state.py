"""Shared, thread-safe state of one run: outcomes, hosts that stopped, aborted plays."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from rorunner.model import CONTROLLER
from rorunner.outcome import FAILED, RunEvents, StepOutcome, StepRef


@dataclass(frozen=True)
class PlayLimits:
    """A play's serial batches and its max_fail_percentage (None: no limit)."""

    play: str
    batches: tuple[tuple[str, ...], ...]
    max_fail_percentage: float | None = None
    serial: bool = False


class RunState:
    """Records outcomes and answers "may this step start?" for the worker threads.

    A host that failed or was unreachable starts no further step; a play whose
    failed hosts within one batch exceed max_fail_percentage (or, with serial,
    a batch where every host failed, as Ansible does) starts no further step on
    any host. A failed controller step (local_before, local_after) fails its play:
    no further step of the play runs, and its hosts start no further step.
    """

    def __init__(
        self,
        limits: Mapping[str, PlayLimits],
        events: RunEvents | None = None,
        *,
        direct: RunEvents | None = None,
    ) -> None:
        self._limits = limits
        self._events = _Delivery(events) if events is not None else None
        # Told at once on the event's own thread, outside the ordered delivery (it keeps its
        # own locks, and its work must not hold up the other listeners).
        self._direct = direct
        self._lock = threading.Lock()
        self._host_down: dict[str, str] = {}  # host -> why it starts no further step
        self._aborted: dict[str, str] = {}
        self._failed: dict[tuple[str, int], set[str]] = {}
        self._outcomes: dict[str, StepOutcome] = {}
        self._started: set[str] = set()
        self._files: dict[str, threading.Lock] = {}
        self.interrupted = threading.Event()

    def blocked(self, host: str, play: str, *, cleanup: bool = False) -> str:
        """Why a step of `host` in `play` must not start now ('' when it may). A `cleanup`
        step (removing secret files) runs also after its host or play failed."""
        with self._lock:
            if self.interrupted.is_set():
                return "interrupted"
            if cleanup:
                return ""
            if host in self._host_down:
                return self._host_down[host]
            return self._aborted.get(play, "")

    def stop_reason(self, play: str) -> str:
        """Why `play` starts no more steps ('' when it still does)."""
        with self._lock:
            return self._aborted.get(play, "")

    def hosts_of(self, play: str) -> tuple[list[str], list[str], list[str]]:
        """The play's hosts, those still going, and those that failed or were unreachable
        (now or in an earlier play), each in plan order."""
        limits = self._limits.get(play)
        hosts = [h for batch in limits.batches for h in batch] if limits else []
        with self._lock:
            down = self._host_down
            return hosts, [h for h in hosts if h not in down], [h for h in hosts if h in down]

    def started(self, step: StepRef) -> None:
        """Note that `step` starts and tell the listeners (the events in order, perhaps
        after this returns, by a thread delivering already)."""
        with self._lock:
            self._started.add(step.task)
        if self._direct is not None:
            self._direct.step_started(step)
        if self._events is not None:
            self._events.send(step, None)

    def record(self, outcome: StepOutcome) -> None:
        """Store an outcome, update host and play state, then tell the listeners (as
        `started` does)."""
        with self._lock:
            self._outcomes[outcome.task] = outcome
            if outcome.status in FAILED and outcome.host == CONTROLLER:
                self._fail_play(outcome)
            elif outcome.status in FAILED:
                self._host_down.setdefault(outcome.host, f"host {outcome.status} earlier")
                self._count_failure(outcome.host, outcome.play)
        if self._direct is not None:
            self._direct.step_finished(outcome)
        if self._events is not None:
            self._events.send(None, outcome)

    def deliver_events(self) -> None:
        """Tell the listeners every event not told yet (one a listener's error left)."""
        if self._events is not None:
            self._events.drain()

    def _fail_play(self, outcome: StepOutcome) -> None:
        """A controller step failed: the play stops, and so do its hosts (caller holds the
        lock)."""
        reason = f"{outcome.phase} {outcome.step} of play {outcome.play} failed"
        self._aborted.setdefault(outcome.play, reason)
        limits = self._limits.get(outcome.play)
        for host in (h for batch in limits.batches for h in batch) if limits else ():
            self._host_down.setdefault(host, reason)

    def _count_failure(self, host: str, play: str) -> None:
        limits = self._limits.get(play)
        if limits is None or play in self._aborted:
            return
        for index, batch in enumerate(limits.batches):
            if host in batch:
                failed = self._failed.setdefault((play, index), set())
                failed.add(host)
                reason = _abort_reason(limits, index + 1, len(failed), len(batch))
                if reason:
                    self._aborted[play] = reason
                return

    @contextmanager
    def file_locks(self, paths: Sequence[str]) -> Iterator[None]:
        """Hold the locks of these local files (taken in sorted order: no deadlock)."""
        with self._lock:
            locks = [self._files.setdefault(p, threading.Lock()) for p in sorted(paths)]
        with ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            yield

    def outcomes(self) -> dict[str, StepOutcome]:
        """A snapshot of the outcomes recorded so far, by task name."""
        with self._lock:
            return dict(self._outcomes)

    def was_started(self, task: str) -> bool:
        """Whether `task` started in this run."""
        with self._lock:
            return task in self._started

    def has(self, task: str) -> bool:
        """Whether `task` already has an outcome."""
        with self._lock:
            return task in self._outcomes


class _Delivery:
    """The events to the listeners one at a time, in the order they happen, without a thread
    waiting for another thread's listeners: an event is queued, and the thread that finds
    nobody delivering delivers the queue until it is empty (a step's thread would otherwise
    wait its turn behind every other step's reporter write, each a GIL hand-off). When
    every thread that sent an event has returned, every event has been delivered."""

    def __init__(self, events: RunEvents) -> None:
        self._events = events
        self._lock = threading.Lock()
        self._queue: deque[tuple[StepRef | None, StepOutcome | None]] = deque()
        self._busy = False

    def send(self, started: StepRef | None, finished: StepOutcome | None) -> None:
        """Queue a step's start or end; deliver the queue unless a thread already does."""
        with self._lock:
            self._queue.append((started, finished))
        self.drain()

    def drain(self) -> None:
        """Deliver what is queued (unless a thread already does)."""
        with self._lock:
            if self._busy:
                return
            self._busy = True
        self._deliver()

    def _deliver(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._queue:
                        self._busy = False
                        return
                    started, finished = self._queue.popleft()
                if started is not None:
                    self._events.step_started(started)
                elif finished is not None:
                    self._events.step_finished(finished)
        except BaseException:
            with self._lock:
                self._busy = False  # what is left goes with the next event, or drain()
            raise


def _abort_reason(limits: PlayLimits, batch: int, failed: int, size: int) -> str:
    """Why the play stops ('' when it goes on), as "play <id> stopped: ..." (rorunner.report shows
    such a reason once per play)."""
    pct = limits.max_fail_percentage
    where = f"batch {batch} of {len(limits.batches)}" if len(limits.batches) > 1 else "the play"
    if pct is not None and failed * 100 > pct * size:
        return (
            f"play {limits.play} stopped: {failed} of {size} hosts of {where} failed, "
            f"more than max_fail_percentage {pct:g}"
        )
    if limits.serial and failed == size:
        return f"play {limits.play} stopped: every host of serial {where} failed ({failed})"
    return ""
