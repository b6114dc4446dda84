"""Connect early: open the SSH connection of every host with remote work pending, in the
background, so the handshake overlaps doit's start and the local_pre steps."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping

from rorunner.errors import RorunnerError
from rorunner.model import ConnectionSpec, PlanStep
from rorunner.transport import Pool, TransportPool

REMOTE_KINDS = ("ship", "remote", "fetch")


class Prewarm:
    """Background connects, in plan order, at most `workers` at a time (the forks limit);
    steps wait for their host's connect and share its verdict."""

    def __init__(
        self,
        specs: Mapping[str, ConnectionSpec],
        workers: int,
        pool: TransportPool,
        known: Mapping[str, RorunnerError] | None = None,
    ) -> None:
        self._pool = pool
        self._done = {host: threading.Event() for host in specs}
        # Hosts already found unreachable (reading their state): not tried again.
        self._errors: dict[str, RorunnerError] = dict(known or {})
        self._queue: queue.SimpleQueue[tuple[str, ConnectionSpec]] = queue.SimpleQueue()
        todo = {host: spec for host, spec in specs.items() if host not in self._errors}
        for host in self._errors:
            self._done.setdefault(host, threading.Event()).set()
        for item in todo.items():
            self._queue.put(item)
        self._workers = min(max(1, workers), len(todo))
        if self._workers:
            # One thread imports paramiko and starts the others: the caller goes on at once
            # (starting them here would wait on every new thread, each busy importing).
            threading.Thread(target=self._start, name="rorunner-connect", daemon=True).start()

    def _start(self) -> None:
        if isinstance(self._pool, Pool):
            self._pool.load_ssh()
        for index in range(1, self._workers):
            name = f"rorunner-connect-{index}"
            threading.Thread(target=self._work, name=name, daemon=True).start()
        self._work()

    def _work(self) -> None:
        while True:
            try:
                host, spec = self._queue.get_nowait()
            except queue.Empty:
                return
            self._connect(host, spec)

    def _connect(self, host: str, spec: ConnectionSpec) -> None:
        try:
            self._pool.get(spec)
        except RorunnerError as exc:
            self._errors[host] = exc
        finally:
            self._done[host].set()

    def wait(self, host: str) -> RorunnerError | None:
        """The connect error of `host` once its connect has finished (None: connected)."""
        done = self._done.get(host)
        if done is None:
            return None
        done.wait()
        return self._errors.get(host)


def hosts_to_prewarm(pending: Iterable[PlanStep]) -> dict[str, ConnectionSpec]:
    """Hosts (with their spec) having a pending step of a remote kind over SSH."""
    out: dict[str, ConnectionSpec] = {}
    for step in pending:
        if step.spec.kind in REMOTE_KINDS and step.conn.connection != "local":
            out.setdefault(step.host, step.conn)
    return out
