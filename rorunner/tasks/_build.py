"""Shared pieces of every generated task dict: names, dependencies, meta, step environment."""

from __future__ import annotations

import bisect
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rorunner.model import Env, EnvValue, Secret
from rorunner.tasks._hosts import Target
from rorunner.tasks._names import TaskRef, check_safe_name, full_name, get_ref_name, safe_name

TaskDict = dict[str, Any]


def as_list(value: Any) -> list[Any]:
    """A fresh list of the items; a lone string, path or task dict counts as one item."""
    if value is None:
        return []
    if isinstance(value, str | bytes | os.PathLike | Mapping):
        return [value]
    return list(value)


@dataclass(frozen=True)
class Naming:
    """basename/name of a task and the stem of its log files."""

    basename: str | None
    name: str | None
    label: str

    @property
    def ref(self) -> str | None:
        """The full doit name, None for a task without basename."""
        return full_name(self.basename, self.name)

    @property
    def stem(self) -> str:
        """Log file stem: "<basename>.<name>" (the label stands in for a missing basename)."""
        head = self.basename or safe_name(self.label)
        return f"{head}.{self.name}" if self.name else head


def naming(label: str, is_dep_task: bool, parts: Sequence[object], name: str | None) -> Naming:
    """Seed naming: basename = label for a dep task; name = the parts joined with '_'."""
    basename = safe_name(label) if is_dep_task else None
    if name is not None:
        chosen: str | None = check_safe_name(name)
    elif parts:
        chosen = "_".join(safe_name(p) for p in parts)
    else:
        chosen = None if basename else safe_name(label)
    return Naming(basename, chosen, label)


@dataclass(frozen=True)
class Extras:
    """The keyword-only extras every generator accepts."""

    uptodate: Sequence[object] | None = None
    file_dep: Sequence[str] = ()
    targets: Sequence[str] = ()
    doc: str | None = None
    meta: Mapping[str, Any] | None = field(default=None)


def assemble(
    kind: str,
    names: Naming,
    actions: list[Any],
    deps: Sequence[TaskRef],
    extras: Extras,
    host: str | None,
    default_doc: str,
) -> TaskDict:
    """Build the plain doit task dict."""
    task: TaskDict = {}
    if names.basename is not None:
        task["basename"] = names.basename
    if names.name is not None:
        task["name"] = names.name
    task["actions"] = actions
    task["task_dep"] = [get_ref_name(dep) for dep in deps]
    task["file_dep"] = list(dict.fromkeys(extras.file_dep))
    if extras.targets:
        task["targets"] = list(extras.targets)
    if extras.uptodate is not None:
        task["uptodate"] = list(extras.uptodate)
    task["doc"] = extras.doc if extras.doc is not None else default_doc
    own = {"kind": kind, "host": host, "ref": names.ref, "label": names.label}
    task["meta"] = {**(extras.meta or {}), "rorunner": own}
    return task


def task_meta(task: Mapping[str, Any]) -> dict[str, Any]:
    """rorunner's own meta of a generated task: kind, host, ref, label."""
    meta = task.get("meta") or {}
    own = meta.get("rorunner", {}) if isinstance(meta, Mapping) else {}
    return dict(own)


class EnvPairs(Mapping[str, EnvValue]):
    """An environment already in the form a task keeps it: (name, value) pairs sorted by
    name, each name once, values strings or Secrets. Generators take it as it is, without
    copying or sorting again (a plan's steps share theirs)."""

    __slots__ = ("_map", "pairs")

    def __init__(self, pairs: Iterable[tuple[str, EnvValue]]) -> None:
        self.pairs = tuple(pairs)
        names = [name for name, _ in self.pairs]
        if any(not isinstance(n, str) or not isinstance(v, str | Secret) for n, v in self.pairs):
            raise ValueError("EnvPairs holds strings (and Secrets) only")
        if any(a >= b for a, b in itertools.pairwise(names)):
            raise ValueError("EnvPairs must be sorted by name, each name once")
        self._map: dict[str, EnvValue] | None = None

    def __getitem__(self, name: str) -> EnvValue:
        if self._map is None:
            self._map = dict(self.pairs)
        return self._map[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __contains__(self, name: object) -> bool:
        index = bisect.bisect_left(self.pairs, (name,))
        return index < len(self.pairs) and self.pairs[index][0] == name


def env_items(env: Mapping[str, object] | None) -> dict[str, EnvValue]:
    """The caller's env with string values (a Secret stays one: it is revealed only where the
    command gets it)."""
    return {str(k): v if isinstance(v, Secret) else str(v) for k, v in (env or {}).items()}


def sorted_env(env: Mapping[str, object] | None) -> Env:
    """The environment as sorted (name, value) pairs (a Secret stays one)."""
    if isinstance(env, EnvPairs):
        return env.pairs
    return tuple(sorted(env_items(env).items()))


def step_env(target: Target, env: Mapping[str, object] | None, remote_dir: str | None) -> Env:
    """RORUNNER_HOST/ADDRESS/PORT/REMOTE_DIR defaults under the caller's env, sorted."""
    merged: dict[str, EnvValue] = {
        "RORUNNER_HOST": target.spec.name,
        "RORUNNER_ADDRESS": target.spec.address,
    }
    if target.spec.port is not None:
        merged["RORUNNER_PORT"] = str(target.spec.port)
    if remote_dir is not None:
        merged["RORUNNER_REMOTE_DIR"] = remote_dir
    if isinstance(env, EnvPairs) and all(name in env for name in merged):
        return env.pairs  # the caller's values win for every default: nothing to merge
    merged.update(env_items(env))
    return tuple(sorted(merged.items()))
