"""Temp file names for write-to-temp + rename, and which temp files are abandoned.

A temp file is `.<name>.rorunner-tmp-<controller>-<pid>-<random>` beside its target:
`controller` is a short hash of this machine's hostname and boot id, `pid` the writing
process. A later run removes a temp file (in a directory it prepares) when it is stale:

- written from this controller (same hostname, same boot) by a process that is gone: at once.
  A live writer is never touched, whatever its age (a reused pid only delays the removal);
- anything else (another controller, an older rorunner's name) once untouched for
  STALE_AFTER seconds. A live writer touches its temp file with every write request, and its
  keepalives end a dead connection within a minute by default, so an hour without a write
  means nobody will rename it. A remote temp file's age is measured with the controller's
  clock against the host's mtime: a host clock an hour ahead would let a live writer's file
  from another controller go early (that writer then fails its rename: an error, never a
  wrong file).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import stat
import threading
import time
from functools import cache

TMP_INFIX = ".rorunner-tmp-"
STALE_AFTER = 3600.0  # seconds a foreign temp file must stay untouched before it goes
_OURS = re.compile(r"\..+\.rorunner-tmp-([0-9a-f]{8})-([0-9]+)-[0-9a-f]{8}")
# Earlier versions: a random 12-hex suffix (SFTP) or mkstemp's 8 characters (local).
_LEGACY = re.compile(r"\..+\.rorunner-tmp-[0-9a-z_]{8}(?:[0-9a-f]{4})?")
_cleaned: set[str] = set()  # local dirs this process has cleaned (clean_local_dir_once)
_cleaned_lock = threading.Lock()


@cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:  # not Linux: pids of an earlier boot merely wait for STALE_AFTER
        return ""


def controller_id() -> str:
    """8 hex digits naming this machine in this boot (hostname + boot id)."""
    return hashlib.sha256(f"{socket.gethostname()}\0{_boot_id()}".encode()).hexdigest()[:8]


def temp_name(target_name: str) -> str:
    """The temp file name for a file called `target_name` (no directory part)."""
    owner = f"{controller_id()}-{os.getpid()}"
    return f".{target_name}{TMP_INFIX}{owner}-{secrets.token_hex(4)}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def is_stale_temp(name: str, mode: int | None, mtime: float | None, now: float) -> bool:
    """Whether the directory entry `name` is a temp file nobody will rename (see module doc)."""
    if mode is None or not stat.S_ISREG(mode):
        return False
    ours = _OURS.fullmatch(name)
    if ours is None and _LEGACY.fullmatch(name) is None:
        return False
    if ours is not None and ours[1] == controller_id():
        pid = int(ours[2])
        return pid != os.getpid() and _process_gone(pid)
    return mtime is not None and now - mtime > STALE_AFTER


def remove_stale_local_temps(directory: str) -> list[str]:
    """Remove the stale temp files directly in the local `directory`; returns their names."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    for entry in entries:
        if TMP_INFIX not in entry.name:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if is_stale_temp(entry.name, info.st_mode, info.st_mtime, now):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # someone else cleaned it meanwhile
            removed.append(entry.name)
    return removed


def clean_local_dir_once(directory: str) -> None:
    """remove_stale_local_temps(directory), the first time this process writes there."""
    key = os.path.abspath(directory)
    with _cleaned_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    remove_stale_local_temps(key)
