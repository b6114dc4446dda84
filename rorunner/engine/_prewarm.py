"""Connections of a run: opened early, a bounded lead ahead of the steps that use them, and
closed once their last remote step has ended.

Connecting early overlaps each handshake with the run record's first write, doit's start,
the local_pre steps and other hosts' steps. It stays a small lead (LEAD hosts, fewer under a
smaller forks limit) ahead of the hosts whose steps have begun, so that a 200-host run does
not hold idle connections; a step whose host the lead has not reached connects it itself. A
host's connection (with its SFTP session) is closed right after the last of its remote steps
in this run has ended, whatever its outcome, so that each host still gets exactly one
connection per run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from rorunner.engine._lower import LoweredTask
from rorunner.errors import RorunnerError
from rorunner.model import ConnectionSpec, PlanStep
from rorunner.outcome import StepOutcome, StepRef
from rorunner.transport import Pool, PoolKey, TransportPool, bastion_keys

REMOTE_KINDS = ("ship", "remote", "fetch")
# Hosts connected ahead of their steps. A lead of forks (25) held up to 50 connections open
# and 24 connect threads busy beside the 25 step threads; at 100 and 200 lab hosts, a lead of
# 4 took 5-8% less controller CPU and 2.5-3.4% less wall (the steps connect their own hosts
# as the script does), with no change at 25 hosts (bench/rtas.py workload, alternated runs).
LEAD = 4


def _over_ssh(step: PlanStep) -> bool:
    return step.spec.kind in REMOTE_KINDS and step.conn.connection != "local"


class Prewarm:
    """Background connects in plan order, at most min(`workers`, LEAD) at a time and as many
    hosts connected ahead of their first remote step; steps wait for their host's connect
    and share its verdict (a host not reached yet is connected by its step). As RunEvents,
    it closes a connection once every remote step of the run on it has an outcome."""

    def __init__(
        self,
        specs: Mapping[str, ConnectionSpec],
        workers: int,
        pool: TransportPool,
        known: Mapping[str, RorunnerError] | None = None,
        steps: Iterable[LoweredTask] = (),
    ) -> None:
        self._pool = pool
        self._cond = threading.Condition()
        self._done = {host: threading.Event() for host in specs}
        # Hosts already found unreachable (reading their state): not tried again.
        self._errors: dict[str, RorunnerError] = dict(known or {})
        for host in self._errors:
            self._done.setdefault(host, threading.Event()).set()
        self._pending = {h: s for h, s in specs.items() if h not in self._errors}
        self._lead = max(1, min(workers, LEAD))
        self._ahead: set[str] = set()  # connected in the background, no step came yet
        self._connecting = 0  # background connects under way
        self._claimed: set[str] = set()  # a step came, or no step will come
        self._releases = _Releases(steps) if isinstance(pool, Pool) else None
        self._workers = min(self._lead, len(self._pending))
        if self._workers:
            if isinstance(pool, Pool):
                # Imported here, not in the background: a thread importing it shares the GIL
                # with this one (lowering, doit, the local_pre steps), and every connect
                # waits for the import, so the first connect came ~40 ms later at 25 hosts.
                pool.load_ssh()
            # One thread starts the others: the caller goes on at once (starting them here
            # would wait for every new thread to be scheduled, while the others handshake).
            threading.Thread(target=self._start, name="rorunner-connect", daemon=True).start()

    def _start(self) -> None:
        for index in range(1, self._workers):
            name = f"rorunner-connect-{index}"
            threading.Thread(target=self._work, name=name, daemon=True).start()
        self._work()

    def _work(self) -> None:
        while (item := self._next()) is not None:
            host, spec = item
            self._connect(host, spec)
            with self._cond:
                self._connecting -= 1
                if host not in self._claimed:
                    self._ahead.add(host)
                self._cond.notify_all()
            if self._releases is not None and self._releases.finished(spec.pool_key):
                self._release(spec)  # its steps all ended (not run) while it connected

    def _next(self) -> tuple[str, ConnectionSpec] | None:
        """The next host to connect once the lead has room (None: nothing left to do)."""
        with self._cond:
            while self._pending and len(self._ahead) + self._connecting >= self._lead:
                self._cond.wait()
            if not self._pending:
                return None
            host = next(iter(self._pending))
            self._connecting += 1
            return host, self._pending.pop(host)

    def _connect(self, host: str, spec: ConnectionSpec) -> None:
        try:
            self._pool.get(spec)
        except RorunnerError as exc:
            self._errors[host] = exc
        finally:
            self._done[host].set()

    def wait(self, host: str) -> RorunnerError | None:
        """The connect error of `host` once its connect has finished (None: connected); a
        host the background has not reached yet is connected now, by the caller."""
        done = self._done.get(host)
        if done is None:
            return None
        with self._cond:
            spec = self._claim(host)
        if spec is not None:
            self._connect(host, spec)
        done.wait()
        return self._errors.get(host)

    def _claim(self, host: str) -> ConnectionSpec | None:
        """Take `host` out of the lead (caller holds the lock); its spec when not started."""
        self._claimed.add(host)
        if host in self._ahead:
            self._ahead.discard(host)
            self._cond.notify_all()
        return self._pending.pop(host, None)

    def stop(self) -> None:
        """Connect nothing more (the run has ended)."""
        with self._cond:
            self._pending.clear()
            self._cond.notify_all()

    def step_started(self, step: StepRef) -> None:
        """Nothing to do when a step starts."""

    def step_finished(self, outcome: StepOutcome) -> None:
        """Close the connection of `outcome`'s host when it was its last remote step."""
        if self._releases is None:
            return
        spec = self._releases.ended(outcome.task)
        if spec is None:
            return
        with self._cond:
            for host in self._releases.hosts(spec.pool_key):
                self._claim(host)  # no step will wait for it any more
        self._release(spec)

    def _release(self, spec: ConnectionSpec) -> None:
        assert self._releases is not None and isinstance(self._pool, Pool)
        if spec.pool_key not in self._releases.bastions():
            self._pool.release(spec)


