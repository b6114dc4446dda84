"""The run record, schema version 1: frozen dataclasses and their JSON form (stdlib only)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from rorunner.errors import RorunnerError
from rorunner.outcome import FAILED, STATUSES, SUCCEEDED, Status

SCHEMA_VERSION = 1
RunStatus = Literal["running", "finished", "interrupted"]
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "finished", "interrupted")
StepStatus = Literal["pending", "running"] | Status  # a step's outcome, or not one yet
STEP_STATUSES: tuple[StepStatus, ...] = ("pending", "running", *STATUSES)
EXECUTED: tuple[StepStatus, ...] = (*SUCCEEDED, *FAILED)
HostState = Literal["pending", "running", "ok", "changed", "failed", "unreachable", "not_run"]
HOST_STATES: tuple[HostState, ...] = (
    "pending",
    "running",
    "ok",
    "changed",
    "failed",
    "unreachable",
    "not_run",
)


class RecordError(RorunnerError):
    """A run record that cannot be read (missing, not JSON, or of an unknown schema)."""


def utc_iso(epoch: float) -> str:
    """UTC ISO-8601 with milliseconds and a Z: 2026-12-02T06:14:18.123Z."""
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def parse_utc(stamp: str) -> float:
    """Seconds since the epoch of a timestamp written by `utc_iso`."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class FileChange:
    """A file a step wrote: shipped to the host (dest remote) or fetched (dest local)."""

    action: Literal["ship", "fetch"]
    src: str
    dest: str

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"action": self.action, "src": self.src, "dest": self.dest}


@dataclass(frozen=True)
class StepRecord:
    """One step of one host: where it sits in the plan, what it runs, how it went."""

    task: str  # <host>/<play>/<role>/<phase>/<step>, the plan graph node id
    host: str
    play: str
    role: str
    phase: str
    step: str
    kind: str
    status: StepStatus
    command: str | None = None
    rc: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration: float | None = None
    reason: str = ""
    stdout: str | None = None  # log file paths
    stderr: str | None = None
    changes: tuple[FileChange, ...] = ()

    @property
    def executed(self) -> bool:
        """It ran (or was cut short by its own failure): it has a bar on a timeline."""
        return self.status in EXECUTED and self.started_at is not None

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        doc = {name: getattr(self, name) for name in _STEP_FIELDS}
        doc["changes"] = [c.as_json() for c in self.changes]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StepRecord:
        """From the JSON form (unknown keys ignored)."""
        values: dict[str, Any] = {name: doc[name] for name in _STEP_FIELDS if name in doc}
        values["reason"] = values.get("reason") or ""
        changes = tuple(
            FileChange(c["action"], c["src"], c["dest"]) for c in doc.get("changes") or ()
        )
        return cls(**values, changes=changes)


_STEP_FIELDS = (
    "task",
    "host",
    "play",
    "role",
    "phase",
    "step",
    "kind",
    "status",
    "command",
    "rc",
    "started_at",
    "ended_at",
    "duration",
    "reason",
    "stdout",
    "stderr",
)


@dataclass(frozen=True)
class PlayRecord:
    """One play: its hosts, serial batches, and why it stopped early (None: it did not)."""

    id: str
    name: str
    hosts: tuple[str, ...] = ()
    batches: tuple[tuple[str, ...], ...] = ()
    max_fail_percentage: float | None = None
    stop_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "hosts": list(self.hosts),
            "batches": [list(b) for b in self.batches],
            "max_fail_percentage": self.max_fail_percentage,
            "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PlayRecord:
        """From the JSON form."""
        return cls(
            id=doc["id"],
            name=doc.get("name") or doc["id"],
            hosts=tuple(doc.get("hosts") or ()),
            batches=tuple(tuple(b) for b in doc.get("batches") or ()),
            max_fail_percentage=doc.get("max_fail_percentage"),
            stop_reason=doc.get("stop_reason"),
        )


@dataclass(frozen=True)
class HostRecord:
    """One host's state and its step counts by status."""

    host: str
    state: HostState
    counts: Mapping[str, int] = field(default_factory=dict)

    def count(self, status: StepStatus) -> int:
        """How many of this host's steps have `status`."""
        return self.counts.get(status, 0)

    def as_json(self) -> dict[str, Any]:
        """JSON form: the state and one count per step status."""
        return {"state": self.state, **{s: self.count(s) for s in STEP_STATUSES}}


