"""SFTP file moves: checked, pipelined writes to a temp name then posix-rename; atomic gets.

A put never renames a file it could not verify: every write request's reply is checked
(_ssh_sftp_wire), so a full disk, a refused write or a broken session leaves the old file in
place and removes the temp file (when the session still works: see _temps for the rest).
A get keeps the local file only when it received exactly the size the open file had.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import BinaryIO

import paramiko

from rorunner.transport import _ssh_sftp_wire as wire
from rorunner.transport._files import (
    DEFAULT_FILE_MODE,
    atomic_local_file,
    check_private_dir,
    copy_local_tree,
    incomplete_copy,
)
from rorunner.transport._ssh_sftp_pace import (
    SMALL_REQUEST,
    note_limits,
    note_round_trip,
    write_pace,
)
from rorunner.transport._temps import TMP_INFIX, is_stale_temp, temp_name

# Reads in flight for a fetch: 64 x 32 KiB, paramiko's default window for the SFTP channel.
_READ_DEPTH = 64


def remote_path(home: str, path: str) -> str:
    """`path` made absolute: relative paths (and "~/...") are under the login home."""
    if path == "~" or path.startswith("~/"):
        path = path[2:]
    joined = posixpath.join(home, path) if not path.startswith("/") else path
    return posixpath.normpath(joined)


def _temp_path(target: str) -> str:
    parent, name = posixpath.split(target)
    return f"{parent}/{temp_name(name)}"


def _discard(sftp: paramiko.SFTPClient, tmp: str) -> None:
    with suppress(OSError, EOFError, paramiko.SSHException):  # the first error is what matters
        sftp.remove(tmp)


def write_atomic(
    sftp: paramiko.SFTPClient, target: str, chunks: Iterable[bytes], mode: int, size: int
) -> None:
    """Write `size` bytes of chunks to a new temp file beside `target`, every write
    acknowledged, give it `mode`, then rename it over `target`; on any failure remove the
    temp file. A mode of the owner's bits only is asked for at the create and checked by an
    fstat; it is chmodded (pipelined) until this session has seen the server create it
    exactly so in that directory (_ModesSeen), later only when the fstat finds it otherwise;
    any other file is made 0600 and chmodded after the writes."""
    tmp = _temp_path(target)
    parent = posixpath.dirname(target)
    at_create = not mode & ~_CREATE_MODES
    seen = at_create and _SEEN.has(sftp, parent, mode)
    try:
        asked = time.monotonic()
        handle = wire.open_new(sftp, tmp, mode if at_create else 0o600)
        note_round_trip(sftp, time.monotonic() - asked)
    except OSError as refused:
        raise _cause(sftp, target, "create", refused, size) from None
    try:
        pace = write_pace(sftp)
        chmod = None if seen else mode
        written = wire.write_handle(sftp, handle, chunks, pace, chmod, at_create)
        refusal = written.refusal
        if refusal is not None:
            what = f"{refusal.what} at offset {refusal.offset}"
            raise _cause(sftp, target, what, refusal.error, size - refusal.offset)
        if written.created is not None and stat.S_IMODE(written.created) == mode:
            _SEEN.add(sftp, parent, mode)
        elif seen:  # the directory gives another mode now (e.g. a default ACL set since)
            _SEEN.discard(sftp, parent, mode)
            sftp.chmod(tmp, mode)
        sftp.posix_rename(tmp, target)
    except BaseException:
        _discard(sftp, tmp)
        raise


class _ModesSeen:
    """(directory, mode) pairs each SFTP session has seen a file created with exactly that
    mode (an fstat before the chmod). The server's umask is fixed for a session and a
    directory's default ACL for its files, so a later create there usually gets the same
    mode; each create is still checked (a step may set a default ACL). A server that
    ignores or narrows the asked mode is never trusted: its files keep their chmod."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: weakref.WeakKeyDictionary[paramiko.SFTPClient, set[tuple[str, int]]]
        self._seen = weakref.WeakKeyDictionary()

    def has(self, sftp: paramiko.SFTPClient, directory: str, mode: int) -> bool:
        """Whether `sftp` saw a file created with `mode` in `directory`."""
        with self._lock:
            return (directory, mode) in self._seen.get(sftp, ())

    def add(self, sftp: paramiko.SFTPClient, directory: str, mode: int) -> None:
        """Remember that `sftp` saw a file created with exactly `mode` in `directory`."""
        with self._lock:
            self._seen.setdefault(sftp, set()).add((directory, mode))

    def discard(self, sftp: paramiko.SFTPClient, directory: str, mode: int) -> None:
        """Forget that pair: a create there no longer gives `mode`."""
        with self._lock:
            self._seen.get(sftp, set()).discard((directory, mode))


