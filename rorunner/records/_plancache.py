"""The plan cache: what an unchanged re-run needs to answer "nothing to do" without planning.

A run whose every step is up to date (checked against the dependency DB under the project
lock, issue 12) leaves `.rorunner/plan-cache/<key>.json`: the state of every input the
planner touched, the DB's state, the files doit's check reads (targets, run-made files), and
what the run record and the screen need. `<key>` is a digest of everything outside the files
that a plan depends on: the command line as given, the working directory, the user, the
environment, the interpreter and the code of rorunner itself.

Inputs are recorded while the plan is made, not listed by hand: an audit hook sees each file
opened and each directory listed (by anything but the import system), and `os.stat`,
`os.lstat` and `os.access` are wrapped meanwhile, so a probe for a file that is not there
(a host_vars file, a role on an earlier search path) is an input too. A file's state is its
device, inode, mode, size, mtime and ctime: content hashing would cost what planning costs
(a 1 GiB shipped file), and a write(2) changes the ctime, which no user call can set back.
(Not every change does: a second store through a shared writable mmap before the page was
written back, or a network filesystem's cached attributes; the README names these limits.)
A file changed within a clock tick of being read could keep all of them; such an input makes
no cache (as git's "racy clean" entries), and neither does anything that makes a plan not a
function of its files: a program run, a connection, a random number drawn by a template.

The DB is the one input written by runs: its state plus its content's sha256, read under the
lock; while its ctime is too recent to trust, the content is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rorunner import __version__
from rorunner.errors import LockedError
from rorunner.records._lock import ProjectLock
from rorunner.records._model import PlayRecord, StepRecord, utc_iso
from rorunner.records._reader import STATE_DIR, plan_path, prune_runs, record_path
from rorunner.records._writer import RecordWriter, RunMeta, new_run_id, write_atomic

CACHE_DIR = "plan-cache"
FORMAT = 1
# Within this much of a read, a file's ctime cannot prove it unchanged: Linux stamps files
# from a clock that advances once per tick (1-10 ms) and lags the real time by up to a tick.
RACY_NS = 20_000_000
# A filesystem that stamps whole seconds (ext3, FAT, some NFS): two seconds.
RACY_COARSE_NS = 2_000_000_000
MAX_CACHES = 16  # cache files kept per project (one per command line and environment)
# Shell bookkeeping, not what a run depends on.
_VOLATILE_ENV = frozenset({"_", "OLDPWD", "SHLVL"})
_VOLATILE_DIRS = ("/proc/", "/sys/")  # files whose state says nothing of their content
# Events that make a plan depend on more than files (an audit event name, or its prefix).
_DOUBTFUL = ("subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.fork", "socket.")
_WATCHED = frozenset({"open", "os.listdir", "os.scandir"})
_IMPORTERS = frozenset({"importlib._bootstrap", "importlib._bootstrap_external", "zipimport"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_BLOCK = 1 << 20
_STAT, _LSTAT = os.stat, os.lstat  # the real ones: recording() wraps os.stat and os.lstat


def path_state(path: str, kind: str) -> str:
    """What the planner could have learned from `path` with a `kind` of access:
    o (opened), s (stat), l (lstat), d (listed); '-' when it is not there."""
    try:
        info = _LSTAT(path) if kind == "l" else _STAT(path)
    except (OSError, ValueError):
        return "-"
    ident = f"{info.st_dev}:{info.st_ino}:{info.st_mode:o}"
    is_dir = stat.S_ISDIR(info.st_mode)
    if is_dir and kind != "d":  # only its existence and kind (runs add files beside inputs)
        return f"d:{ident}"
    return f"{ident}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def _plain(path: str, kind: str) -> bool:
    """Whether `path` is missing, a directory, a symbolic link or a regular file."""
    try:
        mode = (_LSTAT(path) if kind == "l" else _STAT(path)).st_mode
    except (OSError, ValueError):
        return True
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)


def racy(ctime_ns: int, now_ns: int) -> bool:
    """Whether a change at `ctime_ns` is too close to `now_ns` to show in the stamps."""
    coarse = ctime_ns % 1_000_000_000 == 0
    return ctime_ns > now_ns - (RACY_COARSE_NS if coarse else RACY_NS)


def _ctime(state: str) -> int | None:
    parts = state.split(":")
    return int(parts[-1]) if len(parts) == 6 else None


def file_sha256(path: str) -> str:
    """The sha256 of a file's content ('' when it cannot be read)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


