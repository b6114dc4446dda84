"""In-memory hosts for tests: a TransportPool whose hosts are dicts, not machines.

Test a dodo.py (or anything built with the task generators) without SSH:

    from rorunner import gen_task_remote_exec
    from rorunner.testing import FakePool, run_task

    pool = FakePool()
    pool.host("2001:db8::1").on("uname", stdout=b"Linux\\n")
    task = gen_task_remote_exec("uname -r", "2001:db8::1")
    assert run_task(task, pool) is None
    assert pool.host("2001:db8::1").commands == ["uname -r"]

`run_task` calls a task's actions as doit would, handing rorunner's actions the pool;
`installed(pool)` makes the pool the default of actions that doit itself calls, for a
whole `doit` run in a test; `EngineOptions(..., pool=pool)` gives it to the engine.
Hosts are keyed by the name the generators give them (the spec's label, else its
address). Commands are not run: each gets the reply of the newest rule matching it
(`on`), else exit status 0 and no output. Files shipped land in `files`; files to be
fetched must be put there first. A `connection="local"` spec (the controller) gets a
real LocalTransport: only remote hosts are pretend.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from rorunner.errors import RemoteFailure, UnreachableError
from rorunner.model import ConnectionSpec
from rorunner.tasks import TASK_ACTIONS
from rorunner.transport import (
    LocalTransport,
    Transport,
    TransportPool,
    replace_default_pool,
)

FAKE_HOME = "/home/fake"


@dataclass(frozen=True)
class Exec:
    """One command as a fake host received it."""

    command: str
    cwd: str | None
    env: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    """What a fake host answers to a command; `effect` may change the host first."""

    status: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    effect: Callable[[FakeHost, Exec], None] | None = None


class FakeHost:
    """One pretend host: its files, directories, and every transport call made to it.

    `calls` records each call as a tuple: ("exec", command, cwd, env), ("put", local,
    remote, mode), ("put_bytes", remote, mode), ("get", remote, local), ("read", remote,
    limit), ("ensure_dir", path, private), ("prepare_dir", path), with the arguments as
    given.
    """

    def __init__(self, name: str, home: str = FAKE_HOME) -> None:
        self.name = name
        self.home = home
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, int] = {}
        self.dirs: set[str] = {"/", "/tmp", *_parents(home), home}
        self.calls: list[tuple[Any, ...]] = []
        self.unreachable = ""  # a cause: connecting to this host fails with it
        self._rules: list[tuple[str, Reply]] = []
        self._lock = threading.Lock()

    def on(
        self,
        pattern: str,
        *,
        status: int = 0,
        stdout: bytes = b"",
        stderr: bytes = b"",
        effect: Callable[[FakeHost, Exec], None] | None = None,
    ) -> FakeHost:
        """Answer commands containing `pattern` ("" matches all); the newest rule wins."""
        self._rules.append((pattern, Reply(status, stdout, stderr, effect)))
        return self

    @property
    def commands(self) -> list[str]:
        """Every command run, in order."""
        return [call[1] for call in self.calls if call[0] == "exec"]

    def path(self, path: str) -> str:
        """`path` as the host resolves it: absolute, relative ones under its home."""
        if path == "~" or path.startswith("~/"):
            path = self.home + path[1:]
        return posixpath.normpath(posixpath.join(self.home, path))

    def reply(self, run: Exec) -> Reply:
        """The reply of the newest rule matching the command (exit 0 without one)."""
        with self._lock:
            self.calls.append(("exec", run.command, run.cwd, dict(run.env)))
            rules = list(self._rules)
        for pattern, reply in reversed(rules):
            if pattern in run.command:
                return reply
        return Reply()

    def record(self, *call: Any) -> None:
        """Log a transport call."""
        with self._lock:
            self.calls.append(call)

    def make_dirs(self, path: str) -> None:
        """Create a directory and its parents."""
        with self._lock:
            self.dirs.update({*_parents(path), path})

    def write(self, path: str, data: bytes, mode: int) -> None:
        """Store a file whose parent directory must exist (as over SFTP)."""
        parent = posixpath.dirname(path)
        with self._lock:
            if parent not in self.dirs:
                raise RemoteFailure(self.name, f"put {path}: no such directory {parent}")
            self.files[path] = data
            self.modes[path] = mode


class FakeTransport:
    """The Transport protocol over a FakeHost."""

    def __init__(self, spec: ConnectionSpec, host: FakeHost) -> None:
        self.spec = spec
        self.host = host

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
        """Record the command and give the matching rule's reply."""
        run = Exec(command, cwd, dict(env or {}))
        reply = self.host.reply(run)
        if reply.effect is not None:
            reply.effect(self.host, run)
        for sink, data in ((stdout, reply.stdout), (stderr, reply.stderr)):
            if sink is not None and data:
                sink.write(data)
        return reply.status

    def put(self, local: str, remote: str, mode: int | None = None) -> None:
        """Store a local file, or every file of a local tree under the directory `remote`."""
        self.host.record("put", local, remote, mode)
        target = self.host.path(remote)
        if not os.path.isdir(local):
            self.host.write(target, Path(local).read_bytes(), _mode(local, mode))
            return
        self.host.make_dirs(target)
        for top, _dirs, files in os.walk(local):
            here = posixpath.join(target, os.path.relpath(top, local).replace(os.sep, "/"))
            self.host.make_dirs(posixpath.normpath(here))
            for name in files:
                path = os.path.join(top, name)
                dest = posixpath.normpath(posixpath.join(here, name))
                self.host.write(dest, Path(path).read_bytes(), _mode(path, None))

    def put_bytes(self, data: bytes, remote: str, mode: int | None = None) -> None:
        """Store `data` as the file `remote` (0644 unless `mode`)."""
        self.host.record("put_bytes", remote, mode)
        self.host.write(self.host.path(remote), data, 0o644 if mode is None else mode)

    def get(self, remote: str, local: str) -> None:
        """Copy a stored file to `local`, atomically; a missing one is a RemoteFailure."""
        self.host.record("get", remote, local)
        data = self.host.files.get(self.host.path(remote))
        if data is None:
            raise RemoteFailure(self.host.name, f"get {remote}: no such file")
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(local) or ".", prefix=".fake-get-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, local)

    def read(self, remote: str, limit: int) -> bytes | None:
        """A stored file's bytes (None when there is none); more than `limit` is refused."""
        self.host.record("read", remote, limit)
        data = self.host.files.get(self.host.path(remote))
        if data is not None and len(data) > limit:
            raise RemoteFailure(self.host.name, f"read {remote}: larger than {limit} bytes")
        return data

    def ensure_dir(self, path: str, private: bool = True) -> str:
        """Create the directory (and parents); return it absolute."""
        self.host.record("ensure_dir", path, private)
        target = self.host.path(path)
        self.host.make_dirs(target)
        return target

    def prepare_dir(self, path: str) -> str:
        """Create the directory (and parents) when missing; return it absolute."""
        self.host.record("prepare_dir", path)
        target = self.host.path(path)
        self.host.make_dirs(target)
        return target

    def close(self) -> None:
        """Nothing to close."""


