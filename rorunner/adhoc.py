"""Ad hoc commands: run one shell command on many hosts in parallel, outcomes as data."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rorunner.become import resolve_become
from rorunner.errors import Location, RorunnerError, TransportError, UnreachableError
from rorunner.model import ConnectionDefaults, ConnectionSpec, Host
from rorunner.outcome import RunEvents, Status, StepOutcome, StepRef
from rorunner.records import (
    Invocation,
    PlayRecord,
    RecordWriter,
    RunMeta,
    RunRecord,
    StepRecord,
    new_run_id,
    prune_runs,
    record_path,
)
from rorunner.sshopts import parse_ssh_args
from rorunner.transport import Pool, TransportPool

# Where an ad hoc command sits in its run record: one play, one step per host.
ADHOC_PLAY = "adhoc"
ADHOC_PHASE = "adhoc"
ADHOC_STEP = "command"
KEEP_RUNS = 50  # run records (and their logs) kept, as for `play`


def adhoc_spec(host: Host, defaults: ConnectionDefaults) -> ConnectionSpec:
    """How `run` reaches `host`: its inventory settings (ssh jump arguments and become
    variables included) over the command line's; bad values are InputErrors at their line."""

    def origin(name: str) -> Location:
        return host.origins.get(name, host.source)

    found = parse_ssh_args(host.vars, host.name, origin)
    return dataclasses.replace(
        defaults.spec_for(host),
        proxy_jump=found.proxy_jump,
        proxy_command=found.proxy_command,
        become=resolve_become(defaults, (), host.vars, origin),
    )


def adhoc_specs(hosts: Sequence[Host], defaults: ConnectionDefaults) -> list[ConnectionSpec]:
    """`adhoc_spec` of every host, in order."""
    return [adhoc_spec(host, defaults) for host in hosts]


def run_adhoc(
    hosts: Sequence[Host],
    command: str,
    defaults: ConnectionDefaults,
    forks: int = 5,
    timeout: float | None = None,
    events: RunEvents | None = None,
    pool: TransportPool | None = None,
) -> tuple[StepOutcome, ...]:
    """Run `command` on every host, `forks` at a time; the result is in the order of `hosts`.

    Each outcome is "ok" (exit status 0), "failed" (`rc`, or `reason` when the command
    could not run) or "unreachable", with the output in stdout_text/stderr_text.
    `events` hears of each host as it starts and ends, one call at a time. Connections
    come from `pool`; without one, from a Pool of this call's own, closed when it returns.
    """
    if pool is None:
        own = Pool()
        try:
            return run_adhoc(hosts, command, defaults, forks, timeout, events, own)
        finally:
            own.close_all()
    lock = threading.Lock()
    specs = {host.name: adhoc_spec(host, defaults) for host in hosts}

    def one(host: Host) -> StepOutcome:
        if events is not None:
            with lock:
                events.step_started(StepRef(host=host.name))
        outcome = _run_one(pool, specs[host.name], command, timeout)
        if events is not None:
            with lock:
                events.step_finished(outcome)
        return outcome

    if not hosts:
        return ()
    executor = ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts))))
    try:
        futures = [executor.submit(one, host) for host in hosts]
        return tuple(future.result() for future in futures)
    except BaseException:
        # Interrupted: start nothing new and drop the connections, so running commands end now.
        executor.shutdown(wait=False, cancel_futures=True)
        pool.close_all()
        raise
    finally:
        executor.shutdown(wait=True)


def _run_one(
    pool: TransportPool, spec: ConnectionSpec, command: str, timeout: float | None
) -> StepOutcome:
    out, err = io.BytesIO(), io.BytesIO()
    env = {
        "RORUNNER_HOST": spec.name,
        "RORUNNER_ADDRESS": spec.address,
        "RORUNNER_PORT": str(spec.port or 22),
    }
    start = time.monotonic()

    def outcome(status: Status, rc: int | None = None, reason: str = "") -> StepOutcome:
        return StepOutcome(
            host=spec.name,
            status=status,
            rc=rc,
            duration=round(time.monotonic() - start, 3),
            reason=reason,
            stdout_text=_text(out),
            stderr_text=_text(err),
        )

    try:
        transport = pool.get(spec)
        rc = transport.exec(command, env=env, timeout=timeout, stdout=out, stderr=err)
    except UnreachableError as exc:
        return outcome("unreachable", reason=exc.cause)
    except TransportError as exc:
        return outcome("failed", reason=exc.cause)
    except RorunnerError as exc:  # e.g. a bad ssh_config entry for this host only
        return outcome("failed", reason=str(exc))
    return outcome("ok" if rc == 0 else "failed", rc)


def _text(buffer: io.BytesIO) -> str:
    return buffer.getvalue().decode("utf-8", "replace")


def adhoc_task(host: str) -> str:
    """The record's task name of the command on `host`: <host>/adhoc/adhoc/adhoc/command."""
    return f"{host}/{ADHOC_PLAY}/{ADHOC_PLAY}/{ADHOC_PHASE}/{ADHOC_STEP}"


class AdhocRecord:
    """The RunEvents that keep an ad hoc command's run record (`.rorunner/runs/`), then pass
    each event on to `then`. Each host's output goes to its log files, as a step's would."""

    def __init__(
        self,
        state_dir: Path,
        invocation: Invocation,
        hosts: Sequence[str],
        command: str,
        then: RunEvents | None = None,
    ) -> None:
        self.run_id = new_run_id()
        self._state_dir = state_dir
        self._log_dir = state_dir / "logs" / self.run_id
        self._then = then
        meta = RunMeta.of(invocation, self.run_id, str(state_dir.parent))
        name = invocation.options.get("pattern", "all")
        play = PlayRecord(ADHOC_PLAY, name, tuple(hosts), (tuple(hosts),))
        steps = [_step(host, command) for host in hosts]
        self.writer = RecordWriter(record_path(state_dir, self.run_id), meta, [play], steps)
        self.writer.start()

    def step_started(self, step: StepRef) -> None:
        """The command starts on a host."""
        self.writer.step_started(adhoc_task(step.host))
        if self._then is not None:
            self._then.step_started(step)

    def step_finished(self, outcome: StepOutcome) -> None:
        """The command ended on a host: its output to log files, its status to the record."""
        stem = adhoc_task(outcome.host).replace("/", ".")
        self.writer.step_finished(
            adhoc_task(outcome.host),
            outcome.status,
            rc=outcome.rc,
            reason=outcome.reason,
            stdout=_log(self._log_dir / f"{stem}.stdout", outcome.stdout_text),
            stderr=_log(self._log_dir / f"{stem}.stderr", outcome.stderr_text),
        )
        if self._then is not None:
            self._then.step_finished(outcome)

    def finish(self, exit_code: int | None, *, interrupted: bool = False) -> RunRecord:
        """End the record (hosts not reached become not_run) and prune old runs."""
        final = self.writer.finish(exit_code=exit_code, interrupted=interrupted)
        prune_runs(self._state_dir, KEEP_RUNS)
        return final


def _step(host: str, command: str) -> StepRecord:
    return StepRecord(
        task=adhoc_task(host),
        host=host,
        play=ADHOC_PLAY,
        role=ADHOC_PLAY,
        phase=ADHOC_PHASE,
        step=ADHOC_STEP,
        kind="remote",
        status="pending",
        command=command,
    )


def _log(path: Path, text: str) -> str | None:
    """Write a host's output to `path`; None (no file) when there is none."""
    if not text:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)
