"""A step's inputs one by one: the compact map a success stores beside the step's signature,
so that a later dry run can name the input that changed (`vars.app_version 1.0 -> 2.0`,
`file roles/web/files/app.conf.j2`, `command`, `predecessor <task>`).

Each entry maps an input's name to `=<value>` (a short, printable value, shown in a change),
`#<digest>` (a content digest: only "changed" can be said), or None: a secret-like variable
(rorunner.masking), kept by name only, neither its value nor a digest of it.

A run keeps every step's inputs until it ends (doit holds a success's values, the
dependency DB its rows): their strings are interned, so the hosts of a play share one
`vars.x` and one `=value` instead of a copy per step (~25 KB per host of a 7-step play).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any

from rorunner.masking import is_secret_name
from rorunner.model import Env, FileMove, PlanStep, StepSpec

Inputs = dict[str, str | None]
VALUE_MAX = 64  # longer values are kept as a digest
ENV_MEMO = 256  # environments whose input entries EnvInputs keeps
SPEC_MEMO = 256  # step specs whose input entries SpecInputs keeps
SHOWN_CHANGES = 4  # changes named in one reason; a count stands for the others
_ABSENT = object()


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return "#" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _value(text: str) -> str:
    """`=text` when short and on one line, else its digest."""
    if len(text) <= VALUE_MAX and text.isprintable():
        return "=" + text
    return _digest(text)


def step_inputs(
    step: PlanStep,
    file_digest: Callable[[str], str],
    feeders: Mapping[str, str],
    base: str,
    made: Collection[str] = (),
    env_inputs: Callable[[Env], Inputs] | None = None,
    spec_inputs: SpecInputs | None = None,
) -> Inputs:
    """The inputs of `step`: its command or script, shipped or fetched files, settings,
    target, environment variables and feeding predecessors (`feeders`: task name ->
    signature); local paths shown relative to `base` (the project dir); `made`: local files
    that steps of the run make (their step stands for their content); `env_inputs`: the
    entries of an environment (default: made anew, see EnvInputs); `spec_inputs`: those of
    a step spec (default: made anew, see SpecInputs)."""
    own = (spec_inputs or SpecInputs()).entries(step.spec, file_digest, base, made).copy()
    conn = step.conn
    target = f"{conn.user or ''}@{conn.address}:{conn.port or ''}"
    for key, value in (
        ("target", target),
        ("remote_dir", step.remote_dir),
        ("fetch_dir", step.fetch_dir),
    ):
        own[key] = sys.intern(_value(value))
    own.update((env_inputs or _env_entries)(step.env))
    for task, signature in feeders.items():
        own[sys.intern(f"predecessor {task}")] = sys.intern("#" + signature[:16])
    return own


def _spec_entries(
    spec: StepSpec, file_digest: Callable[[str], str], base: str, made: Collection[str]
) -> Inputs:
    """The inputs a step has from its spec alone: the same for every host running it."""
    inputs: Inputs = {}
    if spec.command is not None:
        inputs["command"] = _digest(spec.command)
    if spec.script:
        try:
            script = file_digest(spec.script)
        except OSError:
            script = "missing"
        inputs[f"script {_rel(spec.script, base)}"] = _digest(script)
    for move in spec.files:
        key, value = _file(spec.kind, move, file_digest, base, made)
        inputs[key if key not in inputs else f"{key} -> {move.dest}"] = value
    settings = f"always={spec.always} timeout={spec.timeout} creates={len(spec.creates)}"
    inputs["settings"] = _value(settings) if not spec.creates else _digest(settings, spec.creates)
    return _interned(inputs)


class _ObjectMemo:
    """Input entries made once per object (by identity) and the `context` they were made
    for: one dict shared by every caller, which copies it and never changes it. The last
    `limit` objects used are kept."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._made: dict[int, tuple[object, object, Inputs]] = {}

    def get(self, obj: object, context: object, make: Callable[[], Inputs]) -> Inputs:
        """The entries made for `obj` in `context`, made now by `make` when not kept."""
        key = id(obj)
        with self._lock:
            found = self._made.pop(key, None)
            if found is not None:
                self._made[key] = found  # most recently used last
        if found is not None and found[0] is obj and found[1] == context:
            return found[2]
        entries = make()
        with self._lock:
            self._made[key] = (obj, context, entries)
            if len(self._made) > self._limit:
                del self._made[next(iter(self._made))]
        return entries


