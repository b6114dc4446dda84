"""`--check` and `--diff`: what a dry run cannot know, and the diffs of the files a run ships.

A diff compares what a ship step writes (a file's bytes, a template's rendering) with the
host's current copy, read over SFTP (`Transport.read`): nothing is written anywhere. Every
line is masked as failure reasons are (rorunner.masking: the step's vault values and the
values of its secret-like variables become MASK); a file shipped private (no read bit for
group or others, e.g. mode 0600) is named, its content never shown.
"""

from __future__ import annotations

import difflib
import os
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rorunner.errors import RorunnerError, UnreachableError
from rorunner.masking import mask, printable, secret_values
from rorunner.model import FileMove, Node, PlanStep
from rorunner.transport import Transport, TransportPool

DIFF_LIMIT = 256 * 1024  # bytes read of each side; a larger file is named, not diffed


@dataclass(frozen=True)
class FileDiff:
    """One shipped file of one host: its diff against the host's copy, or why there is none."""

    host: str
    remote: str  # where it lands: <remote_dir>/<dest>
    lines: tuple[str, ...]  # printable: a title, then the unified diff or a note
    changed: bool  # differs from the host's copy (or the host has none), as far as known
    unreachable: bool = False  # the host could not be reached: nothing of it was compared


def where(step: PlanStep) -> str:
    """`play > role > phase > step`, as the dry run names a step."""
    return f"{step.play} > {step.role} > {step.phase} > {step.name}"


def _source(move: FileMove, project_dir: str) -> str:
    """The shipped file's source, relative to the playbook's directory when it is under it
    or under its parent (roles beside a playbooks/ directory); else absolute."""
    path = move.src
    if os.path.isabs(path):
        relative = os.path.relpath(path, project_dir)
        path = path if relative.startswith("../..") else relative
    return f"{path} (rendered)" if move.content is not None else path


def _local(move: FileMove) -> bytes:
    if move.content is not None:
        return move.content
    with open(move.src, "rb") as handle:
        data = handle.read(DIFF_LIMIT + 1)
    return data


def _text(data: bytes) -> list[str] | None:
    """The lines of a text file, None when it looks binary."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def _diff_body(before: bytes | None, after: bytes, labels: tuple[str, str]) -> list[str]:
    """The unified diff of the host's copy (None: absent) and the shipped bytes."""
    if len(after) > DIFF_LIMIT or (before is not None and len(before) > DIFF_LIMIT):
        return [f"  not shown: over {DIFF_LIMIT // 1024} KiB"]
    old, new = _text(before or b""), _text(after)
    if old is None or new is None:
        size = "absent" if before is None else f"{len(before)} bytes"
        return [f"  binary file differs: {size} on the host, {len(after)} bytes shipped"]
    if old == new:
        return ["  differs only in its line endings or final newline"]
    return list(difflib.unified_diff(old, new, *labels, lineterm=""))


def move_diff(
    step: PlanStep,
    move: FileMove,
    transport: Transport,
    project_dir: str,
    unknown: str | None = None,
) -> FileDiff:
    """The diff of one shipped file of `step` against the host's copy (an unreachable host
    raises UnreachableError)."""
    remote = posixpath.join(step.remote_dir, move.dest)
    title = f"diff [{step.host}] {where(step)}: {move.dest}"
    if move.secret:  # its content is never diffed: not even whether it changed is shown
        return FileDiff(step.host, remote, (title, "  content not shown: a secret file"), True)
    if unknown is not None:
        return FileDiff(step.host, remote, (title, f"  not known before the run: {unknown}"), True)
    try:
        after = _local(move)
        before = transport.read(remote, DIFF_LIMIT)
    except UnreachableError:
        raise
    except (OSError, RorunnerError) as exc:
        return FileDiff(step.host, remote, (title, f"  cannot compare: {exc}"), True)
    if before == after:
        return FileDiff(step.host, remote, (), False)
    if move.mode is not None and not move.mode & 0o044:
        note = f"  content not shown: shipped private (mode {move.mode:04o})"
        return FileDiff(step.host, remote, (title, note), True)
    absent = " (absent)" if before is None else ""
    labels = (f"before: {step.host}:{remote}{absent}", f"after: {_source(move, project_dir)}")
    hidden = secret_values(step.env)
    body = (printable(mask(line, hidden)) for line in _diff_body(before, after, labels))
    return FileDiff(step.host, remote, (title, *body), True)


