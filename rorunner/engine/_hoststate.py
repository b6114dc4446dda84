"""State on the host (issue 10): what this project applied there, so that "up to date" holds
against a second controller (another checkout, other inputs) and a changed or rebuilt host.

Each work dir holds `.rorunner-state.json` (lines of JSON, 0600, owned by the login user; see
_hostrecord): for every ship and remote step applied there, its signature, and for a ship
step the sha256 of each file it shipped (secret files excepted). A remote step's command
appends its own record on the host (no round trip); a ship step's record is written with
the whole file (a temp file renamed), which also compacts the lines appended since.
Before a run, one command per host whose state could change what runs (a host with a recorded
step that would not run otherwise; with --verify, every host) reads every state file of the
host's work dirs and the checksums of every file the plan ships there, in one round trip; the
run then compares. A host whose recorded steps all run anyway (a cold run, --force) is not
read before the run: a work dir's state file is read over SFTP (no command, no process on
the host) just before it is first written whole, so the records of other steps are kept.
Steps acting as another user (become) are not recorded: their work dirs are that user's.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
import shlex
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rorunner.engine._hostrecord import STATE_FILE, folds, parse_state, state_line, tracked
from rorunner.engine._lower import LoweredTask
from rorunner.errors import RemoteFailure, RorunnerError, UnreachableError
from rorunner.model import FileMove, PlanStep
from rorunner.transport import Pool, TransportPool

if TYPE_CHECKING:
    from rorunner.plan import Plan

__all__ = ["STATE_FILE", "HostStates", "tracked"]

READ_TIMEOUT = 120.0  # seconds for the one command that reads a host's state
STATE_LIMIT = 64 << 20  # bytes of one state file read over SFTP (larger: unreadable)
_MISSING = "-"
# A file read with more lines than this (and than twice its records) is written whole at the
# host's next record: appended lines are only compacted when a whole file is written anyway.
COMPACT_LINES = 32


def _remote(path: str) -> str:
    """A remote path for the shell: quoted, a relative one under the login home."""
    return shlex.quote(path) if posixpath.isabs(path) else f'"$HOME"/{shlex.quote(path)}'


def shipped(step: PlanStep) -> list[tuple[str, FileMove]]:
    """(remote path, move) of each file a ship step ships that the host's state checks."""
    if step.spec.kind != "ship":
        return []
    return [
        (_landed(step.remote_dir, move.dest), move) for move in step.spec.files if not move.secret
    ]


def _landed(remote_dir: str, dest: str) -> str:
    return dest if posixpath.isabs(dest) else posixpath.normpath(posixpath.join(remote_dir, dest))


