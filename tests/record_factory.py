"""Run records made with the records module itself (no engine): for reader, CLI and
dashboard tests, and for the scale figures (1,000 runs; 500 hosts x 10 steps)."""

from __future__ import annotations

import itertools
import json
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rorunner.records import (
    DryRunStep,
    FileChange,
    Invocation,
    PlayRecord,
    RecordWriter,
    RunMeta,
    RunRecord,
    StepRecord,
    StepStatus,
    plan_path,
    record_path,
    write_dry_run,
)

PHASES = ("local_pre", "ship", "remote", "fetch", "local_post")
KIND = {
    "local_pre": "local",
    "ship": "ship",
    "remote": "remote",
    "fetch": "fetch",
    "local_post": "local",
}
STEP_NAMES = (
    ("local_pre", "10-check-vars.sh"),
    ("ship", "files"),
    ("remote", "10-install.sh"),
    ("remote", "20-status.sh"),
    ("remote", "30-extra.sh"),
    ("remote", "40-extra.sh"),
    ("remote", "50-extra.sh"),
    ("remote", "60-extra.sh"),
    ("fetch", "files"),
    ("local_post", "10-check-status.sh"),
)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move on and return the new time."""
        self.now += seconds
        return self.now


@dataclass(frozen=True)
class Spec:
    """A synthetic run: hosts, how many steps each, which host fails at which step."""

    run_id: str
    hosts: tuple[str, ...] = ("h1", "h2", "h3", "h4")
    steps_per_host: int = 4
    fail_host: str | None = None
    fail_at: int = 2
    start: float = 1_790_000_000.0
    step_seconds: float = 0.5
    playbook: str = "site.yml"
    argv: tuple[str, ...] = ("rorunner", "play", "site.yml", "-i", "hosts.ini")
    command: str = "play"  # or "run": an ad hoc command (no playbook, no plan graph)
    check: bool = False  # play --check


def plan_steps(spec: Spec) -> list[StepRecord]:
    """The pending steps of a synthetic run, host by host."""
    steps = []
    for host in spec.hosts:
        for phase, name in STEP_NAMES[: spec.steps_per_host]:
            task = f"{host}/01-site/webapp/{phase}/{name}"
            changes: tuple[FileChange, ...] = ()
            if phase == "fetch":
                changes = (FileChange("fetch", "status.txt", f"fetched/{host}/status.txt"),)
            command = f"echo {name}" if KIND[phase] != "ship" and phase != "fetch" else None
            steps.append(
                StepRecord(
                    task,
                    host,
                    "01-site",
                    "webapp",
                    phase,
                    name,
                    KIND[phase],
                    "pending",
                    command=command,
                    changes=changes,
                )
            )
    return steps


def writer_for(state_dir: Path, spec: Spec, clock: FakeClock, **kwargs: object) -> RecordWriter:
    """A RecordWriter of the synthetic run, not started yet."""
    play = PlayRecord("01-site", "Site", spec.hosts, (spec.hosts,))
    adhoc = spec.command == "run"
    meta = RunMeta(
        run_id=spec.run_id,
        project_dir=str(state_dir.parent),
        playbook=None if adhoc else str(state_dir.parent / spec.playbook),
        inventory=(str(state_dir.parent / "hosts.ini"),),
        argv=spec.argv,
        options={"forks": 25, "force": False, "limit": None, "check": spec.check},
        command=spec.command,
        plan=None if adhoc else plan_path(state_dir, spec.run_id).name,
    )
    path = record_path(state_dir, spec.run_id)
    return RecordWriter(path, meta, [play], plan_steps(spec), clock=clock, **kwargs)  # type: ignore[arg-type]


def write_logs(
    state_dir: Path, run_id: str, task: str, stdout: str, stderr: str
) -> tuple[str, str]:
    """Log files of one step, as the engine lays them out."""
    log_dir = state_dir / "logs" / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = task.replace("/", ".")
    out, err = log_dir / f"{stem}.stdout", log_dir / f"{stem}.stderr"
    out.write_text(stdout)
    err.write_text(stderr)
    return str(out), str(err)


def make_run(
    state_dir: Path, spec: Spec, *, finish: bool = True, logs: bool = True
) -> RunRecord | None:
    """Write a whole synthetic run (record, plan, logs); each host runs its steps in order,
    hosts in parallel; the failing host stops at `fail_at`."""
    clock = FakeClock(spec.start)
    writer = writer_for(state_dir, spec, clock, min_interval=3600.0)
    if spec.command != "run":
        write_plan(state_dir, spec)
    writer.start()
    for index in range(spec.steps_per_host):
        start = clock.now
        for host in spec.hosts:
            _one_step(state_dir, spec, writer, host, index, start, logs)
        clock.advance(spec.step_seconds)
    if not finish:
        writer.close()
        return None
    exit_code = 2 if spec.fail_host else 0
    return writer.finish(exit_code=exit_code)


def _one_step(
    state_dir: Path,
    spec: Spec,
    writer: RecordWriter,
    host: str,
    index: int,
    start: float,
    logs: bool,
) -> None:
    phase, name = STEP_NAMES[index]
    task = f"{host}/01-site/webapp/{phase}/{name}"
    failed_before = spec.fail_host == host and index > spec.fail_at
    if failed_before:
        writer.step_finished(task, "not_run", reason="host failed earlier", at=start)
        return
    failing = spec.fail_host == host and index == spec.fail_at
    status: StepStatus = "failed" if failing else ("ok" if KIND[phase] == "local" else "changed")
    out = err = None
    if logs and KIND[phase] in ("local", "remote"):
        stderr = f"ERROR: port 9999 not configured on {host}\n" if failing else ""
        out, err = write_logs(state_dir, spec.run_id, task, f"{name} on {host}\n", stderr)
    writer.step_started(task, at=start)
    writer.step_finished(
        task,
        status,
        rc=1 if failing else 0,
        reason="exit status 1" if failing else "",
        stdout=out,
        stderr=err,
        at=start + spec.step_seconds * _fraction(spec.run_id, host, index),
    )


def _fraction(*parts: object) -> float:
    """A repeatable share of a step slot (0.2 to 0.95): durations that vary like real ones."""
    return 0.2 + 0.75 * (zlib.crc32(repr(parts).encode()) % 1000) / 1000


def write_plan(state_dir: Path, spec: Spec) -> None:
    """The plan graph JSON beside the record (the `--graph json` shape)."""
    path = plan_path(state_dir, spec.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan_doc(spec), indent=2, sort_keys=True) + "\n")


def write_dry_run_state(state_dir: Path, spec: Spec, reason: Callable[[StepRecord], str]) -> None:
    """The dry-run state of the synthetic plan: `reason(step)` says why a step would run
    ('' when it is up to date)."""
    why = {step.task: reason(step) for step in plan_steps(spec)}
    status = {task: f"would run ({r})" if r else "up to date" for task, r in why.items()}
    verdicts = [DryRunStep(task, bool(r), r) for task, r in why.items()]
    invocation = Invocation(
        playbook=str(state_dir.parent / spec.playbook), argv=(*spec.argv, "--dry-run")
    )
    write_dry_run(state_dir, invocation, verdicts, plan_doc(spec, status))


def plan_doc(spec: Spec, status: Mapping[str, str] | None = None) -> dict[str, object]:
    """The `--graph json` document of the synthetic plan (node statuses from `status`)."""
    steps = plan_steps(spec)
    nodes = [
        {
            "id": s.task,
            "host": s.host,
            "play": s.play,
            "role": s.role,
            "phase": s.phase,
            "step": s.step,
            "kind": s.kind,
            "status": (status or {}).get(s.task, "would run (new)"),
        }
        for s in steps
    ]
    edges = [
        {"from": a.task, "to": b.task, "feeds": True}
        for a, b in itertools.pairwise(steps)
        if a.host == b.host
    ]
    plays = [
        {
            "id": "01-site",
            "name": "Site",
            "hosts": list(spec.hosts),
            "batches": [list(spec.hosts)],
            "max_fail_percentage": None,
        }
    ]
    return {"plays": plays, "nodes": nodes, "edges": edges, "notices": []}


def many_runs(
    state_dir: Path,
    count: int,
    hosts: Sequence[str] = ("h1", "h2", "h3", "h4"),
    every_failing: int = 7,
    mtime: Callable[[int], float] | None = None,
) -> list[str]:
    """`count` finished runs a minute apart, every `every_failing`-th with a failing host."""
    ids = []
    for number in range(count):
        spec = Spec(
            run_id=f"20270101T{number // 60:04d}{number % 60:02d}-{1000 + number}-1",
            hosts=tuple(hosts),
            fail_host=hosts[number % len(hosts)] if number % every_failing == 3 else None,
            start=1_790_000_000.0 + 60 * number,
        )
        make_run(state_dir, spec, logs=False)
        if mtime is not None:
            path = record_path(state_dir, spec.run_id)
            os.utime(path, (mtime(number), mtime(number)))
        ids.append(spec.run_id)
    return ids