class _Releases:
    """Which remote steps of the run each pooled connection still serves; thread-safe."""

    def __init__(self, steps: Iterable[LoweredTask]) -> None:
        self._lock = threading.Lock()
        self._left: dict[PoolKey, set[str]] = {}
        self._key: dict[str, PoolKey] = {}  # task name -> pool key
        self._specs: dict[PoolKey, ConnectionSpec] = {}
        self._hosts: dict[PoolKey, set[str]] = {}
        for lowered in steps:
            step = lowered.step
            if _over_ssh(step):
                key = step.conn.pool_key
                self._key[lowered.name] = key
                self._left.setdefault(key, set()).add(lowered.name)
                self._specs.setdefault(key, step.conn)
                self._hosts.setdefault(key, set()).add(step.host)
        self._bastions: frozenset[PoolKey] | None = None

    def ended(self, task: str) -> ConnectionSpec | None:
        """Note that `task` has its outcome; the spec of its connection when that was the
        connection's last remote step."""
        key = self._key.get(task)
        if key is None:
            return None
        with self._lock:
            left = self._left[key]
            if task not in left:
                return None
            left.discard(task)
            return None if left else self._specs[key]

    def finished(self, key: PoolKey) -> bool:
        """Whether every remote step on connection `key` has its outcome."""
        with self._lock:
            return key in self._left and not self._left[key]

    def hosts(self, key: PoolKey) -> set[str]:
        """The inventory hosts using connection `key`."""
        return self._hosts.get(key, set())

    def bastions(self) -> frozenset[PoolKey]:
        """Connections that hosts of the run tunnel through: never closed early (found on
        the first use, so paramiko is imported only where connections are made)."""
        with self._lock:
            if self._bastions is None:
                try:
                    self._bastions = bastion_keys(self._specs.values())
                except RorunnerError:  # the CLI has refused such routes; a library caller
                    self._bastions = frozenset(self._specs)  # keeps every connection open
            return self._bastions


def hosts_to_prewarm(pending: Iterable[PlanStep]) -> dict[str, ConnectionSpec]:
    """Hosts (with their spec) having a pending step of a remote kind over SSH."""
    out: dict[str, ConnectionSpec] = {}
    for step in pending:
        if _over_ssh(step):
            out.setdefault(step.host, step.conn)
    return out