@dataclass
class _Host:
    """What one host's state says, as read, and as this run updates it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    read: bool = False
    error: RorunnerError | None = None
    dirs: dict[str, dict[str, Any]] = field(default_factory=dict)  # work dir -> steps
    sums: dict[str, str] = field(default_factory=dict)  # remote path -> sha256 or '-'
    found: bool = False  # some state file existed
    lines: dict[str, int] = field(default_factory=dict)  # dir read -> lines of its file


class HostStates:
    """The host state of every host of one run; thread-safe."""

    def __init__(self, steps: Iterable[LoweredTask]) -> None:
        self._steps: dict[str, list[LoweredTask]] = {}
        for lowered in steps:
            if tracked(lowered.step):
                self._steps.setdefault(lowered.step.host, []).append(lowered)
        self._hosts = {host: _Host() for host in self._steps}

    def hosts(self) -> tuple[str, ...]:
        """Hosts having steps the state records, in plan order."""
        return tuple(self._steps)

    def undecided(self, hosts: Iterable[str], going: Collection[str]) -> list[str]:
        """Of `hosts`, those with a recorded step not in `going`: only their state can make
        more steps run (a step that runs anyway is no drift cause)."""
        steps = self._steps
        return [h for h in hosts if any(lt.name not in going for lt in steps.get(h, ()))]

    def read_all(
        self, hosts: Iterable[str], pool: TransportPool, workers: int
    ) -> dict[str, RorunnerError]:
        """Read the state of `hosts` (one connection and one command each, `workers` at a
        time); the hosts that could not be read, with why."""
        todo = [host for host in hosts if host in self._hosts]
        if todo:
            with ThreadPoolExecutor(max(1, min(workers, len(todo)))) as executor:
                list(executor.map(lambda host: self._read(host, pool), todo))
        # A host that answered but whose state could not be read is only left unchecked.
        return {h: e for h in todo if isinstance(e := self._hosts[h].error, UnreachableError)}

    def _read(self, host: str, pool: TransportPool) -> None:
        state = self._hosts[host]
        with state.lock:
            if not state.read:
                self._read_locked(host, state, pool)

    def _read_locked(self, host: str, state: _Host, pool: TransportPool) -> None:
        steps = self._steps[host]
        dirs = list(dict.fromkeys(lt.step.remote_dir for lt in steps))
        paths = list(dict.fromkeys(p for lt in steps for p, _ in shipped(lt.step)))
        out, err = io.BytesIO(), io.BytesIO()
        try:
            transport = pool.get(steps[0].step.conn)
            status = transport.exec(
                _read_command(dirs, paths), timeout=READ_TIMEOUT, stdout=out, stderr=err
            )
        except RorunnerError as exc:
            state.error = exc
            return
        lines = _lines(out.getvalue())
        if status != 0 or len(lines) != len(dirs) + len(paths):
            why = err.getvalue().decode(errors="replace").strip()[:500]
            state.error = RemoteFailure(host, f"cannot read the host's state: {why or status}")
            return
        for directory, line in zip(dirs, lines, strict=False):
            self._loaded(state, directory, None if line[2:] == _MISSING else line[2:], "\x1e")
        state.sums = {p: line[2:] for p, line in zip(paths, lines[len(dirs) :], strict=True)}
        state.read = True

    def _load_locked(self, step: PlanStep, state: _Host, pool: TransportPool) -> None:
        """Read the state file of the step's work dir over SFTP (the checksums of shipped
        files are only for the drift check before a run, which this host did not need)."""
        try:
            path = posixpath.join(step.remote_dir, STATE_FILE)
            data = pool.get(step.conn).read(path, STATE_LIMIT)
        except RorunnerError as exc:
            state.error = exc
            return
        text = None if data is None else data.decode(errors="replace")
        self._loaded(state, step.remote_dir, text, "\n")

    @staticmethod
    def _loaded(state: _Host, directory: str, text: str | None, sep: str) -> None:
        """Take the text of a work dir's state file (None: there is none), lines cut by `sep`."""
        if text is None:
            state.dirs[directory], state.lines[directory] = {}, 0
            return
        state.found = True
        state.dirs[directory], state.lines[directory] = parse_state(text.split(sep))

    def drifted(self) -> dict[str, str]:
        """Steps of the hosts read whose state on the host differs from what this project
        would apply, with why."""
        found: dict[str, str] = {}
        for host, steps in self._steps.items():
            state = self._hosts[host]
            if not state.read:
                continue
            for lowered in steps:
                why = _drift(lowered.step, lowered.name, state)
                if why:
                    found[lowered.name] = why
        return found

    def applied(self, lowered: LoweredTask, pool: TransportPool) -> None:
        """Record on the host that `lowered` just succeeded: a remote step's command did (it
        is only noted here); a ship step's record is written with the whole file (its state
        read first if this run has not read it yet). RorunnerError when it cannot be
        written."""
        step = lowered.step
        state = self._hosts.get(step.host)
        if state is None or not tracked(step):
            return
        with state.lock:
            if folds(step):
                self._noted(lowered, state, pool)
                return
            # Only this dir's file is read: a dir holding only remote steps needs no read.
            if step.remote_dir not in state.lines and state.error is None:
                self._load_locked(step, state, pool)
            if isinstance(state.error, UnreachableError):
                raise state.error
            if step.remote_dir not in state.lines:  # unreadable: not written (--verify
                return  # then runs it again)
            if self._note(lowered, state):
                self._write(step, state, pool)

    def _noted(self, lowered: LoweredTask, state: _Host, pool: TransportPool) -> None:
        """A remote step recorded by its own command: noted, so that a whole file written
        later keeps it; a long file read before is compacted now."""
        step = lowered.step
        self._note(lowered, state)
        if step.remote_dir not in state.lines:  # its file was not read
            return
        lines = state.lines[step.remote_dir] + 1
        state.lines[step.remote_dir] = lines
        if lines > max(COMPACT_LINES, 2 * len(state.dirs[step.remote_dir])):
            # The step's record is in the file already; should this fail, a later one compacts.
            with contextlib.suppress(RorunnerError):
                self._write(step, state, pool)

    @staticmethod
    def _note(lowered: LoweredTask, state: _Host) -> bool:
        """Note the step's record; whether it differs from the one known (a step run again
        with the same inputs, by --force or for drift, finds its record on the host)."""
        step = lowered.step
        record: dict[str, Any] = {"signature": step.signature}
        files = {path: _digest(move) for path, move in shipped(step)}
        if files:
            record["files"] = files
            state.sums.update(files)
        records = state.dirs.setdefault(step.remote_dir, {})
        changed = records.get(lowered.name) != record
        records[lowered.name] = record
        state.found = True
        return changed

    @staticmethod
    def _write(step: PlanStep, state: _Host, pool: TransportPool) -> None:
        """Write the work dir's state file whole: one line, every record known."""
        data = state_line(state.dirs[step.remote_dir]).encode() + b"\n"
        target = posixpath.join(step.remote_dir, STATE_FILE)
        pool.get(step.conn).put_bytes(data, target, 0o600)
        state.lines[step.remote_dir] = 1


