"""The seed's task generators: plain doit task dicts whose actions use the pooled transport.

The seed parameters keep their names, order and `[]` defaults (never mutated);
everything after `*` is a rorunner extra. See docs/seed-api.md.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from rorunner.errors import InputError
from rorunner.model import FileMove
from rorunner.tasks._actions import FetchFiles, RunCommands, ShipFiles
from rorunner.tasks._build import (
    Extras,
    TaskDict,
    as_list,
    assemble,
    naming,
    sorted_env,
    step_env,
)
from rorunner.tasks._hosts import LOCAL_SPEC, HostRef, resolve_host
from rorunner.tasks._names import TaskRef
from rorunner.walk import lookup, walk_files

# The seed documents `[]` defaults; they are kept and never mutated (copied before use).
CommandSource = str | Sequence[str] | Callable[..., str | Iterable[str]]
LocalStep = Callable[..., Any] | str


def gen_task_ship_files(
    files_to_ship: Sequence[str | os.PathLike[str]],
    ipv6: HostRef,
    label: str,
    id_args: Sequence[object] = [],
    remote_dir: str = "/tmp",
    is_dep_task: bool = True,
    deps: Sequence[TaskRef] = [],
    *,
    moves: Sequence[FileMove] = (),
    uptodate: Sequence[object] | None = None,
    file_dep: Sequence[str] = (),
    name: str | None = None,
    doc: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> TaskDict:
    """Create a doit task that ships files (or trees) to `remote_dir` on one host."""
    target = resolve_host(ipv6)
    id_args, deps = as_list(id_args), as_list(deps)
    shipped = tuple(_ship_move(os.fspath(p)) for p in as_list(files_to_ship)) + tuple(moves)
    if not shipped:
        raise ValueError(f"{label}: nothing to ship")
    if not remote_dir:
        raise ValueError(f"{label}: remote_dir is empty")
    names = naming(label, is_dep_task, [target.token, *id_args], name)
    local_files = [f for m in shipped if m.content is None for f in _files_under(m.src)]
    extras = Extras(uptodate, [*local_files, *file_dep], (), doc, meta)
    action = ShipFiles(target.spec, shipped, remote_dir)
    summary = f"ship {len(shipped)} item(s) to {target.dir_name}:{remote_dir}"
    return assemble("ship", names, [action], deps, extras, target.dir_name, summary)


def _ship_move(path: str) -> FileMove:
    return FileMove(src=path, dest=os.path.basename(os.path.normpath(path)))


def _files_under(path: str) -> list[str]:
    """The file itself, or every file of a tree as the transport ships it (links followed, a
    loop an InputError naming the link), so doit re-ships on change."""
    found = lookup(path)
    if found is None or not found.is_dir:
        return [path]  # a missing file is doit's to report, as for any file_dep
    return [entry.path for entry in walk_files(path)]


def gen_task_remote_exec(
    cmdstr: CommandSource,
    ipv6: HostRef,
    id_args: Sequence[object] = [],
    args: Sequence[object] = [],
    label: str | None = None,
    is_dep_task: bool = False,
    deps: Sequence[TaskRef] = [],
    *,
    remote_dir: str | None = None,
    env: Mapping[str, object] | None = None,
    timeout: float | None = None,
    uptodate: Sequence[object] | None = None,
    file_dep: Sequence[str] = (),
    log_dir: str | None = None,
    name: str | None = None,
    doc: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> TaskDict:
    """Create a doit task that runs a command (or several, in order) on one host."""
    target = resolve_host(ipv6)
    id_args, args, deps = as_list(id_args), as_list(args), as_list(deps)
    commands = _commands(cmdstr, target.address, args)
    positional = () if callable(cmdstr) else tuple(str(a) for a in args)
    if label is None:
        label = getattr(cmdstr, "__name__", "remote_exec") if callable(cmdstr) else "remote_exec"
    names = naming(label, is_dep_task, [target.token, *id_args], name)
    action = RunCommands(
        target.spec,
        commands,
        env=step_env(target, env, remote_dir),
        workdir=remote_dir,
        timeout=timeout,
        log_dir=log_dir,
        log_stem=names.stem,
        positional=positional,
        prepare=remote_dir is not None,
    )
    extras = Extras(uptodate, file_dep, (), doc, meta)
    summary = f"on {target.dir_name}: {_first_line(commands[0])}"
    return assemble("remote", names, [action], deps, extras, target.dir_name, summary)


def _commands(cmdstr: CommandSource, address: str, args: Sequence[object]) -> tuple[str, ...]:
    value: object = cmdstr(address, *args) if callable(cmdstr) else cmdstr
    commands = (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]
    if not commands or not all(isinstance(c, str) and c.strip() for c in commands):
        raise ValueError(f"cmdstr must give a non-empty command string or strings, got {value!r}")
    return commands


def _first_line(command: str) -> str:
    lines = command.strip().splitlines()
    return (lines[0] if lines else "")[:120]


def gen_task_local_exec(
    func: LocalStep,
    id_args: Sequence[object],
    args: Sequence[object] = [],
    is_dep_task: bool = True,
    deps: Sequence[TaskRef] = [],
    label: str | None = None,
    *,
    env: Mapping[str, object] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    uptodate: Sequence[object] | None = None,
    file_dep: Sequence[str] = (),
    targets: Sequence[str] = (),
    log_dir: str | None = None,
    name: str | None = None,
    doc: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> TaskDict:
    """Create a doit task that calls `func(*id_args, *args)`, or runs a shell command string."""
    if label is None:
        label = "local_exec" if isinstance(func, str) else getattr(func, "__name__", "local_exec")
    id_args, args, deps = as_list(id_args), as_list(args), as_list(deps)
    names = naming(label, is_dep_task, id_args, name)
    host = (meta or {}).get("host")
    extras = Extras(uptodate, file_dep, targets, doc, meta)
    if isinstance(func, str):
        action: Any = RunCommands(
            replace(LOCAL_SPEC, label=str(host or LOCAL_SPEC.label)),
            (func,),
            env=sorted_env(env),
            workdir=os.path.abspath(cwd) if cwd is not None else None,
            timeout=timeout,
            log_dir=log_dir,
            log_stem=names.stem,
            positional=tuple(str(a) for a in [*id_args, *args]),
        )
        summary = f"local: {_first_line(func)}"
    elif callable(func):
        if env is not None or cwd is not None or timeout is not None or log_dir is not None:
            raise ValueError(f"{label}: env/cwd/timeout/log_dir apply to shell commands only")
        action = (func, [*id_args, *args])
        summary = f"local: {label}"
    else:
        raise ValueError(f"func must be a callable or a shell command string, not {func!r}")
    return assemble("local", names, [action], deps, extras, host, summary)


def gen_task_fetch_files(
    files_to_fetch: Sequence[str],
    ipv6: HostRef,
    label: str,
    id_args: Sequence[object] = [],
    remote_dir: str = "/tmp",
    local_dir: str = "fetched",
    is_dep_task: bool = True,
    deps: Sequence[TaskRef] = [],
    *,
    moves: Sequence[FileMove] = (),
    dest_root: str | None = None,
    uptodate: Sequence[object] | None = None,
    file_dep: Sequence[str] = (),
    name: str | None = None,
    doc: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> TaskDict:
    """Create a doit task that fetches remote files into <local_dir>/<host>/ (see docs)."""
    target = resolve_host(ipv6)
    root = dest_root if dest_root is not None else os.path.join(local_dir, target.dir_name)
    id_args, deps = as_list(id_args), as_list(deps)
    wanted = [(p, p) for p in as_list(files_to_fetch)] + [(m.src, m.dest) for m in moves]
    if not wanted:
        raise ValueError(f"{label}: nothing to fetch")
    pairs = tuple(
        (_remote_path(remote_dir, src), local_destination(root, dest, target.dir_name))
        for src, dest in wanted
    )
    names = naming(label, is_dep_task, [target.token, *id_args], name)
    extras = Extras(uptodate, file_dep, [local for _, local in pairs], doc, meta)
    action = FetchFiles(target.spec, pairs, root)
    summary = f"fetch {len(pairs)} file(s) from {target.dir_name} into {root}"
    return assemble("fetch", names, [action], deps, extras, target.dir_name, summary)


def _remote_path(remote_dir: str, path: str) -> str:
    if not path or "\x00" in path:
        raise InputError(f"bad remote path {path!r}")
    return path if posixpath.isabs(path) else posixpath.join(remote_dir, path)


def local_destination(root: str, written: str, host: str) -> str:
    """<root>/<written with leading '/' dropped>, refusing a path that normalises outside root."""
    relative = posixpath.normpath(written.lstrip("/")) if written.strip("/") else ""
    if "\x00" in written or relative in ("", ".") or relative == ".." or relative.startswith("../"):
        raise InputError(f"{host}: refusing to fetch {written!r}: it would land outside {root}")
    return os.path.join(root, *relative.split("/"))
