"""The dry-run state: what the newest `play --dry-run` said would run next, and why.

One file per project, `.rorunner/dry-run.json` (schema `dry-run-1.json`), replaced
atomically by each dry run: readers such as the dashboard see the verdicts without
planning or reading the dependency DB themselves.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rorunner import __version__
from rorunner.records._mask import mask_argv
from rorunner.records._model import SCHEMA_VERSION, RecordError, utc_iso
from rorunner.records._writer import Invocation, login_name, write_atomic

DRY_RUN_FILE = "dry-run.json"
# Above this many steps a dry run leaves no state: its graph is more than the dashboard
# draws, and writing it (300 MB at 700,000 steps) would cost more than the planning.
DRY_RUN_MAX_STEPS = 20_000


def dry_run_path(state_dir: Path) -> Path:
    """Where the dry-run state lives: <state_dir>/dry-run.json."""
    return state_dir / DRY_RUN_FILE


def dry_run_schema_path() -> Path:
    """The JSON Schema of the dry-run state (version 1), shipped with the package."""
    from importlib import resources  # noqa: PLC0415 - lazy: only readers of schemas need it

    return Path(str(resources.files("rorunner") / "schemas" / "dry-run-1.json"))


@dataclass(frozen=True)
class DryRunStep:
    """One step's verdict: would it run, and why (empty when up to date)."""

    task: str  # the plan graph's node id, as in run records
    would_run: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"task": self.task, "would_run": self.would_run, "reason": self.reason}


@dataclass(frozen=True)
class DryRunRecord:
    """The dry-run state as read back: who asked when, each step's verdict, the plan graph."""

    created_at: str
    steps: tuple[DryRunStep, ...]
    plan: Mapping[str, Any]  # the `--graph json` document, each node's status its verdict
    playbook: str | None = None
    project_dir: str = ""
    inventory: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()  # secrets masked
    user: str = ""
    controller: str = ""
    rorunner_version: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def step(self, task: str) -> DryRunStep | None:
        """The verdict on step `task`."""
        return next((s for s in self.steps if s.task == task), None)

    @property
    def would_run(self) -> int:
        """How many steps would run."""
        return sum(1 for s in self.steps if s.would_run)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DryRunRecord:
        """From the JSON form (unknown keys ignored; RecordError for another version)."""
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise RecordError(f"dry-run state of schema {doc.get('schema_version')!r}")
        try:
            steps = tuple(
                DryRunStep(str(s["task"]), bool(s["would_run"]), str(s.get("reason") or ""))
                for s in doc["steps"]
            )
            return cls(
                created_at=str(doc["created_at"]),
                steps=steps,
                plan=dict(doc["plan"]),
                playbook=doc.get("playbook"),
                project_dir=str(doc.get("project_dir") or ""),
                inventory=tuple(doc.get("inventory") or ()),
                argv=tuple(doc.get("argv") or ()),
                user=str(doc.get("user") or ""),
                controller=str(doc.get("controller") or ""),
                rorunner_version=str(doc.get("rorunner_version") or ""),
                options=dict(doc.get("options") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"not a dry-run state ({err!r})") from err


def write_dry_run(
    state_dir: Path, invocation: Invocation, steps: Sequence[DryRunStep], plan: Mapping[str, Any]
) -> Path:
    """Replace the project's dry-run state: `steps` in plan order and the plan graph (`plan`,
    the `--graph json` document with the verdicts as node statuses, as data)."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "rorunner_version": __version__,
        "created_at": utc_iso(time.time()),
        "playbook": invocation.playbook,
        "project_dir": str(state_dir.parent),
        "inventory": list(invocation.inventory),
        "argv": mask_argv(invocation.argv),
        "user": login_name(),
        "controller": socket.gethostname(),
        "options": dict(invocation.options),
        "totals": {
            "would_run": sum(1 for s in steps if s.would_run),
            "up_to_date": sum(1 for s in steps if not s.would_run),
        },
        "steps": [s.as_json() for s in steps],
        "plan": plan,
    }
    path = dry_run_path(state_dir)
    write_atomic(path, json.dumps(doc, sort_keys=True) + "\n")
    return path


def forget_dry_run(state_dir: Path) -> None:
    """Remove the project's dry-run state (a newer dry run left none: the old one is stale)."""
    dry_run_path(state_dir).unlink(missing_ok=True)


def read_dry_run(state_dir: Path) -> DryRunRecord | None:
    """The project's dry-run state, None when no dry run saved one."""
    path = dry_run_path(state_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise RecordError(f"{path}: unreadable ({err})") from err
    if not isinstance(doc, dict):
        raise RecordError(f"{path}: not a dry-run state")
    return DryRunRecord.from_json(doc)
