"""Transport: run commands and move files on one host; one pooled connection per host.

This package sees only `rorunner.model` and `rorunner.errors`. paramiko is
imported lazily, by the ssh implementation alone, so a run with nothing to do
never imports it.

Contract (implemented in the private modules of this package):

- `Transport.exec(command, env=..., cwd=..., timeout=..., stdout=..., stderr=...)`
  runs `command` with `sh -c` in `cwd`, streams both outputs concurrently into
  the binary sinks, returns the exit status; a command killed by signal N
  returns 128+N, as a shell reports it, over SSH as locally (not an error:
  the step fails with that status). A missing exit status (the connection or
  channel closed) or a timeout raises RemoteFailure (the timeout also kills the
  remote process group). Over SSH, cwd, env and command reach the host on the
  channel's stdin (never in argv); the command's own stdin is empty.
- `put(local, remote, mode=None)`: a file (to the file `remote`; mode: given, else the
  local file's) or a tree (mirrored as the directory `remote`; files keep their modes,
  directories created keep theirs, existing ones are left alone); `put_bytes(data,
  remote, mode)` (0644 unless given); every file is written to a new temp file
  `<dir>/.<name>.rorunner-tmp-<controller>-<pid>-<random>` (mode 0600), every write
  acknowledged, then renamed into place, so a reader sees the old file or the new one;
  a refused write (a full disk is named as such) keeps the old file and removes the temp
  file. Parent directories must exist (see `ensure_dir`).
- `get(remote, local)`: a file, atomically (temp + rename) on the controller, kept only
  when exactly the size the open file had arrived.
- `read(remote, limit)`: the bytes of a regular file, None when there is none; a
  directory, a special file or more than `limit` bytes is a RemoteFailure. Nothing is
  written (what `--diff` compares a shipped file against).
- `ensure_dir(path, private=True)`: creates the directory (0700 when private),
  checks it, and returns its absolute path (relative paths are under the
  login home). Relative (and `~/`) remote paths are under the login home everywhere.
- `prepare_dir(path)`: a step's work dir. Missing: created as by `ensure_dir(path,
  private=True)`; existing: left as it is (never chmodded: it may be /tmp), but for the
  temp files of interrupted writes (`_temps` says which). Returns it absolute. Over SSH it
  takes SFTP requests only (mkdir first), no command, and a connection remembers the dirs
  it prepared.
- Errors: UnreachableError / HostKeyError (connect, banner, auth, host key, a connection
  lost) or RemoteFailure (exit status, SFTP, timeout), each naming the host and cause.
- Dead peers: keepalive requests that expect a reply every ServerAliveInterval seconds
  (ssh_config; default 15); no reply for ServerAliveInterval x ServerAliveCountMax
  (default 3) seconds closes the connection, so whatever waits on it raises
  UnreachableError (docs/transport.md).

Pool API: a `TransportPool` hands out Transports: `pool.get(spec)` returns the
Transport of a ConnectionSpec, `pool.close_all()` drops every connection (later
`get` calls reconnect). `Pool` is the real one (one SSHClient and one SFTP session
per (address, port, user), connected on first use, at most 8 commands at once per
connection, SFTP calls serialised; `pool.opened` counts connections); a
`connection="local"` spec gets a LocalTransport. Whoever runs work passes its pool
in (the engine's EngineOptions.pool, the ad hoc runner's `pool`, the task
generators' actions called as `action(pool)`); an action called without one, as
plain doit calls it, uses `default_pool()`, the process-wide Pool (closed at
interpreter exit), which `replace_default_pool` swaps, e.g. for a fake in tests
(see rorunner.testing).
`spec_for_address(text, **overrides)` builds a ConnectionSpec for a bare address
from RORUNNER_* environment variables.

Connecting: ssh_config (spec.ssh_config, else ~/.ssh/config) fills HostName (for
names, not IP literals), Port, User, IdentityFile and UserKnownHostsFile where the
spec left them None; then port 22 and the current user. An explicit key_file is
used alone (no agent, no ~/.ssh/id_* guessing), as are IdentityFiles under
IdentitiesOnly yes. connect_timeout bounds the TCP
connect, the SSH banner and authentication (the whole negotiation: twice that).
Host keys are checked against spec.known_hosts, ssh_config's UserKnownHostsFile
and ~/.ssh/known_hosts, as `addr` (port 22) or `[addr]:port`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import BinaryIO, Protocol

from rorunner.model import ConnectionSpec

# AEAD ciphers first: paramiko checks a MAC in pure Python per packet (an HMAC object and
# a byte-by-byte compare); AES-GCM authenticates inside the cipher, in C. Both are among
# OpenSSH's defaults; the others stay as fallbacks, nothing is disabled.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


class Transport(Protocol):
    """One live connection to one host."""

    spec: ConnectionSpec

    def exec(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
    ) -> int:
        """Run `command` via `sh -c`; return its exit status."""
        ...

    def put(self, local: str, remote: str, mode: int | None = None) -> None:
        """Copy a local file or tree to `remote`, atomically per file."""
        ...

    def put_bytes(self, data: bytes, remote: str, mode: int | None = None) -> None:
        """Write `data` to the remote file `remote`, atomically."""
        ...

    def get(self, remote: str, local: str) -> None:
        """Copy the remote file `remote` to the local path `local`, atomically."""
        ...

    def read(self, remote: str, limit: int) -> bytes | None:
        """The bytes of the remote file `remote` (None when missing); writes nothing."""
        ...

    def ensure_dir(self, path: str, private: bool = True) -> str:
        """Create `path` (0700 when private) and return it absolute."""
        ...

    def prepare_dir(self, path: str) -> str:
        """Create the work dir `path` private when missing (existing: left alone); absolute."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class TransportPool(Protocol):
    """Where work gets the Transport of a host (shared by threads)."""

    def get(self, spec: ConnectionSpec) -> Transport:
        """The Transport for `spec` (UnreachableError/HostKeyError when it cannot connect)."""
        ...

    def close_all(self) -> None:
        """Close every connection; running commands end, later `get` calls reconnect."""
        ...


from rorunner.transport._check import (  # noqa: E402
    PoolKey,
    bastion_keys,
    check_routes,
    routes_to_read,
)
from rorunner.transport._local import LocalTransport  # noqa: E402
from rorunner.transport._pool import Pool, default_pool, replace_default_pool  # noqa: E402
from rorunner.transport._spec import spec_for_address  # noqa: E402

__all__ = [
    "PREFERRED_CIPHERS",
    "LocalTransport",
    "Pool",
    "PoolKey",
    "Transport",
    "TransportPool",
    "bastion_keys",
    "check_routes",
    "default_pool",
    "replace_default_pool",
    "routes_to_read",
    "spec_for_address",
]
