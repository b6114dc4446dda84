"""The local transport (ansible_connection=local): subprocess and file copies."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from contextlib import suppress
from typing import IO, BinaryIO

from rorunner.errors import RemoteFailure
from rorunner.model import ConnectionSpec
from rorunner.transport._files import (
    atomic_local_file,
    check_private_dir,
    copy_local_file,
    copy_local_tree,
)
from rorunner.transport._shell import check_env

_CHUNK = 256 * 1024
_KILL_GRACE = 2.0
_JOIN_LIMIT = 10.0


def _drain(source: IO[bytes], sink: BinaryIO | None) -> None:
    with source:
        while chunk := os.read(source.fileno(), _CHUNK):
            if sink is not None:
                sink.write(chunk)


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
        drains = [
            threading.Thread(target=_drain, args=(proc.stdout, stdout), daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, stderr), daemon=True),
        ]
        for thread in drains:
            thread.start()
        try:
            status = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group(proc)
            raise RemoteFailure(
                self.spec.name, f"command timed out after {timeout}s and was killed"
            ) from None
        finally:
            for thread in drains:
                thread.join(_JOIN_LIMIT)
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
        """Copy `remote` to `local` atomically, keeping its mode."""
        try:
            copy_local_file(self._path(remote), local)
        except OSError as exc:
            raise RemoteFailure(self.spec.name, f"get {remote}: {exc}") from exc

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
        """Create the work dir `path` private when missing; an existing one is left alone."""
        target = os.path.abspath(self._path(path))
        return target if os.path.isdir(target) else self.ensure_dir(path, private=True)

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