# Modes asked for at the create: the owner's bits only. Nobody else may read or change a
# file while it is written (any other mode is given after the writes), and no set-id bits
# (a write clears them).
_CREATE_MODES = 0o700
_SEEN = _ModesSeen()


def _cause(
    sftp: paramiko.SFTPClient, target: str, what: str, refused: OSError, need: int
) -> OSError:
    """The error to report for a refused request: SFTP v3 says only "Failure" for most
    causes, so a read-only or full filesystem is recognised from statvfs."""
    if refused.errno is None:
        state = wire.filesystem_state(sftp, posixpath.dirname(target) or "/")
        if state is not None:
            free, inodes, read_only = state
            if read_only:
                return OSError(errno.EROFS, f"Read-only file system (EROFS; {what})", target)
            if free < need or inodes == 0:
                detail = f"ENOSPC; {what} failed, {free} bytes free, {need} more to write"
                return OSError(errno.ENOSPC, f"No space left on device ({detail})", target)
    reason = refused.strerror or str(refused) or type(refused).__name__
    return OSError(refused.errno or errno.EIO, f"{reason} ({what})", target)


def start_session(sftp: paramiko.SFTPClient) -> str:
    """Learn what write requests a new session's server takes and the round trip's time,
    with its working directory (the login home, returned) in that same round trip."""
    asked = time.monotonic()
    limits, home = wire.session_start(sftp)
    note_round_trip(sftp, time.monotonic() - asked)
    note_limits(sftp, limits)
    return home


def _file_chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


def put_file(sftp: paramiko.SFTPClient, local: str, target: str, mode: int | None) -> None:
    """Copy one local file to `target` (mode: given, else the local file's), read one write
    request at a time: a file is never held whole in memory (with 25 ships at once, 1 MiB
    reads were 25 MiB of the controller's peak), and no request is cut short at a read's end."""
    with open(local, "rb") as handle:
        info = os.fstat(handle.fileno())
        keep = stat.S_IMODE(info.st_mode) if mode is None else mode
        chunks = _file_chunks(handle, write_pace(sftp).request)
        write_atomic(sftp, target, chunks, keep, info.st_size)


def put_bytes(sftp: paramiko.SFTPClient, data: bytes, target: str, mode: int | None) -> None:
    """Write `data` to `target` (mode 0644 unless given)."""
    write_atomic(sftp, target, [data], DEFAULT_FILE_MODE if mode is None else mode, len(data))


def _make_dir_keeping(sftp: paramiko.SFTPClient, path: str, mode: int) -> None:
    """Create `path` with `mode` unless it exists (existing dirs keep their mode; their
    stale temp files go)."""
    try:
        if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
            remove_stale_temps(sftp, path)
            return
        raise OSError(errno.ENOTDIR, "exists and is not a directory", path)
    except FileNotFoundError:
        pass
    sftp.mkdir(path, mode)
    sftp.chmod(path, mode)  # mkdir's mode is filtered by the server's umask


def put_tree(sftp: paramiko.SFTPClient, local: str, target: str) -> None:
    """Mirror the local tree at `target`; files keep their modes, created dirs too."""
    copy_local_tree(
        local,
        target,
        lambda path, mode: _make_dir_keeping(sftp, path, mode),
        lambda src, dest, mode: put_file(sftp, src, dest, mode),
    )


def get_file(sftp: paramiko.SFTPClient, source: str, local: str) -> None:
    """Copy the remote file to `local` by temp file + os.replace, keeping its mode; the local
    file appears only when exactly the size the open file had arrived. Open, then its
    attributes and first bytes in one round trip (a small file: all of it); the close is
    not waited for."""
    handle = wire.open_read(sftp, source)
    try:
        first = wire.first_look(sftp, handle, SMALL_REQUEST)
        if isinstance(first.attrs, OSError):
            raise first.attrs
        if stat.S_ISDIR(first.attrs.st_mode or 0):
            raise OSError(errno.EISDIR, "is a directory", source)
        if isinstance(first.data, OSError):
            raise first.data
        mode = stat.S_IMODE(first.attrs.st_mode or DEFAULT_FILE_MODE)
        _copy_in(sftp, handle, first.attrs.st_size or 0, first.data, source, local, mode)
    finally:
        wire.close_later(sftp, handle)


