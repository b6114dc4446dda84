"""Transport: run commands and move files on one host; one pooled connection per host.

This package sees only `rorunner.model` and `rorunner.errors`. paramiko is
imported lazily, by the ssh implementation alone, so a run with nothing to do
never imports it.

Contract (implemented in the private modules of this package):

- `Transport.exec(command, env=..., cwd=..., timeout=..., stdout=..., stderr=...)`
  runs `command` with `sh -c` in `cwd`, streams both outputs concurrently into
  the binary sinks, returns the exit status; a missing exit status or a
  timeout raises RemoteFailure (the timeout also kills the remote process).
- `put(local, remote, mode=None)`: a file or a tree; `put_bytes(data, remote, mode)`;
  every file is written to a temporary name and renamed into place.
- `get(remote, local)`: a file, atomically (temp + rename) on the controller.
- `ensure_dir(path, private=True)`: creates the directory (0700 when private),
  checks it, and returns its absolute path (relative paths are under the
  login home).
- Errors: UnreachableError / HostKeyError (connect, banner, auth, host key) or
  RemoteFailure (exit status, SFTP, timeout), each naming the host and cause.

Pool API: `default_pool().get(spec)` returns the Transport of a ConnectionSpec
(one SSHClient and one SFTP session per (address, port, user), connected on
first use); `pool.close_all()`, `pool.opened`. `spec_for_address(text, **overrides)`
builds a ConnectionSpec for a bare address from RORUNNER_* environment variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import BinaryIO, Protocol

from rorunner.model import ConnectionSpec


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

    def ensure_dir(self, path: str, private: bool = True) -> str:
        """Create `path` (0700 when private) and return it absolute."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


from rorunner.transport._address import spec_for_address  # noqa: E402
from rorunner.transport._local import LocalTransport  # noqa: E402
from rorunner.transport._pool import Pool, default_pool  # noqa: E402

__all__ = ["LocalTransport", "Pool", "Transport", "default_pool", "spec_for_address"]
