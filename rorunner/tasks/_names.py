"""doit-safe task names, host tokens and task references."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rorunner.model import ConnectionSpec

# doit splits "basename:name" at ':', reads '=' as a parameter and '*?[]' as
# wildcards; keep a conservative set and map everything else to '_'.
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
_SAFE = re.compile(r"[A-Za-z0-9._@+-]+")

TaskRef = Mapping[str, Any] | str


def safe_name(value: object) -> str:
    """Map any value to a doit-safe name part: characters outside [A-Za-z0-9._@+-] become '_'."""
    text = _UNSAFE.sub("_", str(value))
    return text or "_"


def check_safe_name(value: str, what: str = "task name") -> str:
    """Return `value` when it is already doit-safe, else raise ValueError."""
    if not _SAFE.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not doit-safe (allowed: A-Z a-z 0-9 . _ @ + -)")
    return value


def spec_token(spec: ConnectionSpec, named_port: int | None) -> str:
    """The host part of a task name: the spec's label, else its address (+ _p<port> when named)."""
    if spec.label:
        return safe_name(spec.label)
    suffix = f"_p{named_port}" if named_port is not None else ""
    return safe_name(spec.address) + suffix


def spec_dir_name(spec: ConnectionSpec, named_port: int | None) -> str:
    """The per-host fetch directory: the label, else the address ("[addr]:port" with a port)."""
    if spec.label:
        return spec.label
    return f"[{spec.address}]:{named_port}" if named_port is not None else spec.address


def join_name(parts: Iterable[object]) -> str:
    """Join name parts with '_' after making each doit-safe."""
    return "_".join(safe_name(p) for p in parts)


def full_name(basename: str | None, name: str | None) -> str | None:
    """The doit reference for a task with this basename/name, None when it has no basename."""
    if basename is None:
        return None
    return f"{basename}:{name}" if name else basename


def get_ref_name(trec: TaskRef, *, group: str | None = None) -> str:
    """Return the full doit name ("basename:name") of a task dict, for another task's task_dep."""
    if isinstance(trec, str):
        return trec
    name = trec.get("name")
    if trec.get("basename"):
        return full_name(str(trec["basename"]), name) or ""
    meta = trec.get("meta") or {}
    ref = meta.get("rorunner", {}).get("ref") if isinstance(meta, Mapping) else None
    if ref:
        return str(ref)
    if isinstance(name, str) and ":" in name:
        return name  # doit already loaded this dict: it pops 'basename' and stores the full name
    if group and name:
        return f"{group}:{name}"
    raise ValueError(
        f"task {name!r} has no basename (is_dep_task=False): doit names it "
        f"'<task function>:{name}'; pass get_ref_name(trec, group='<task function>') "
        "or generate it with is_dep_task=True"
    )