def _copy_in(
    sftp: paramiko.SFTPClient,
    handle: bytes,
    size: int,
    data: bytes,
    source: str,
    local: str,
    mode: int,
) -> None:
    """Write the open file to `local` atomically: `data` (its first bytes), then the rest."""
    with atomic_local_file(local, mode) as out:
        write_at = _writer(out)
        if size == 0:  # /proc files say 0 whatever they hold: read to the end
            write_at(0, data)
            if data:
                wire.read_to_end(sftp, handle, write_at, SMALL_REQUEST, len(data))
            return
        data = data[:size]  # the size the open file had, though it grew since
        write_at(0, data)
        got = len(data)
        if data and got < size:
            rest = wire.read_handle(sftp, handle, size, write_at, SMALL_REQUEST, _READ_DEPTH, got)
            got += rest
        if got != size:
            raise incomplete_copy(got, size, source)


def _writer(handle: BinaryIO) -> Callable[[int, bytes], None]:
    """`write_at(offset, data)` on a local file (pieces arrive in order, but need not)."""

    def write_at(offset: int, data: bytes) -> None:
        if handle.tell() != offset:
            handle.seek(offset)
        handle.write(data)

    return write_at


def ensure_dir(sftp: paramiko.SFTPClient, path: str, private: bool, uid: int) -> None:
    """Create `path` and its parents (0700 when private) and check the result."""
    mode = 0o700 if private else 0o755
    prefix = ""
    for part in path.strip("/").split("/"):
        prefix += "/" + part
        try:
            sftp.stat(prefix)
            continue
        except FileNotFoundError:
            pass
        try:
            sftp.mkdir(prefix, mode)
        except OSError:
            sftp.stat(prefix)  # someone else created it meanwhile; anything else re-raises
    if not stat.S_ISDIR(sftp.stat(path).st_mode or 0):
        raise OSError(errno.ENOTDIR, "not a directory", path)
    if private:
        sftp.chmod(path, 0o700)
    attrs = sftp.stat(path)
    if private:
        owner = attrs.st_uid if attrs.st_uid is not None else -1
        problem = check_private_dir(path, attrs.st_mode or 0, owner, uid)
        if problem:
            raise PermissionError(errno.EPERM, problem, path)


def _others_can_rename_in(parent_mode: int) -> bool:
    """Whether users other than the owner could swap an entry of a directory with this mode."""
    return bool(parent_mode & 0o022) and not parent_mode & stat.S_ISVTX


def make_work_dir(sftp: paramiko.SFTPClient, path: str, uid: Callable[[], int]) -> None:
    """Create the directory `path` private (0700) unless it exists; an existing one is left
    alone, but for its stale temp files (remove_stale_temps).

    The common case is one round trip: mkdir and the stats of the new dir and its parent,
    pipelined; a chmod only when the server's umask took bits of 0700. A directory this
    login just made is owned by its uid, so that owner is the uid to check against, unless
    someone else could have swapped it (a parent writable by others, without the sticky
    bit) or it was made by the parents walk: then `uid()` (a remote `id -u`) is asked.
    """
    made = wire.make_dir(sftp, path, 0o700)
    if isinstance(made.error, FileNotFoundError):  # a parent is missing: the careful walk
        ensure_dir(sftp, path, True, uid())
        return
    if made.error is not None:
        if isinstance(made.attrs, OSError):
            raise made.error  # the mkdir error (e.g. permission denied) says why
        if not stat.S_ISDIR(made.attrs.st_mode or 0):
            raise OSError(errno.ENOTDIR, "exists and is not a directory", path)
        remove_stale_temps(sftp, path)
        return
    attrs, parent = _raise_error(made.attrs), _raise_error(made.parent)
    if stat.S_IMODE(attrs.st_mode or 0) != 0o700:  # mkdir's mode is filtered by the umask
        sftp.chmod(path, 0o700)
        attrs = sftp.stat(path)
    owner = attrs.st_uid if attrs.st_uid is not None else -1
    expected = uid() if _others_can_rename_in(parent.st_mode or 0) else owner
    problem = check_private_dir(path, attrs.st_mode or 0, owner, expected)
    if problem:
        raise PermissionError(errno.EPERM, problem, path)


def _raise_error(attrs: paramiko.SFTPAttributes | OSError) -> paramiko.SFTPAttributes:
    if isinstance(attrs, OSError):
        raise attrs
    return attrs


def remove_stale_temps(sftp: paramiko.SFTPClient, directory: str) -> None:
    """Remove the temp files of interrupted writes directly in `directory` (rule: _temps).

    A directory that cannot be listed, or a file that cannot be removed, is left alone.
    """
    now = time.time()
    try:
        entries = sftp.listdir_attr(directory)
    except OSError:
        return
    for entry in entries:
        name = entry.filename
        if TMP_INFIX in name and is_stale_temp(name, entry.st_mode, entry.st_mtime, now):
            with suppress(OSError):
                sftp.remove(f"{directory.rstrip('/')}/{name}")
