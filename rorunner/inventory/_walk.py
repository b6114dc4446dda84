"""A directory's files, recursively and in sorted order, each directory read once."""

from __future__ import annotations

import os
from collections.abc import Callable

from rorunner.errors import InputError


def walk_dir(
    path: str, keep: Callable[[str, bool], bool], _seen: set[str] | None = None
) -> list[str]:
    """Files under the directory `path`; `keep(full_path, is_dir)` picks what to enter or return."""
    seen = set() if _seen is None else _seen
    real = os.path.realpath(path)
    if real in seen:  # a symlink loop: each directory is read once
        return []
    seen.add(real)
    try:
        entries = sorted(os.listdir(path))
    except OSError as exc:
        raise InputError(f"cannot read directory: {exc.strerror or exc}", path) from None
    files: list[str] = []
    for entry in entries:
        full = os.path.join(path, entry)
        is_dir = os.path.isdir(full)
        if keep(full, is_dir):
            files.extend(walk_dir(full, keep, seen) if is_dir else [full])
    return files
