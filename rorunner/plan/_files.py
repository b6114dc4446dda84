"""Reading local inputs once per plan: file hashes and modes, cached by path."""

from __future__ import annotations

import hashlib
import os
import stat


class FileCache:
    """sha256 and mode of local files, each file read at most once per plan."""

    def __init__(self) -> None:
        self._digests: dict[str, str] = {}
        self._modes: dict[str, int] = {}

    def digest(self, path: str) -> str:
        """Hex sha256 of the file's bytes."""
        if path not in self._digests:
            sha = hashlib.sha256()
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    sha.update(block)
            self._digests[path] = sha.hexdigest()
        return self._digests[path]

    def mode(self, path: str) -> int:
        """Permission bits of the file."""
        if path not in self._modes:
            self._modes[path] = stat.S_IMODE(os.stat(path).st_mode)
        return self._modes[path]


def bytes_digest(data: bytes) -> str:
    """Hex sha256 of in-memory bytes (rendered templates)."""
    return hashlib.sha256(data).hexdigest()
