"""doit python-actions over plain data; each reaches its host through a TransportPool.

An action is called as `action(pool)` by whoever runs it with a pool of its own (the
engine, rorunner.testing) and as `action()` by plain doit, which then uses the process
pool (`default_pool()`). It returns None on success and a StepFailure (carrying the
typed rorunner error) on an expected failure, so the engine can classify it.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rorunner.errors import RemoteFailure, RorunnerError, TransportError
from rorunner.masking import secret_values
from rorunner.model import ConnectionSpec, Env, FileMove, reveal
from rorunner.tasks._outcome import StepFailure
from rorunner.tasks._sinks import TailSink, log_paths, quote_output
from rorunner.transport import Transport, TransportPool, default_pool


def transport_for(spec: ConnectionSpec, pool: TransportPool | None) -> Transport:
    """The Transport of `spec` from `pool`, or from the process pool when none is given."""
    return (pool if pool is not None else default_pool()).get(spec)


def prepare_dir(transport: Transport, path: str) -> str:
    """Create `path` private (0700) when missing; an existing one is left alone."""
    return transport.prepare_dir(path)


@contextmanager
def _outputs(log_dir: str | None, stem: str) -> Iterator[tuple[TailSink, TailSink]]:
    if log_dir is None:
        yield TailSink(text=sys.stdout), TailSink(text=sys.stderr)
        return
    out_path, err_path = log_paths(log_dir, stem)
    out, err = TailSink(path=out_path), TailSink(path=err_path)  # a file once there is output
    try:
        yield out, err
    finally:
        out.close()
        err.close()


def _exit_failure(host: str, command: str, status: int, output: str) -> StepFailure:
    first_line = command.strip().splitlines()[0] if command.strip() else command
    cause = f"command exited with status {status}: {first_line[:200]}"
    if output:
        cause += "\n" + output
    return StepFailure(RemoteFailure(host, cause), exit_status=status)


def _with_output(error: RorunnerError, output: str) -> RorunnerError:
    """A command's failure other than its exit status (a timeout, a lost connection), with
    the output it had printed."""
    if not output or not isinstance(error, TransportError):
        return error
    return type(error)(error.host, f"{error.cause}\n{output}")


@dataclass(frozen=True, repr=False)
class RunCommands:
    """Run shell commands in order on a host (or on the controller for a local spec)."""

    spec: ConnectionSpec
    commands: tuple[str, ...]
    env: Env = ()  # a Secret value is revealed only here, for the command's environment
    workdir: str | None = None  # the cwd (a local step's: absolute)
    timeout: float | None = None
    log_dir: str | None = None
    log_stem: str = "step"
    positional: tuple[str, ...] = ()  # "$1".. of every command
    prepare: bool = False  # a remote step's work dir: created private when missing

    def __call__(self, pool: TransportPool | None = None) -> StepFailure | None:
        """Run every command; stop at the first failure."""
        with _outputs(self.log_dir, self.log_stem) as (out, err):
            try:
                return self._run(transport_for(self.spec, pool), out, err)
            except RorunnerError as exc:
                return StepFailure(_with_output(exc, self._quote(out, err)))

    def _quote(self, out: TailSink, err: TailSink) -> str:
        """The end of the output, as a failure quotes it (secret-like variables masked)."""
        logs = log_paths(self.log_dir, self.log_stem) if self.log_dir is not None else None
        return quote_output(out, err, logs, secret_values(self.env))

    def _run(self, transport: Transport, out: TailSink, err: TailSink) -> StepFailure | None:
        cwd = self.workdir
        if cwd is not None and self.prepare:  # over SSH and for a connection=local host alike
            cwd = prepare_dir(transport, cwd)
        prefix = f"set -- {shlex.join(self.positional)}\n" if self.positional else ""
        for command in self.commands:
            status = transport.exec(
                prefix + command,
                env={name: str(reveal(value)) for name, value in self.env},
                cwd=cwd,
                timeout=self.timeout,
                stdout=out.as_binary(),
                stderr=err.as_binary(),
            )
            if status != 0:
                return _exit_failure(self.spec.name, command, status, self._quote(out, err))
        return None

    def __repr__(self) -> str:
        where = "local" if self.spec.connection == "local" else self.spec.name
        return f"<run {len(self.commands)} command(s) on {where}>"


@dataclass(frozen=True, repr=False)
class ShipFiles:
    """Copy local files/trees (or rendered bytes) into a remote directory."""

    spec: ConnectionSpec
    moves: tuple[FileMove, ...]
    remote_dir: str

    def __call__(self, pool: TransportPool | None = None) -> StepFailure | None:
        """Ship every move; the first error fails the step."""
        try:
            transport = transport_for(self.spec, pool)
            root = prepare_dir(transport, self.remote_dir)
            ready = {root}
            for move in self.moves:
                self._ship(transport, root, move, ready)
        except RorunnerError as exc:
            return StepFailure(exc)
        except OSError as exc:
            return StepFailure(RemoteFailure(self.spec.name, f"ship: {exc}"))
        return None

    @staticmethod
    def _ship(transport: Transport, root: str, move: FileMove, ready: set[str]) -> None:
        dest = move.dest if posixpath.isabs(move.dest) else posixpath.join(root, move.dest)
        parent = posixpath.dirname(dest)
        if not posixpath.isabs(move.dest) and parent not in ready:
            prepare_dir(transport, parent)
            ready.add(parent)
        if move.content is not None:
            transport.put_bytes(move.content, dest, move.mode)
        else:
            transport.put(move.src, dest, move.mode)

    def __repr__(self) -> str:
        return f"<ship {len(self.moves)} file(s) to {self.spec.name}:{self.remote_dir}>"


@dataclass(frozen=True, repr=False)
class FetchFiles:
    """Copy remote files to local paths under `root`, refusing any that would escape it."""

    spec: ConnectionSpec
    pairs: tuple[tuple[str, str], ...]  # (remote path, local path)
    root: str

    def __call__(self, pool: TransportPool | None = None) -> StepFailure | None:
        """Fetch every pair; the first error fails the step."""
        try:
            transport = transport_for(self.spec, pool)
            for remote, local in self.pairs:
                self._check_inside(remote, local)
                os.makedirs(os.path.dirname(local), exist_ok=True)
                transport.get(remote, local)
        except RorunnerError as exc:
            return StepFailure(exc)
        except OSError as exc:
            return StepFailure(RemoteFailure(self.spec.name, f"fetch: {exc}"))
        return None

    def _check_inside(self, remote: str, local: str) -> None:
        root = os.path.realpath(self.root)
        real = os.path.realpath(local)  # resolves symlinks already on the controller
        if os.path.commonpath([root, real]) != root or real == root:
            raise RemoteFailure(
                self.spec.name, f"refusing to fetch {remote}: {local} resolves outside {self.root}"
            )

    def __repr__(self) -> str:
        return f"<fetch {len(self.pairs)} file(s) from {self.spec.name} into {self.root}>"


# The actions the task generators make; each is called as action(pool) or action().
TaskAction = RunCommands | ShipFiles | FetchFiles
TASK_ACTIONS = (RunCommands, ShipFiles, FetchFiles)
