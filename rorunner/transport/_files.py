"""Controller-side file helpers: atomic writes by temp file + os.replace, directory checks."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO

from rorunner.errors import InputError
from rorunner.walk import walk

TMP_INFIX = ".rorunner-tmp-"
DEFAULT_FILE_MODE = 0o644
COPY_CHUNK = 1024 * 1024


@contextmanager
def atomic_local_file(path: str, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a temp file beside `path`; on success chmod it and rename it over `path`."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}{TMP_INFIX}")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, DEFAULT_FILE_MODE if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def copy_local_file(src: str, dest: str, mode: int | None = None) -> None:
    """Copy one file atomically, keeping its permission bits unless `mode` is given."""
    keep = stat.S_IMODE(os.stat(src).st_mode) if mode is None else mode
    with open(src, "rb") as source, atomic_local_file(dest, keep) as target:
        shutil.copyfileobj(source, target, COPY_CHUNK)


def copy_local_tree(
    src: str,
    dest: str,
    make_dir: Callable[[str, int], None],
    copy_file: Callable[[str, str, int], None],
) -> None:
    """Mirror the tree `src` at `dest` through the given dir/file primitives (modes kept).

    The tree is read first, as rorunner.walk reads every tree (links followed, loops
    refused), so nothing is written for a tree that cannot be read; that is an OSError here,
    which each transport reports as the failure of its put."""
    try:
        entries = walk(src)
    except InputError as exc:
        raise OSError(str(exc)) from exc
    for entry in entries:
        target = f"{dest.rstrip('/')}/{entry.rel}" if entry.rel else dest
        if entry.is_dir:
            make_dir(target, entry.mode)
        else:
            copy_file(entry.path, target, entry.mode)


def check_private_dir(path: str, mode: int, owner: int, uid: int) -> str | None:
    """Why `path` (with st_mode `mode`, owned by `owner`) is not a safe private dir for `uid`."""
    if not stat.S_ISDIR(mode):
        return f"{path} is not a directory"
    if owner != uid:
        return f"{path} is owned by uid {owner}, not {uid}"
    if mode & 0o022:
        return f"{path} is group or world writable (mode {stat.S_IMODE(mode):04o})"
    return None
