"""Directory trees, read one way everywhere: symlinks followed, loops refused, size bounded.

The policy (docs/playbooks.md, "Symbolic links"), for roles' folders, shipped
directories, inventory directories and group_vars/host_vars directories alike:
- a link to a file is that file, at the link's place; a link to a directory is
  walked as if the directory were there, also when it leads out of the tree
  (what `cp -rL` and Ansible's copy, with its default `local_follow`, do);
- a directory link that leads back to a directory it sits in (itself or an
  ancestor) is a loop, and a link that resolves to itself or to nothing is
  broken: both are an InputError naming the link;
- FIFOs, sockets and devices are refused (reading one could block for ever);
- one walk visits at most MAX_ENTRIES entries (an InputError beyond), so even
  directories linked many times over stay bounded in time and memory.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from rorunner.errors import InputError

MAX_ENTRIES = 100_000

Keep = Callable[[str, bool], bool]
_DirId = tuple[int, int]


@dataclass(frozen=True)
class TreeEntry:
    """One directory or file of a walk, reached through links as written."""

    path: str  # the root joined with `rel`
    rel: str  # '/'-separated, relative to the root; '' for the root itself
    is_dir: bool
    mode: int  # permission bits of what the path leads to


def walk(root: str, keep: Keep | None = None) -> list[TreeEntry]:
    """The root directory and everything under it, depth-first, each directory's names sorted.

    `keep(path, is_dir)` says what to enter or return; what it refuses is never
    examined further (so a skipped editor lock link may dangle).
    """
    info = _stat(root)
    if not stat.S_ISDIR(info.st_mode):
        raise InputError("not a directory", root)
    first = TreeEntry(root, "", True, stat.S_IMODE(info.st_mode))
    found: list[TreeEntry] = []
    stack: list[tuple[TreeEntry, dict[_DirId, str]]] = [(first, {_dir_id(info): root})]
    while stack:
        entry, ancestors = stack.pop()
        found.append(entry)
        if len(found) > MAX_ENTRIES:
            raise InputError(f"more than {MAX_ENTRIES} files and directories under it", root)
        if entry.is_dir:
            stack.extend(reversed(_children(entry, ancestors, keep)))
    return found


def walk_files(root: str, keep: Keep | None = None) -> list[TreeEntry]:
    """The files of `walk(root, keep)`, in the same order."""
    return [entry for entry in walk(root, keep) if not entry.is_dir]


def list_dir(root: str, keep: Keep | None = None) -> list[TreeEntry]:
    """The entries directly in the directory `root` (not below), names sorted, same policy."""
    info = _stat(root)
    if not stat.S_ISDIR(info.st_mode):
        raise InputError("not a directory", root)
    top = TreeEntry(root, "", True, stat.S_IMODE(info.st_mode))
    return [entry for entry, _ in _children(top, {_dir_id(info): root}, keep)]


def lookup(path: str) -> TreeEntry | None:
    """What `path` leads to (links followed), None when nothing is there, not even a link;
    a broken or looping link is an InputError naming it."""
    if not os.path.lexists(path):
        return None
    info = _stat(path)
    _check_kind(path, info)
    return TreeEntry(path, "", stat.S_ISDIR(info.st_mode), stat.S_IMODE(info.st_mode))


def _children(
    parent: TreeEntry, ancestors: dict[_DirId, str], keep: Keep | None
) -> list[tuple[TreeEntry, dict[_DirId, str]]]:
    children = []
    for name in _names(parent.path):
        path = os.path.join(parent.path, name)
        try:
            info = os.stat(path)
        except OSError as exc:
            if keep is not None and not keep(path, False):
                continue
            raise _unreadable(path, exc) from None
        is_dir = stat.S_ISDIR(info.st_mode)
        if keep is not None and not keep(path, is_dir):
            continue
        _check_kind(path, info)
        rel = f"{parent.rel}/{name}" if parent.rel else name
        entry = TreeEntry(path, rel, is_dir, stat.S_IMODE(info.st_mode))
        if is_dir:
            ident = _dir_id(info)
            if ident in ancestors:
                raise _loop(path, ancestors[ident])
            children.append((entry, {**ancestors, ident: path}))
        else:
            children.append((entry, ancestors))
    return children


def _names(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        raise InputError(f"cannot read directory: {exc.strerror or exc}", path) from None


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _check_kind(path: str, info: os.stat_result) -> None:
    """Only files and directories: reading a FIFO or a device could block or never end."""
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise InputError("not a regular file or directory", path)


def _dir_id(info: os.stat_result) -> _DirId:
    return (info.st_dev, info.st_ino)


def _target(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _unreadable(path: str, exc: OSError) -> InputError:
    if exc.errno == errno.ELOOP:
        return InputError(
            f"symlink loop: it points to {_target(path)!r}, which never resolves to a file "
            "or directory (too many levels of symbolic links)",
            path,
        )
    if os.path.islink(path) and exc.errno == errno.ENOENT:
        return InputError(
            f"broken symlink: it points to {_target(path)!r}, which does not exist", path
        )
    return InputError(f"cannot read: {exc.strerror or exc}", path)


def _loop(path: str, ancestor: str) -> InputError:
    """The error names the first link below `ancestor` on the way to `path`."""
    link, parts = ancestor, os.path.relpath(path, ancestor).split(os.sep)
    for part in parts:
        link = os.path.join(link, part)
        if os.path.islink(link):
            break
    else:  # no link on the way: a bind mount of an ancestor
        link = path
    how = f"it points to {_target(link)!r}" if os.path.islink(link) else "it is a mount"
    return InputError(
        f"symlink loop: {how}, which leads back to {ancestor}, a directory that contains it "
        "(its files would repeat without end)",
        link,
    )