class SpecInputs:
    """The spec's input entries (_spec_entries), made once per step spec object: the hosts of
    a play share one spec per step (a command's and each file's digest were ~40% of a
    step's inputs' cost at 100 hosts). The last SPEC_MEMO specs used are kept."""

    def __init__(self) -> None:
        self._memo = _ObjectMemo(SPEC_MEMO)

    def entries(
        self,
        spec: StepSpec,
        file_digest: Callable[[str], str],
        base: str,
        made: Collection[str],
    ) -> Inputs:
        """The entries of `spec`: one dict shared by every caller, which copies it."""
        return self._memo.get(
            spec, (base, made), lambda: _spec_entries(spec, file_digest, base, made)
        )


class EnvInputs:
    """The input entries of each environment, made once per environment object: the steps
    of a host's unit share one (19 entries at the bench's 7 steps per host, ~40% of a step's
    inputs' cost). Only the last ENV_MEMO environments used are kept: a unit's steps run one
    after another, at most `forks` units at a time, and a big run would otherwise hold an
    extra dict per unit until it ends."""

    def __init__(self) -> None:
        self._memo = _ObjectMemo(ENV_MEMO)

    def __call__(self, env: Env) -> Inputs:
        """The entries of `env` (`env.NAME` or `vars.NAME` -> value, None for a secret):
        one dict shared by every caller, which copies it and never changes it."""
        return self._memo.get(env, None, lambda: _env_entries(env))


def _env_entries(env: Env) -> Inputs:
    entries: Inputs = {}
    for name, env_value in env:
        kind = "env" if name.startswith("RORUNNER_") else "vars"
        if isinstance(env_value, str) and not is_secret_name(name):
            entries[f"{kind}.{name}"] = _value(env_value)
        else:  # a vault value or a secret-like name: by name only
            entries[f"{kind}.{name}"] = None
    return _interned(entries)


def _interned(inputs: Inputs) -> Inputs:
    return {sys.intern(k): v if v is None else sys.intern(v) for k, v in inputs.items()}


def _file(
    kind: str, move: FileMove, file_digest: Callable[[str], str], base: str, made: Collection[str]
) -> tuple[str, str]:
    if kind == "fetch":
        return f"fetch {move.src}", _value(move.dest)
    if move.content is not None:
        content = hashlib.sha256(move.content).hexdigest()
    elif move.src in made:  # made by a local step during the run: that step stands for it
        content = "made during the run"
    else:
        try:
            content = file_digest(move.src)
        except OSError:  # gone since it was planned: the signature has it as it was
            content = "missing"
    return f"file {_rel(move.src, base)}", _digest(move.dest, move.mode, content)


def _rel(path: str, base: str) -> str:
    return os.path.relpath(path, base) if os.path.isabs(path) else path


def changed_inputs(saved: Mapping[str, Any], now: Inputs) -> str:
    """Which inputs differ, as a dry run names them ('' when none can be named)."""
    changes = []
    for key in [*now, *(k for k in saved if k not in now)]:
        before, after = saved.get(key, _ABSENT), now.get(key, _ABSENT)
        if before != after:
            changes.append(_change(key, before, after))
    if not changes:
        secret = [key for key, value in now.items() if value is None]
        return f"a secret input: {', '.join(secret)}" if secret else ""
    more = len(changes) - SHOWN_CHANGES
    shown = ", ".join(changes[:SHOWN_CHANGES])
    return shown + (f", and {more} more" if more > 0 else "")


def _change(key: str, before: object, after: object) -> str:
    if before is _ABSENT:
        return f"{key} (new{_shown(after, ': ')})"
    if after is _ABSENT:
        return f"{key} (gone)"
    if _is_value(before) and _is_value(after):
        return f"{key} {_shown(before)} -> {_shown(after)}"
    return key


def _is_value(item: object) -> bool:
    return isinstance(item, str) and item.startswith("=")


def _shown(item: object, prefix: str = "") -> str:
    if not _is_value(item):
        return ""
    text = str(item)[1:]
    return prefix + (text if text else "''")