class InputRecorder:
    """Records what planning reads (see the module doc); `doubt` says why the plan it made
    cannot be cached ('' when it can)."""

    def __init__(self) -> None:
        self.inputs: dict[str, str] = {}  # "<kind>:<absolute path>" -> path_state
        self.doubt = ""

    def note(self, path: object, kind: str) -> None:
        """`path` was read (or probed) with this kind of access, now."""
        if not isinstance(path, str | bytes | os.PathLike):
            return  # a file descriptor
        name = os.path.abspath(os.fsdecode(path))
        key = f"{kind}:{name}"
        if key in self.inputs:
            return
        state = self.inputs[key] = path_state(name, kind)
        if self.doubt:
            return
        ctime = _ctime(state)
        if ctime is not None and racy(ctime, time.time_ns()):
            self.doubt = f"{name} changed as it was read"
        elif name.startswith(_VOLATILE_DIRS) or not _plain(name, kind):
            self.doubt = f"{name} is not a plain file"  # a pipe, a device, /proc: no state

    def event(self, name: str, args: tuple[Any, ...]) -> None:
        """An audit event (sys.addaudithook) raised while planning."""
        if name == "open":
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            if flags & _WRITE_FLAGS or "w" in str(args[1] or "") or "a" in str(args[1] or ""):
                self.doubt = self.doubt or f"planning wrote {args[0]}"
            self.note(args[0], "o")
        elif name in ("os.listdir", "os.scandir"):
            self.note(args[0] if args and args[0] is not None else ".", "d")
        elif name.startswith(_DOUBTFUL):
            self.doubt = self.doubt or f"planning used {name}"

    def made(self, path: Path) -> None:
        """`path`, read while planning and missing then, was just written with what planning
        used in its place (the project's new signing key): its state is now this one."""
        key = f"o:{os.path.abspath(path)}"
        if self.inputs.get(key) == "-":
            self.inputs[key] = path_state(key[2:], "o")

    def current(self) -> dict[str, str]:
        """Every recorded input's state now."""
        return {key: path_state(key[2:], key[0]) for key in self.inputs}


_RECORDING: list[InputRecorder] = []
_HOOKED: list[bool] = []


def _audit(name: str, args: tuple[Any, ...]) -> None:
    if not _RECORDING or not (name in _WATCHED or name.startswith(_DOUBTFUL)):
        return
    recorder = _RECORDING[-1]
    try:
        caller = sys._getframe(1).f_globals.get("__name__")  # itself an event, not watched
        if caller in _IMPORTERS:
            return
        recorder.event(name, args)
    except Exception as exc:  # an audit hook must not break what it watches
        recorder.doubt = recorder.doubt or f"recording failed: {exc!r}"


@contextmanager
def recording() -> Iterator[InputRecorder]:
    """Record the inputs of what runs inside (one thread: planning)."""
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    import random  # noqa: PLC0415 - lazy: the fast path never records

    recorder = InputRecorder()
    saved = os.stat, os.lstat, os.access
    state = random.getstate()
    os.stat = _probe(saved[0], recorder, "s")
    os.lstat = _probe(saved[1], recorder, "l")
    os.access = _probe(saved[2], recorder, "s")
    _RECORDING.append(recorder)
    try:
        yield recorder
    finally:
        _RECORDING.remove(recorder)
        os.stat, os.lstat, os.access = saved
        if random.getstate() != state:
            recorder.doubt = recorder.doubt or "a template drew random numbers"


def _probe(real: Callable[..., Any], recorder: InputRecorder, kind: str) -> Callable[..., Any]:
    def probe(path: Any, *args: Any, **kwargs: Any) -> Any:
        if _RECORDING and kwargs.get("dir_fd") is None:
            follow = kwargs.get("follow_symlinks", True)
            try:
                recorder.note(path, kind if follow else "l")
            except Exception as exc:  # the real call says what is wrong with `path`
                recorder.doubt = recorder.doubt or f"recording failed: {exc!r}"
        return real(path, *args, **kwargs)

    return probe


