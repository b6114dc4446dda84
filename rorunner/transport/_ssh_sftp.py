"""SFTP file moves: pipelined writes to a temp name then posix-rename; atomic local gets."""

from __future__ import annotations

import errno
import os
import posixpath
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress

import paramiko

from rorunner.transport._files import (
    DEFAULT_FILE_MODE,
    TMP_INFIX,
    atomic_local_file,
    check_private_dir,
    copy_local_tree,
)

_WRITE_BUFFER = 1024 * 1024
_READ_CHUNK = 1024 * 1024
# paramiko's own request size, which every SFTP server accepts (reads and writes).
_MAX_WRITE_REQUEST = 32768
# What paramiko keeps free of a channel packet, and the bytes of an SFTP write request
# around its data: length, type, id, handle (at most 256 bytes, with its length), offset,
# data length.
_CHANNEL_RESERVE = 64
_WRITE_HEADER = 4 + 1 + 4 + (4 + 256) + 8 + 4


def remote_path(home: str, path: str) -> str:
    """`path` made absolute: relative paths (and "~/...") are under the login home."""
    if path == "~" or path.startswith("~/"):
        path = path[2:]
    joined = posixpath.join(home, path) if not path.startswith("/") else path
    return posixpath.normpath(joined)


def _temp_name(target: str) -> str:
    parent, name = posixpath.split(target)
    return f"{parent}/.{name}{TMP_INFIX}{secrets.token_hex(6)}"


def _discard(sftp: paramiko.SFTPClient, tmp: str) -> None:
    with suppress(OSError):  # best effort: the original error is what matters
        sftp.remove(tmp)


def write_atomic(
    sftp: paramiko.SFTPClient, target: str, chunks: Iterable[bytes], mode: int
) -> None:
    """Write the byte chunks to a temp file beside `target`, chmod, then rename over it."""
    tmp = _temp_name(target)
    try:
        with sftp.open(tmp, "wb", bufsize=_WRITE_BUFFER) as handle:
            handle.set_pipelined(True)
            handle.MAX_REQUEST_SIZE = _write_request_size(sftp)
            for chunk in chunks:
                handle.write(chunk)
        sftp.chmod(tmp, mode)
        sftp.posix_rename(tmp, target)
    except BaseException:
        _discard(sftp, tmp)
        raise


def _write_request_size(sftp: paramiko.SFTPClient) -> int:
    """Bytes per write request such that each request fits one SSH packet.

    paramiko's default (32 KiB of data) plus the request header is just over
    OpenSSH's 32 KiB channel packet, so every request would travel as two
    packets (twice the per-packet CPU for encryption and MAC).
    """
    channel = sftp.get_channel()
    if channel is None:
        return _MAX_WRITE_REQUEST
    room = channel.out_max_packet_size - _CHANNEL_RESERVE - _WRITE_HEADER
    return max(4096, min(_MAX_WRITE_REQUEST, room))


def _file_chunks(local: str) -> Iterator[bytes]:
    with open(local, "rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            yield chunk


def put_file(sftp: paramiko.SFTPClient, local: str, target: str, mode: int | None) -> None:
    """Copy one local file to `target` (mode: given, else the local file's)."""
    if mode is None:
        mode = stat.S_IMODE(os.stat(local).st_mode)
    write_atomic(sftp, target, _file_chunks(local), mode)


def put_bytes(sftp: paramiko.SFTPClient, data: bytes, target: str, mode: int | None) -> None:
    """Write `data` to `target` (mode 0644 unless given)."""
    write_atomic(sftp, target, [data], DEFAULT_FILE_MODE if mode is None else mode)


def _make_dir_keeping(sftp: paramiko.SFTPClient, path: str, mode: int) -> None:
    """Create `path` with `mode` unless it exists (existing dirs keep their mode)."""
    try:
        if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
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
    """Copy the remote file to `local` by temp file + os.replace, keeping its mode."""
    with sftp.open(source, "rb") as remote:
        attrs = remote.stat()  # of what was opened: no second lookup of the name
        if stat.S_ISDIR(attrs.st_mode or 0):
            raise OSError(errno.EISDIR, "is a directory", source)
        mode = stat.S_IMODE(attrs.st_mode or DEFAULT_FILE_MODE)
        if (attrs.st_size or 0) > _MAX_WRITE_REQUEST:  # one request (and no thread) otherwise
            remote.prefetch(attrs.st_size)
        with atomic_local_file(local, mode) as handle:
            # One request's worth at a time: paramiko's read(n) joins its pieces by
            # repeated bytes concatenation, quadratic for a large n.
            while chunk := remote.read(_MAX_WRITE_REQUEST):
                handle.write(chunk)


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
    """Create the directory `path` private (0700) unless it exists; an existing one is left alone.

    The common case costs mkdir, chmod and two stats. A directory this login
    just made is owned by its uid, so that owner is the uid to check against,
    unless someone else could have swapped it (a parent writable by others,
    without the sticky bit) or it was made by the parents walk: then `uid()`
    (a remote `id -u`) is asked.
    """
    try:
        sftp.mkdir(path, 0o700)
    except FileNotFoundError:  # a parent is missing: the careful walk
        ensure_dir(sftp, path, True, uid())
        return
    except OSError as refused:
        try:
            attrs = sftp.stat(path)
        except OSError:
            raise refused from None  # the mkdir error (e.g. permission denied) says why
        if not stat.S_ISDIR(attrs.st_mode or 0):
            raise OSError(errno.ENOTDIR, "exists and is not a directory", path) from None
        return
    sftp.chmod(path, 0o700)  # mkdir's mode is filtered by the server's umask
    attrs = sftp.stat(path)
    parent = sftp.stat(posixpath.dirname(path) or "/")
    owner = attrs.st_uid if attrs.st_uid is not None else -1
    expected = uid() if _others_can_rename_in(parent.st_mode or 0) else owner
    problem = check_private_dir(path, attrs.st_mode or 0, owner, expected)
    if problem:
        raise PermissionError(errno.EPERM, problem, path)
