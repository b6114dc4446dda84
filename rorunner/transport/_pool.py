"""The connection pool: one SSH connection per (address, port, user), shared by threads."""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING

from rorunner.errors import RemoteFailure, UnreachableError
from rorunner.model import ConnectionSpec
from rorunner.transport._check import PoolKey
from rorunner.transport._local import LocalTransport

if TYPE_CHECKING:
    from rorunner.transport import Transport, TransportPool
    from rorunner.transport._ssh import SshConnection
    from rorunner.transport._ssh_route import Tunneled


class Pool:
    """Thread-safe pool; the first `get` for a key connects, every later one reuses it.

    A bastion (a ProxyJump hop) is pooled like any host: every host behind it tunnels
    through its one connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[PoolKey, threading.Lock] = {}
        self._connections: dict[PoolKey, SshConnection] = {}
        self._opened = 0
        self._pid = os.getpid()
        self._connecting = threading.local()  # keys this thread is connecting (hops nest)

    @property
    def opened(self) -> int:
        """How many SSH connections this pool has opened so far."""
        return self._opened

    def _forget_after_fork(self) -> None:
        # A forked child must not use (or close) the parent's sockets: start afresh.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._key_locks, self._connections, self._opened = {}, {}, 0

    def load_ssh(self) -> None:
        """Import the SSH implementation (and paramiko) now, e.g. in a background thread."""
        from rorunner.transport._ssh_paramiko import load_paramiko  # noqa: PLC0415

        load_paramiko()
        from rorunner.transport import _ssh  # noqa: F401, PLC0415

    def get(self, spec: ConnectionSpec) -> Transport:
        """The Transport for `spec`, connecting on first use (UnreachableError/HostKeyError)."""
        if spec.connection == "local":
            if spec.become is not None:  # the plan refuses it; a library caller gets told too
                raise RemoteFailure(spec.name, "become is not supported with connection local")
            return LocalTransport(spec)
        return self._connection(spec).transport_for(spec)

    def _connection(self, spec: ConnectionSpec) -> SshConnection:
        key = spec.pool_key
        chain: list[PoolKey] = self._connecting.__dict__.setdefault("chain", [])
        if key in chain:  # only a library caller can get here: the CLI checks routes first
            raise UnreachableError(spec.name, "ProxyJump loop: a bastion is behind itself")
        with self._lock:
            self._forget_after_fork()
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            connection = self._connections.get(key)
            if connection is None or not connection.is_active():
                # paramiko is imported here, on the first SSH connection only.
                from rorunner.transport._ssh_paramiko import load_paramiko  # noqa: PLC0415

                load_paramiko()
                from rorunner.transport._ssh import SshConnection  # noqa: PLC0415

                if connection is not None:
                    connection.close()
                chain.append(key)
                try:
                    connection = SshConnection(spec, self.tunnel)
                finally:
                    chain.pop()
                with self._lock:
                    self._connections[key] = connection
                    self._opened += 1
        return connection

    def tunnel(self, bastion: ConnectionSpec, host: str, port: int) -> Tunneled:
        """A direct-tcpip channel to host:port through the pooled connection of `bastion`."""
        return self._connection(bastion).tunnel(host, port)

    def release(self, spec: ConnectionSpec) -> None:
        """Close the connection of `spec` (and its SFTP sessions) now that no step of the run
        needs it any more; a later `get` would connect again."""
        key = spec.pool_key
        with self._lock:
            self._forget_after_fork()
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock, self._lock:
            connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()

    def close_all(self) -> None:
        """Close every pooled connection (later `get` calls reconnect)."""
        with self._lock:
            self._forget_after_fork()
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            connection.close()


_default: Pool | None = None
_replacement: TransportPool | None = None
_default_lock = threading.Lock()


def default_pool() -> TransportPool:
    """The pool of actions called without one (plain doit): the process-wide Pool (closed
    at interpreter exit), unless replace_default_pool put another in its place."""
    global _default  # noqa: PLW0603 - one lazily created pool per process
    with _default_lock:
        if _replacement is not None:
            return _replacement
        if _default is None:
            _default = Pool()
            atexit.register(_default.close_all)
        return _default


def replace_default_pool(pool: TransportPool | None) -> TransportPool | None:
    """Make `default_pool()` return `pool` (None: the process-wide Pool again); returns
    the replacement it undoes, so that callers can restore it."""
    global _replacement  # the one switch for code that cannot pass a pool
    with _default_lock:
        previous, _replacement = _replacement, pool
        return previous