def _files(move: FileMove) -> list[FileMove]:
    """The files of a ship entry: itself, or each file under a shipped directory."""
    if move.content is not None or not os.path.isdir(move.src):
        return [move]
    found = []
    for root, dirs, names in os.walk(move.src):
        dirs.sort()
        for name in sorted(names):
            rel = os.path.relpath(os.path.join(root, name), move.src)
            dest = posixpath.join(move.dest, *rel.split(os.sep))
            found.append(FileMove(os.path.join(root, name), dest, move.mode, secret=move.secret))
    return found


def step_diffs(
    step: PlanStep, transport: Transport, project_dir: str, unknown: Mapping[str, str]
) -> list[FileDiff]:
    """The diffs of the files of a ship step that differ from the host's copies."""
    diffs = (
        move_diff(step, one, transport, project_dir, unknown.get(move.src))
        for move in step.spec.files
        for one in _files(move)
    )
    return [diff for diff in diffs if diff.changed]


def made_during_run(steps: Iterable[PlanStep], would_run: set[Node]) -> dict[str, str]:
    """Local files that a step which would run makes first (its `creates`), and by whom."""
    return {
        path: f"made by {where(step)}, which would run first"
        for step in steps
        if step.node in would_run
        for path in step.spec.creates
    }


def preview_diffs(
    steps: Sequence[PlanStep],
    would_run: set[Node],
    pool: TransportPool,
    project_dir: str,
    forks: int,
) -> list[FileDiff]:
    """The diffs of every file of the ship steps that would run, in plan order; the hosts
    are read in parallel (at most `forks` at once), each over its one connection."""
    unknown = made_during_run(steps, would_run)
    by_host: dict[str, list[PlanStep]] = {}
    for step in steps:
        if step.spec.kind == "ship" and step.node in would_run:
            by_host.setdefault(step.host, []).append(step)

    def host_diffs(ships: list[PlanStep]) -> list[FileDiff]:
        host = ships[0].host
        try:
            return [d for s in ships for d in step_diffs(s, pool.get(s.conn), project_dir, unknown)]
        except UnreachableError as exc:
            return [FileDiff(host, "", (f"diff [{host}]: unreachable: {exc}",), True, True)]
        except RorunnerError as exc:
            return [FileDiff(host, "", (f"diff [{host}]: cannot compare: {exc}",), True)]

    if not by_host:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(by_host)))) as workers:
        return [diff for diffs in workers.map(host_diffs, by_host.values()) for diff in diffs]


def ship_preview(
    show: Callable[[list[str]], None], project_dir: str
) -> Callable[[PlanStep, TransportPool], None]:
    """For a real run with --diff: a hook the engine calls before each ship step, which
    shows the diffs of what the step is about to write."""

    def preview(step: PlanStep, pool: TransportPool) -> None:
        try:
            lines = diff_lines(step_diffs(step, pool.get(step.conn), project_dir, {}))
        except RorunnerError:
            return  # the step itself fails with the cause, as it would without --diff
        if lines:
            show(lines)

    return preview


def diff_lines(diffs: Iterable[FileDiff]) -> list[str]:
    """The printable lines of some diffs."""
    return [line for diff in diffs for line in diff.lines]


def unknowns(steps: Sequence[PlanStep], would_run: set[Node], compared: bool) -> list[str]:
    """What a dry run cannot know, one line each: up-to-date steps that ship a file a step
    which runs first makes; the steps it did not run; the remote state it did not read."""
    made = made_during_run(steps, would_run)
    lines = [
        f"[{step.host}] {where(step)}: listed as up to date, but it ships {move.src}, "
        f"{made[move.src]}: it runs again if that file comes out different"
        for step in steps
        if step.spec.kind == "ship" and step.node not in would_run
        for move in step.spec.files
        if move.src in made
    ]
    running = sum(step.node in would_run for step in steps)
    if running:
        lines.append(
            f"{running} step{' that would run was' if running == 1 else 's that would run were'} "
            "not run: whether "
            "they succeed, what they print and what fetch brings back is known only by running "
            "them"
        )
    if compared:
        lines.append(
            "remote state: only the files the ship steps that would run would write were "
            "compared with the hosts' copies; nothing else on the hosts was read"
        )
    else:
        lines.append(
            "remote state was not read (no host was contacted): 'up to date' means the same "
            "inputs succeeded from this controller; a file changed or removed on a host since "
            "then is not seen (--diff compares the files that would be shipped)"
        )
    return lines
