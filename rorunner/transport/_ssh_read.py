"""Reading a remote file over SFTP, writing nothing (what `--diff` compares against)."""

from __future__ import annotations

import errno
import stat

import paramiko

from rorunner.transport._files import checked_size


def read_file(sftp: paramiko.SFTPClient, path: str, limit: int) -> bytes | None:
    """The bytes of the regular file `path`, None when there is none; a directory or special
    file, or more than `limit` bytes, is an OSError."""
    try:
        handle = sftp.open(path, "rb")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    with handle:
        attrs = handle.stat()  # of what was opened: no second lookup of the name
        if not stat.S_ISREG(attrs.st_mode or 0):
            raise OSError(errno.EINVAL, "not a regular file", path)
        data = handle.read(limit + 1)
    return checked_size(bytes(data), limit, path)
