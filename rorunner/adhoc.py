"""Ad hoc commands: run one shell command on many hosts in parallel, outcomes as data."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from rorunner.become import resolve_become
from rorunner.errors import Location, RorunnerError, TransportError, UnreachableError
from rorunner.model import ConnectionDefaults, ConnectionSpec, Host
from rorunner.outcome import RunEvents, Status, StepOutcome, StepRef
from rorunner.sshopts import parse_ssh_args
from rorunner.transport import Pool, TransportPool


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
