"""Whether a step is up to date: its signature and the run-made files it reads, as saved
in the values of its last success."""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rorunner.plan import Inputs, changed_inputs

# The keys of a step's saved values (doit saves whatever a python-action returns).
SIGNATURE = "rorunner.signature"
FILES = "rorunner.files"
INPUTS = "rorunner.inputs"  # plan.Inputs: no secret value, see rorunner.plan._inputs
_BLOCK = 1 << 20


@dataclass(frozen=True)
class StepCheck:
    """A doit `uptodate` callable: doit calls it as (task, values) with the values saved at
    the task's last success; it is up to date when nothing it covers changed since.

    `inputs` gives the step's inputs one by one (Plan.inputs); a success saves them, so
    that `explain` can name the inputs that changed since (only a dry run asks)."""

    signature: str
    watched: tuple[str, ...] = ()  # local files made during the run (absent at plan time)
    inputs: Callable[[], Inputs] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # doit asks inspect.signature for the arguments of every uptodate callable of every
        # task it checks; an instance's own __signature__ answers at once (a callable
        # object's is otherwise derived anew each time: 7,000 steps took ~1 s).
        object.__setattr__(self, "__signature__", _CALL_SIGNATURE)

    def __call__(self, task: object, values: Mapping[str, Any]) -> bool:
        """True when up to date."""
        return self._why(values, detail=False) == ""

    def explain(self, values: Mapping[str, Any]) -> str:
        """'' when up to date, else why not (naming the inputs that changed)."""
        return self._why(values, detail=True)

    def _why(self, values: Mapping[str, Any], detail: bool) -> str:
        saved = values.get(SIGNATURE)
        if saved is None:
            return "did not succeed last time"
        if saved != self.signature:
            before = values.get(INPUTS)
            which = ""
            if detail and isinstance(before, dict) and self.inputs is not None:
                which = changed_inputs(before, self.inputs())
            return f"inputs changed: {which}" if which else "inputs changed"
        changed = _first_changed(self.watched, values.get(FILES) or {})
        return f"file changed: {changed}" if changed else ""

    def signature_matches(self, values: Mapping[str, Any]) -> bool:
        """The cheap half of the check: the saved signature is this one."""
        return values.get(SIGNATURE) == self.signature

    def values_now(self) -> dict[str, Any]:
        """What to save when the step has just succeeded."""
        values = {SIGNATURE: self.signature, FILES: {p: _state(p) for p in self.watched}}
        if self.inputs is not None:
            values[INPUTS] = self.inputs()
        return values


_CALL_SIGNATURE = inspect.signature(lambda task, values: None)


def _state(path: str) -> list[Any] | None:
    """[mtime_ns, size, sha256] of a file, None when it is missing."""
    try:
        stat = os.stat(path)
        return [stat.st_mtime_ns, stat.st_size, _sha256(path)]
    except OSError:
        return None


def _first_changed(paths: tuple[str, ...], saved: Mapping[str, Any]) -> str:
    for path in paths:
        if _changed(path, saved.get(path)):
            return path
    return ""


def _changed(path: str, saved: Any) -> bool:
    try:
        stat = os.stat(path)
    except OSError:
        return True
    if not saved:
        return True
    mtime, size, digest = saved
    if (stat.st_mtime_ns, stat.st_size) == (mtime, size):
        return False  # as doit's own file check: an untouched file is not read again
    try:
        return bool(stat.st_size != size or _sha256(path) != digest)
    except OSError:
        return True


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