class FakePool:
    """A TransportPool of FakeHosts, made on first mention; the controller stays real."""

    def __init__(self) -> None:
        self.hosts: dict[str, FakeHost] = {}
        self.connected: list[str] = []  # host names, once per connection opened
        self.closed = 0  # close_all calls
        self._open: set[str] = set()
        self._lock = threading.Lock()

    def host(self, name: str) -> FakeHost:
        """The fake host called `name` (a spec's label, else its address)."""
        with self._lock:
            return self.hosts.setdefault(name, FakeHost(name))

    def get(self, spec: ConnectionSpec) -> Transport:
        """A FakeTransport for `spec`; a LocalTransport for a local spec."""
        if spec.connection == "local":
            return LocalTransport(spec)
        host = self.host(spec.name)
        if host.unreachable:
            raise UnreachableError(spec.name, host.unreachable)
        with self._lock:
            if spec.name not in self._open:
                self._open.add(spec.name)
                self.connected.append(spec.name)
        return FakeTransport(spec, host)

    def close_all(self) -> None:
        """Forget the connections (the next `get` of a host counts as a new one)."""
        with self._lock:
            self.closed += 1
            self._open.clear()

    @property
    def opened(self) -> int:
        """How many connections were opened so far (as Pool.opened)."""
        return len(self.connected)


def run_task(task: Mapping[str, Any], pool: TransportPool) -> Any:
    """Run a generated task's actions in order, as doit would, rorunner's with `pool`;
    return the first failure (a StepFailure, or False) or None."""
    for action in task["actions"]:
        if isinstance(action, tuple):
            func, args, kwargs = (*action, None, None)[:3]
            result = func(*(args or ()), **(kwargs or {}))
        elif isinstance(action, TASK_ACTIONS):
            result = action(pool)
        else:
            result = action()
        if result is not None and result is not True and not isinstance(result, dict | str):
            return result
    return None


@contextmanager
def installed(pool: TransportPool) -> Iterator[TransportPool]:
    """Within the block, actions called without a pool (as doit calls them) use `pool`."""
    previous = replace_default_pool(pool)
    try:
        yield pool
    finally:
        replace_default_pool(previous)


def _parents(path: str) -> list[str]:
    parts = []
    while path not in ("/", ""):
        path = posixpath.dirname(path)
        parts.append(path)
    return parts


def _mode(local: str, mode: int | None) -> int:
    return mode if mode is not None else os.stat(local).st_mode & 0o777
