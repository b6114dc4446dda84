"""The run record of a play: its plan graph beside it, and a RecordWriter fed by the run's
events (steps starting and ending, plays stopping), finished with the run's exit code."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rorunner.engine._lower import LoweredTask
from rorunner.outcome import FAILED, RunEvents, StepOutcome, StepRef
from rorunner.records import (
    FileChange,
    Invocation,
    PlayRecord,
    RecordWriter,
    RunMeta,
    StepRecord,
    plan_path,
    record_path,
    write_atomic,
)

if TYPE_CHECKING:
    from rorunner.model import PlanStep
    from rorunner.plan import Plan

WOULD_RUN = "would run"  # the plan graph's status of a step expected to run at the start


@dataclass(frozen=True)
class PlanRecords:
    """What a run record says of the plan itself, made once per run: its plays, and each
    lowered step as a pending StepRecord (the record's start, and a no-op proof, use them)."""

    plays: tuple[PlayRecord, ...]
    steps: tuple[StepRecord, ...]

    @classmethod
    def of(cls, plan: Plan, lowered: Sequence[LoweredTask]) -> PlanRecords:
        """The records of `plan`, lowered as `lowered`."""
        plays = (
            PlayRecord(p.id, p.name, p.hosts, p.batches, p.max_fail_percentage) for p in plan.plays
        )
        return cls(tuple(plays), tuple(_step_record(lt.name, lt.step) for lt in lowered))


def open_record(
    plan: Plan,
    records: PlanRecords,
    state_dir: Path,
    run_id: str,
    invocation: Invocation,
    expected: Sequence[LoweredTask],
) -> RecordWriter:
    """Write the plan graph and the record of a run that starts now (every step pending)."""
    graph = plan_path(state_dir, run_id)
    status = {lt.step.node: WOULD_RUN for lt in expected}
    write_atomic(graph, plan.graph_file(status))
    meta = RunMeta.of(invocation, run_id, str(state_dir.parent), plan=graph.name)
    writer = RecordWriter(record_path(state_dir, run_id), meta, records.plays, records.steps)
    writer.start()
    return writer


def _step_record(task: str, step: PlanStep) -> StepRecord:
    spec = step.spec
    changes: tuple[FileChange, ...] = ()
    if spec.kind == "ship":
        changes = tuple(
            FileChange("ship", move.src, posixpath.join(step.remote_dir, move.dest))
            for move in spec.files
        )
    elif spec.kind == "fetch":
        changes = tuple(FileChange("fetch", move.src, move.dest) for move in spec.files)
    return StepRecord(
        task=task,
        host=step.host,
        play=step.play,
        role=step.role,
        phase=step.phase,
        step=step.name,
        kind=spec.kind,
        status="pending",
        command=spec.command if spec.command is not None else spec.script,
        changes=changes,
    )


class Recorder:
    """The RunEvents that keep the record: each step's start and end, each play's stop."""

    def __init__(self, writer: RecordWriter) -> None:
        self.writer = writer
        # why a play stopped starting steps ('' if it did not): the run's RunState answers
        self.stop_reason: Callable[[str], str] = lambda play: ""

    def step_started(self, step: StepRef) -> None:
        """The step starts now."""
        self.writer.step_started(step.task)

    def step_finished(self, outcome: StepOutcome) -> None:
        """The step's final status; a failure may have stopped its play."""
        self.writer.step_finished(
            outcome.task,
            outcome.status,
            rc=outcome.rc,
            reason=outcome.reason,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
        )
        if outcome.status in FAILED:
            reason = self.stop_reason(outcome.play)
            if reason:
                self.writer.play_stopped(outcome.play, reason)


class Tee:
    """RunEvents that pass each event to several listeners, in order."""

    def __init__(self, *listeners: RunEvents | None) -> None:
        self._listeners = [listener for listener in listeners if listener is not None]

    def step_started(self, step: StepRef) -> None:
        """To every listener."""
        for listener in self._listeners:
            listener.step_started(step)

    def step_finished(self, outcome: StepOutcome) -> None:
        """To every listener."""
        for listener in self._listeners:
            listener.step_finished(outcome)
