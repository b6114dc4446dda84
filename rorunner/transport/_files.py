"""Controller-side file helpers: atomic writes by temp file + os.replace, directory checks."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO

from rorunner.errors import InputError
from rorunner.transport._temps import temp_name
from rorunner.walk import walk

DEFAULT_FILE_MODE = 0o644
COPY_CHUNK = 1024 * 1024


@contextmanager
def atomic_local_file(path: str, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a temp file beside `path`; on success chmod it and rename it over `path`."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, temp_name(os.path.basename(path)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
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
    """Copy one file atomically, keeping its permission bits unless `mode` is given; a file
    that changed size while being copied is an error (and `dest` is left as it was)."""
    with open(src, "rb") as source:
        info = os.fstat(source.fileno())
        keep = stat.S_IMODE(info.st_mode) if mode is None else mode
        with atomic_local_file(dest, keep) as target:
            shutil.copyfileobj(source, target, COPY_CHUNK)
            if info.st_size and target.tell() != info.st_size:  # /proc files say 0
                raise incomplete_copy(target.tell(), info.st_size, src)


def checked_size(data: bytes, limit: int, path: str) -> bytes:
    """`data` read from `path`, unless it is longer than `limit` (then an OSError saying so)."""
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", path)
    return data


def incomplete_copy(got: int, size: int, path: str) -> OSError:
    """The error for a copy that did not get the size the opened file had."""
    why = "it changed while being read, a read failed, or it misstates its size as /sys does"
    return OSError(errno.EIO, f"incomplete copy: got {got} of its {size} bytes ({why})", path)


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