def run_key(command: object, env: Mapping[str, str] | None = None) -> str:
    """The digest of what a plan depends on besides its files: the command line (`command`,
    JSON data), working directory, user, environment, interpreter, installed packages and
    rorunner's code."""
    env = os.environ if env is None else env
    material = {
        "format": FORMAT,
        "command": command,
        "cwd": os.getcwd(),
        "ids": [os.getuid(), os.getgid(), os.uname().nodename],  # the record's user, host
        "env": sorted((k, v) for k, v in env.items() if k not in _VOLATILE_ENV),
        "python": [sys.version, sys.executable, sys.path],
        # a package installed or removed (not the working directory `python -m` puts first)
        "paths": [path_state(p, "d") for p in sys.path if p and p != os.getcwd()],
        "rorunner": [__version__, _code_state()],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def _code_state() -> str:
    """Every module of rorunner by size and mtime (an edited checkout is another version)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir() and entry.name != "__pycache__":
                    stack.append(entry.path)
                elif entry.name.endswith((".py", ".json")):
                    info = entry.stat()
                    digest.update(f"{entry.path}:{info.st_size}:{info.st_mtime_ns};".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DepState:
    """The dependency DB as a no-op run left it: its state, content digest, and when."""

    path: str
    state: str
    sha256: str
    at_ns: int

    @classmethod
    def now(cls, path: Path) -> DepState:
        """Read now (the caller holds the project lock)."""
        return cls(str(path), path_state(str(path), "o"), file_sha256(str(path)), time.time_ns())

    def changed(self) -> str:
        """Why the DB is not as recorded ('' when it is)."""
        if _wal_frames(self.path):
            return "the dependency DB has uncommitted frames"
        if path_state(self.path, "o") != self.state:
            return "the dependency DB changed"
        ctime = _ctime(self.state)
        if ctime is not None and racy(ctime, self.at_ns) and file_sha256(self.path) != self.sha256:
            return "the dependency DB changed"
        return ""


def _wal_frames(path: str) -> bool:
    try:
        return _STAT(path + "-wal").st_size > 0
    except OSError:
        return False


@dataclass(frozen=True)
class WatchedFile:
    """A file a local step makes and a later step reads: its state and the digest the DB
    holds for it (the step is up to date while the content is that)."""

    path: str
    state: str
    sha256: str

    def changed(self, seen_ns: int) -> bool:
        """Whether it changed since its state was taken (at about `seen_ns`)."""
        if path_state(self.path, "o") != self.state:
            return True
        ctime = _ctime(self.state)
        return ctime is not None and racy(ctime, seen_ns) and file_sha256(self.path) != self.sha256


@dataclass(frozen=True)
class PlanCache:
    """A verified no-op: what it depended on and what its run record and output hold."""

    key: str
    inputs: Mapping[str, str]
    db: DepState
    watched: tuple[WatchedFile, ...]
    targets: tuple[str, ...]  # doit's targets: a missing one makes its step run
    record: Mapping[str, Any]  # playbook, keep_runs; token, pid: see save_cache
    screen: Mapping[str, Any]  # what the CLI prints (its own layout)
    saved_ns: int = field(default_factory=time.time_ns)

    def stale(self) -> str:
        """Why the cache cannot answer now ('' when it can); the caller holds the lock."""
        for key, state in self.inputs.items():
            if path_state(key[2:], key[0]) != state:
                return f"input changed: {key[2:]}"
        why = self.db.changed()
        if why:
            return why
        for target in self.targets:
            if not os.path.exists(target):
                return f"target missing: {target}"
        for watched in self.watched:
            if watched.changed(self.saved_ns):
                return f"file changed: {watched.path}"
        return ""

    def as_json(self) -> dict[str, Any]:
        """The cache file's content."""
        return {
            "format": FORMAT,
            "key": self.key,
            "saved_ns": self.saved_ns,
            "inputs": dict(self.inputs),
            "db": [self.db.path, self.db.state, self.db.sha256, self.db.at_ns],
            "watched": [[w.path, w.state, w.sha256] for w in self.watched],
            "targets": list(self.targets),
            "record": dict(self.record),
            "screen": dict(self.screen),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PlanCache:
        """Parsed back (KeyError/TypeError/ValueError on a malformed file)."""
        if doc["format"] != FORMAT:
            raise ValueError("another format")
        path, state, sha, at = doc["db"]
        return cls(
            key=doc["key"],
            inputs=doc["inputs"],
            db=DepState(path, state, sha, int(at)),
            watched=tuple(WatchedFile(*w) for w in doc["watched"]),
            targets=tuple(doc["targets"]),
            record=doc["record"],
            screen=doc["screen"],
            saved_ns=int(doc["saved_ns"]),
        )


def cache_path(state_dir: Path, key: str) -> Path:
    """Where the cache of one key lives."""
    return state_dir / CACHE_DIR / f"{key}.json"


def load_cache(state_dir: Path, key: str) -> PlanCache | None:
    """The cache of `key`, or None (none, unreadable, another format or key)."""
    try:
        doc = json.loads(cache_path(state_dir, key).read_bytes())
        cache = PlanCache.from_json(doc)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return cache if cache.key == key else None


def save_cache(
    state_dir: Path,
    cache: PlanCache,
    plan: str,
    record: tuple[RunMeta, Sequence[PlayRecord], Sequence[StepRecord], str],
) -> Path | None:
    """Write the cache of its key beside its no-op's plan graph (`plan`) and the record
    template of `record` (meta, plays, steps, the skipped steps' reason); the oldest caches
    beyond MAX_CACHES go. None when no record template could be made."""
    folder = state_dir / CACHE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    token = os.urandom(8).hex()  # the side files of this save, whatever saves run at once
    stem = folder / f"{cache.key}.{token}"
    if not _record_template(Path(f"{stem}.record"), *record):
        Path(f"{stem}.record").unlink(missing_ok=True)
        return None
    Path(f"{stem}.plan").write_text(plan, encoding="utf-8")
    extra = {**cache.record, "token": token, "pid": os.getpid()}
    doc = replace(cache, record=extra).as_json()
    path = cache_path(state_dir, cache.key)
    write_atomic(path, json.dumps(doc, separators=(",", ":")))
    _prune(folder, cache.key, token)
    return path


def _prune(folder: Path, key: str, token: str) -> None:
    """Drop this key's older side files, and the oldest caches beyond MAX_CACHES."""
    caches = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    gone = {p.stem for p in caches[:-MAX_CACHES]}
    for old in caches[:-MAX_CACHES]:
        old.unlink(missing_ok=True)
    for side in folder.glob("*.*.*"):
        name, mark = side.name.split(".", 2)[:2]
        if name in gone or (name == key and mark != token):
            side.unlink(missing_ok=True)


# The record an unchanged run leaves is made once, by RecordWriter, with stand-ins for what
# differs between runs (its id, process, times), which each run the cache answers fills in.
_START = 4102444800.0  # 2100-01-01T00:00:00Z: when the run and each of its steps started
_TOOK = 0.777  # the run's duration
_RUN_ID = "rorunner-plan-cache-run"


def _pid_text(pid: int) -> str:
    return f'"pid": {pid}, '


def _record_template(
    path: Path, meta: RunMeta, plays: Sequence[PlayRecord], steps: Sequence[StepRecord], reason: str
) -> bool:
    """Write the template; False when a stand-in is not found exactly where expected."""
    now = [_START]
    stand_in = replace(meta, run_id=_RUN_ID, plan=f"{_RUN_ID}.plan.json")
    writer = RecordWriter(path, stand_in, plays, steps, clock=lambda: now[0])
    writer.all_skipped(reason)
    now[0] = _START + _TOOK
    writer.end(exit_code=0)
    text = path.read_text(encoding="utf-8")
    expected = {
        utc_iso(_START): 2 * len(steps) + 1,
        utc_iso(_START + _TOOK): 2,  # ended_at, updated_at
        _RUN_ID: 2,  # run_id, plan
        f'"duration": {_TOOK}, ': 1,
        _pid_text(os.getpid()): 1,
    }
    return all(text.count(part) == count for part, count in expected.items())


def replay_record(state_dir: Path, cache: PlanCache, run_id: str, started: float) -> Path:
    """Write the run record and plan graph of an unchanged run (`run_id`, begun at `started`)
    answered by `cache`, as a run that checked every step would record them; prune old
    records. Returns the record's path."""
    stem = state_dir / CACHE_DIR / f"{cache.key}.{cache.record['token']}"
    template = Path(f"{stem}.record").read_text(encoding="utf-8")
    plan = Path(f"{stem}.plan").read_text(encoding="utf-8")
    ended = max(time.time(), started)
    took = round(ended - started, 3)
    text = (
        template.replace(utc_iso(_START), utc_iso(started))
        .replace(utc_iso(_START + _TOOK), utc_iso(ended))
        .replace(_RUN_ID, run_id)
        .replace(f'"duration": {_TOOK}, ', f'"duration": {took}, ')
        .replace(_pid_text(int(cache.record["pid"])), _pid_text(os.getpid()))
    )
    write_atomic(plan_path(state_dir, run_id), plan)
    path = record_path(state_dir, run_id)
    write_atomic(path, text)
    prune_runs(state_dir, max(int(cache.record["keep_runs"]), 1))
    return path


def forget_cache(state_dir: Path, key: str) -> None:
    """Remove the cache of `key` (a run that was not a verified no-op)."""
    cache_path(state_dir, key).unlink(missing_ok=True)


def answer_unchanged(playbook: Path, key: str) -> tuple[PlanCache, Path] | None:
    """Answer a run of `playbook` from the cache of `key`: under the project lock, check it
    is fresh and write the run record of a run with every step up to date. Returns the cache
    (what to show) and the record's path; None (nothing written) when the cache cannot
    answer: none, stale, or the project locked (the usual way says so, after planning)."""
    started = time.time()
    state_dir = playbook.parent / STATE_DIR
    cache = load_cache(state_dir, key)
    if cache is None or cache.record.get("playbook") != str(playbook):
        return None
    lock = ProjectLock(state_dir / "lock")
    try:
        lock.acquire()
    except LockedError:
        return None
    try:
        if cache.stale():
            return None
        return cache, replay_record(state_dir, cache, new_run_id(), started)
    except OSError:
        return None  # a side file of the cache went missing: nothing was written
    finally:
        lock.release()
