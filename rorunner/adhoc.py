"""Ad hoc commands: run one shell command on many hosts in parallel, outcomes as data."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from rorunner.errors import RorunnerError, TransportError, UnreachableError
from rorunner.model import ConnectionDefaults, ConnectionSpec, Host
from rorunner.transport import Pool, TransportPool

Status = Literal["ok", "failed", "unreachable"]


@dataclass(frozen=True)
class HostOutcome:
    """What happened on one host."""

    host: str
    status: Status
    rc: int | None
    stdout: str
    stderr: str
    error: str = ""  # the transport error, when unreachable or failed before the command ran


def run_adhoc(
    hosts: Sequence[Host],
    command: str,
    defaults: ConnectionDefaults,
    forks: int = 5,
    timeout: float | None = None,
    on_done: Callable[[HostOutcome], None] | None = None,
    pool: TransportPool | None = None,
) -> tuple[HostOutcome, ...]:
    """Run `command` on every host, `forks` at a time; `on_done` sees each outcome as it lands.

    `on_done` calls are serialised, so a printer never interleaves two hosts.
    The result is in the order of `hosts`. Connections come from `pool`; without one,
    from a Pool of this call's own, closed when it returns.
    """
    if pool is None:
        own = Pool()
        try:
            return run_adhoc(hosts, command, defaults, forks, timeout, on_done, own)
        finally:
            own.close_all()
    lock = threading.Lock()

    def one(host: Host) -> HostOutcome:
        outcome = _run_one(pool, defaults.spec_for(host), command, timeout)
        if on_done is not None:
            with lock:
                on_done(outcome)
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
) -> HostOutcome:
    out, err = io.BytesIO(), io.BytesIO()
    env = {
        "RORUNNER_HOST": spec.name,
        "RORUNNER_ADDRESS": spec.address,
        "RORUNNER_PORT": str(spec.port or 22),
    }
    try:
        transport = pool.get(spec)
        rc = transport.exec(command, env=env, timeout=timeout, stdout=out, stderr=err)
    except UnreachableError as exc:
        return HostOutcome(spec.name, "unreachable", None, "", "", exc.cause)
    except TransportError as exc:
        return HostOutcome(spec.name, "failed", None, _text(out), _text(err), exc.cause)
    except RorunnerError as exc:  # e.g. a bad ssh_config entry for this host only
        return HostOutcome(spec.name, "failed", None, _text(out), _text(err), str(exc))
    status: Status = "ok" if rc == 0 else "failed"
    return HostOutcome(spec.name, status, rc, _text(out), _text(err))


def _text(buffer: io.BytesIO) -> str:
    return buffer.getvalue().decode("utf-8", "replace")