def _read_command(dirs: Sequence[str], paths: Sequence[str]) -> str:
    """One shell command printing `D <state>` per work dir (`D -` when it has none; its lines
    joined by RS, which JSON text never holds) and `F <sha256>` per file (`F -` when it is
    missing or unreadable), in order."""
    lines = [
        "d() { if [ -r \"$1\" ]; then printf 'D '; tr '\\n' '\\036' < \"$1\"; echo; "
        "else echo 'D -'; fi; }",
        'f() { if s=$(sha256sum < "$1" 2>/dev/null); then echo "F ${s%% *}"; '
        "else echo 'F -'; fi; }",
    ]
    lines += [f"d {_remote(posixpath.join(d, STATE_FILE))}" for d in dirs]
    lines += [f"f {_remote(p)}" for p in paths]
    return "\n".join(lines) + "\n"


def _lines(out: bytes) -> list[str]:
    """The lines of the read command's output (cut at newlines only: RS joins a file's)."""
    text = out.decode(errors="replace")
    return text.removesuffix("\n").split("\n") if text else []


def _drift(step: PlanStep, name: str, state: _Host) -> str:
    if not state.found:
        return "drifted: no state on the host (a new or rebuilt host)"
    record = state.dirs.get(step.remote_dir, {}).get(name)
    if not isinstance(record, Mapping):
        return "drifted: not recorded on the host"
    if record.get("signature") != step.signature:
        return "drifted: the host has other inputs applied (another controller or checkout)"
    recorded = record.get("files") or {}
    for path, _ in shipped(step):
        now = state.sums.get(path, _MISSING)
        if now == _MISSING:
            return f"drifted: deleted on the host: {path}"
        if path in recorded and now != recorded[path]:
            return f"drifted: changed on the host: {path}"
    return ""


def _digest(move: FileMove) -> str:
    if move.digest:
        return move.digest
    if move.content is not None:
        return hashlib.sha256(move.content).hexdigest()
    sha = hashlib.sha256()
    with open(move.src, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def fed_by(feeds: Mapping[str, Sequence[str]], names: Iterable[str]) -> dict[str, str]:
    """Every step fed (transitively, along feeding edges) by one of `names`, with why."""
    out: dict[str, str] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        for after in feeds.get(name, ()):
            if after not in out:
                out[after] = f"fed by a drifted step: {name}"
                todo.append(after)
    return out


def drift_reasons(plan: Plan, states: HostStates, going: Collection[str] = ()) -> dict[str, str]:
    """Steps that drifted on the hosts read, and every step they feed, with why; a step in
    `going` runs anyway and is no cause (a new step does not re-run the steps after it)."""
    drifted = {name: why for name, why in states.drifted().items() if name not in going}
    if not drifted:
        return {}
    feeds: dict[str, list[str]] = {}
    for before, after, feeding in plan.edges:
        if feeding:
            feeds.setdefault(plan.task_name(before), []).append(plan.task_name(after))
    return {**fed_by(feeds, drifted), **drifted}


def verify_reasons(
    plan: Plan, steps: Sequence[LoweredTask], workers: int, going: Collection[str] = ()
) -> dict[str, str]:
    """For a dry run with --verify: read every host's state (one connection each) and say
    which steps drifted, which they feed, and which could not be checked."""
    pool = Pool()
    states = HostStates(steps)
    try:
        unread = states.read_all(states.hosts(), pool, workers)
    finally:
        pool.close_all()
    found = {
        lowered.name: f"cannot verify: {unread[lowered.step.host]}"
        for lowered in steps
        if lowered.step.host in unread and tracked(lowered.step)
    }
    return {**found, **drift_reasons(plan, states, going)}