def host_record(host: str, statuses: Iterable[StepStatus]) -> HostRecord:
    """A host's record from the statuses of its steps."""
    counts: dict[str, int] = dict.fromkeys(STEP_STATUSES, 0)
    for status in statuses:
        counts[status] += 1
    return HostRecord(host, _host_state(counts), counts)


def _host_state(counts: Mapping[str, int]) -> HostState:
    total = sum(counts.values())
    urgent: tuple[HostState, ...] = ("unreachable", "failed", "running")
    for state in urgent:
        if counts[state]:
            return state
    if counts["pending"]:
        return "pending" if counts["pending"] == total else "running"
    if total and counts["not_run"] == total:
        return "not_run"
    return "changed" if counts["changed"] else "ok"


@dataclass(frozen=True)
class RunRecord:
    """One run of `rorunner play`: who ran what, when, how it ended, and every step."""

    run_id: str
    status: RunStatus
    started_at: str
    schema_version: int = SCHEMA_VERSION
    rorunner_version: str = ""
    command: str = "play"
    playbook: str | None = None
    project_dir: str = ""
    inventory: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()  # secrets masked
    user: str = ""
    controller: str = ""
    pid: int | None = None
    updated_at: str | None = None
    ended_at: str | None = None
    duration: float | None = None
    exit_code: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    plan: str | None = None  # file name of the plan graph beside the record
    plays: tuple[PlayRecord, ...] = ()
    hosts: tuple[HostRecord, ...] = ()
    totals: Mapping[str, int] = field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()

    @property
    def running(self) -> bool:
        """The run has not ended (its record is still being written)."""
        return self.status == "running"

    def host(self, name: str) -> HostRecord | None:
        """The record of host `name`."""
        return next((h for h in self.hosts if h.host == name), None)

    def hosts_in(self, state: HostState) -> int:
        """How many hosts are in `state`."""
        return sum(1 for h in self.hosts if h.state == state)

    def as_json(self) -> dict[str, Any]:
        """The JSON document (schema version 1)."""
        doc = {name: getattr(self, name) for name in _RUN_SCALARS}
        doc["inventory"] = list(self.inventory)
        doc["argv"] = list(self.argv)
        doc["options"] = dict(self.options)
        doc["plays"] = [p.as_json() for p in self.plays]
        doc["hosts"] = {h.host: h.as_json() for h in self.hosts}
        doc["totals"] = {s: self.totals.get(s, 0) for s in STEP_STATUSES}
        doc["steps"] = [s.as_json() for s in self.steps]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, with_steps: bool = True) -> RunRecord:
        """From the JSON document; RecordError when it is not a record this version reads."""
        version = doc.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecordError(
                f"run record {doc.get('run_id', '?')}: schema_version {version!r} "
                f"(this rorunner reads {SCHEMA_VERSION})"
            )
        try:
            return cls._parse(doc, with_steps)
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(f"run record {doc.get('run_id', '?')}: malformed ({err})") from err

    @classmethod
    def _parse(cls, doc: Mapping[str, Any], with_steps: bool) -> RunRecord:
        values = {name: doc[name] for name in _RUN_SCALARS if name in doc}
        hosts = doc.get("hosts") or {}
        return cls(
            **values,
            inventory=tuple(doc.get("inventory") or ()),
            argv=tuple(doc.get("argv") or ()),
            options=dict(doc.get("options") or {}),
            plays=tuple(PlayRecord.from_json(p) for p in doc.get("plays") or ()),
            hosts=tuple(
                HostRecord(name, h["state"], {s: int(h.get(s, 0)) for s in STEP_STATUSES})
                for name, h in hosts.items()
            ),
            totals={s: int((doc.get("totals") or {}).get(s, 0)) for s in STEP_STATUSES},
            steps=tuple(StepRecord.from_json(s) for s in doc.get("steps") or ())
            if with_steps
            else (),
        )


_RUN_SCALARS = (
    "schema_version",
    "rorunner_version",
    "run_id",
    "status",
    "command",
    "playbook",
    "project_dir",
    "user",
    "controller",
    "pid",
    "started_at",
    "updated_at",
    "ended_at",
    "duration",
    "exit_code",
    "plan",
)
