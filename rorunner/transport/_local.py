"""The local transport (ansible_connection=local): subprocess and file copies."""

from __future__ import annotations

import errno
import os
import selectors
import signal
import stat
import subprocess
import time
from collections.abc import Mapping
from contextlib import suppress
from typing import BinaryIO

from rorunner.errors import RemoteFailure
from rorunner.model import ConnectionSpec
from rorunner.scheduling import started_policy
from rorunner.transport._files import (
    atomic_local_file,
    check_private_dir,
    checked_size,
    copy_local_file,
    copy_local_tree,
)
from rorunner.transport._shell import check_env
from rorunner.transport._temps import clean_local_dir_once

_CHUNK = 256 * 1024
_KILL_GRACE = 2.0
_JOIN_LIMIT = 10.0
_POLL = 0.5  # how soon a silent command's exit is noticed


def _pump(
    proc: subprocess.Popen[bytes],
    sinks: Mapping[int, BinaryIO | None],
    deadline: float | None,
) -> None:
    """Copy the pipes to their sinks in this thread until both end (no drain threads).

    Raises TimeoutExpired at the deadline. Once the shell has exited, a background
    child that still holds a pipe open gets _JOIN_LIMIT seconds, then is no longer read.
    """
    with selectors.DefaultSelector() as selector:
        for fd, sink in sinks.items():
            selector.register(fd, selectors.EVENT_READ, sink)
        grace_end: float | None = None
        while selector.get_map():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise subprocess.TimeoutExpired(proc.args, 0)
            if grace_end is None and proc.poll() is not None:
                grace_end = now + _JOIN_LIMIT
            if grace_end is not None and now >= grace_end:
                return
            limits = [t for t in (deadline, grace_end) if t is not None]
            wait = min([_POLL, *(t - now for t in limits)])
            for key, _ in selector.select(wait):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                elif key.data is not None:
                    key.data.write(chunk)


class LocalTransport:
    """Runs commands and copies files on the controller itself."""

    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec

    def _path(self, path: str) -> str:
        return os.path.join(os.path.expanduser("~"), path) if not os.path.isabs(path) else path

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
        """Run `command` via `sh -c` in its own process group; return its exit status."""
        full_env = {**os.environ, **check_env(env)}
        try:
            with started_policy():
                proc = subprocess.Popen(
                    ["sh", "-c", command],
                    cwd=self._path(cwd) if cwd else None,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
        except OSError as exc:
            raise RemoteFailure(self.spec.name, f"cannot run command: {exc}") from exc
        assert proc.stdout is not None and proc.stderr is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            _pump(proc, {proc.stdout.fileno(): stdout, proc.stderr.fileno(): stderr}, deadline)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            status = proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            self._kill_group(proc)
            raise RemoteFailure(
                self.spec.name, f"command timed out after {timeout}s and was killed"
            ) from None
        finally:
            proc.stdout.close()
            proc.stderr.close()
        return status if status >= 0 else 128 - status

    def _kill_group(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_KILL_GRACE)
        # Even when the leader obeyed TERM, other members of its group may linger.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=_KILL_GRACE)

    def put(self, local: str, remote: str, mode: int | None = None) -> None:
        """Copy a local file or tree to `remote` (a tree lands as the directory `remote`)."""
        target = self._path(remote)
        try:
            if os.path.isdir(local):
                copy_local_tree(local, target, _make_dir, copy_local_file)
            else:
                copy_local_file(local, target, mode)
        except OSError as exc:
            raise RemoteFailure(self.spec.name, f"put {local} -> {remote}: {exc}") from exc

    def put_bytes(self, data: bytes, remote: str, mode: int | None = None) -> None:
        """Write `data` to `remote` atomically (mode 0644 unless given)."""
        try:
            with atomic_local_file(self._path(remote), mode) as handle:
                handle.write(data)
        except OSError as exc:
            raise RemoteFailure(self.spec.name, f"put {remote}: {exc}") from exc

    def get(self, remote: str, local: str) -> None:
        """Copy `remote` to `local` atomically, keeping its mode (stale temp files go first)."""
        try:
            clean_local_dir_once(os.path.dirname(os.path.abspath(local)))
            copy_local_file(self._path(remote), local)
        except OSError as exc:
            raise RemoteFailure(self.spec.name, f"get {remote}: {exc}") from exc

    def read(self, remote: str, limit: int) -> bytes | None:
        """The bytes of the file `remote` (None when missing); nothing is written."""
        path = self._path(remote)
        try:
            with open(path, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise OSError(errno.EINVAL, "not a regular file", path)
                return checked_size(handle.read(limit + 1), limit, path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RemoteFailure(self.spec.name, f"read {remote}: {exc}") from exc

    def ensure_dir(self, path: str, private: bool = True) -> str:
        """Create `path` (0700 when private), check it, and return it absolute."""
        target = os.path.abspath(self._path(path))
        try:
            os.makedirs(target, mode=0o700 if private else 0o755, exist_ok=True)
            if private:
                os.chmod(target, 0o700)
            st = os.stat(target)
            problem = (
                check_private_dir(target, st.st_mode, st.st_uid, os.getuid()) if private else None
            )
        except OSError as exc:
            raise RemoteFailure(self.spec.name, f"ensure_dir {path}: {exc}") from exc
        if problem:
            raise RemoteFailure(self.spec.name, problem)
        return target

    def prepare_dir(self, path: str) -> str:
        """Create the work dir `path` private when missing; an existing one is left alone,
        but for its stale temp files (removed the first time this process prepares it)."""
        target = os.path.abspath(self._path(path))
        if not os.path.isdir(target):
            return self.ensure_dir(path, private=True)
        clean_local_dir_once(target)
        return target

    def close(self) -> None:
        """Nothing to close."""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _make_dir(path: str, mode: int) -> None:
    """Create `path` with `mode`; an existing directory keeps its mode (as over SSH)."""
    if not os.path.isdir(path):
        os.makedirs(path)
        os.chmod(path, mode)
