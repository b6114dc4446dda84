"""Reading run records: one project's `.rorunner/`, newest first, cached by file stamp."""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

from rorunner.records._dry import DryRunRecord, dry_run_path, read_dry_run
from rorunner.records._model import RecordError, RunRecord, utc_iso

STATE_DIR = ".rorunner"
PLAN_SUFFIX = ".plan.json"
TAIL_LINES = 20
TAIL_BYTES = 4096
_Stamp = tuple[int, int]


def record_path(state_dir: Path, run_id: str) -> Path:
    """Where the record of `run_id` lives: <state_dir>/runs/<run_id>.json."""
    return state_dir / "runs" / f"{run_id}.json"


def plan_path(state_dir: Path, run_id: str) -> Path:
    """Where the plan graph of `run_id` lives: <state_dir>/runs/<run_id>.plan.json."""
    return state_dir / "runs" / f"{run_id}{PLAN_SUFFIX}"


def schema_path() -> Path:
    """The JSON Schema of run records (version 1), shipped with the package."""
    from importlib import resources  # noqa: PLC0415 - lazy: only readers of schemas need it

    return Path(str(resources.files("rorunner") / "schemas" / "run-record-1.json"))


def find_state_dirs(path: Path) -> list[Path]:
    """The `.rorunner/` dirs of a project: `path` itself, or `path/.rorunner` and those one
    level down.

    `rorunner dashboard` run at the top of a repository whose playbooks live in
    `playbooks/` finds `playbooks/.rorunner`, and the top's own `.rorunner` (ad hoc `run`
    records) too. An empty list: no run was recorded yet.
    """
    if path.name == STATE_DIR and path.is_dir():
        return [path]
    if not path.is_dir():
        return []
    found = [path / STATE_DIR]
    found += (child / STATE_DIR for child in sorted(path.iterdir()) if child.is_dir())
    return [state for state in found if state.is_dir()]


class RunStore:
    """The run records of one `.rorunner/` directory; reads only, never writes."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._cache: dict[Path, tuple[_Stamp, RunRecord]] = {}
        self._summaries: dict[Path, tuple[_Stamp, RunRecord]] = {}
        self._dry_run: tuple[_Stamp, DryRunRecord | None] | None = None

    @property
    def runs_dir(self) -> Path:
        """`<state_dir>/runs`."""
        return self.state_dir / "runs"

    def run_ids(self) -> list[str]:
        """Ids of every record on disk (unordered)."""
        if not self.runs_dir.is_dir():
            return []
        return [
            p.name.removesuffix(".json")
            for p in self.runs_dir.iterdir()
            if p.name.endswith(".json")
            and not p.name.endswith(PLAN_SUFFIX)
            and not p.name.startswith(".")
        ]

    def summaries(self) -> list[RunRecord]:
        """Every readable run, newest first, without its steps (host counts are there)."""
        runs = []
        for run_id in self.run_ids():
            try:
                runs.append(self._read(run_id, with_steps=False))
            except RecordError:
                continue  # deleted or replaced since listed, or not a record we read
        return sorted(runs, key=lambda r: (r.started_at, r.run_id), reverse=True)

    def load(self, run_id: str) -> RunRecord:
        """The full record of `run_id` (RecordError when missing or unreadable)."""
        return self._read(run_id, with_steps=True)

    def resolve(self, ref: str) -> str:
        """The run id that `ref` names: an id, a unique prefix of one, or `latest`."""
        ids = self.run_ids()
        if ref in ids:
            return ref
        if ref in ("latest", "last"):
            newest = self.summaries()
            if newest:
                return newest[0].run_id
            raise RecordError(f"no run recorded in {self.state_dir}")
        matches = sorted(i for i in ids if i.startswith(ref))
        if len(matches) == 1:
            return matches[0]
        what = "matches several runs" if matches else "names no run"
        raise RecordError(f"{ref!r} {what} in {self.state_dir}")

    def plan(self, run_id: str) -> dict[str, Any] | None:
        """The plan graph saved with `run_id` (the `--graph json` document), None if absent."""
        path = plan_path(self.state_dir, run_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise RecordError(f"{path}: unreadable plan ({err})") from err
        return data if isinstance(data, dict) else None

    def dry_run(self) -> DryRunRecord | None:
        """What the newest `play --dry-run` said would run next (None if none saved it)."""
        try:
            stat = dry_run_path(self.state_dir).stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._dry_run is None or self._dry_run[0] != stamp:
            self._dry_run = (stamp, read_dry_run(self.state_dir))
        return self._dry_run[1]

    def log_file(self, run_id: str, path: str | None) -> Path | None:
        """A log path named by a step of `run_id`, if it is a file under that run's log dir."""
        if not path:
            return None
        logs = (self.state_dir / "logs" / run_id).resolve()
        candidate = Path(path).resolve()
        if candidate.parent != logs or not candidate.is_file():
            return None
        return candidate

    def _read(self, run_id: str, *, with_steps: bool) -> RunRecord:
        path = record_path(self.state_dir, run_id)
        cache = self._cache if with_steps else self._summaries
        try:
            stat = path.stat()
        except FileNotFoundError as err:
            raise RecordError(f"no run {run_id} in {self.state_dir}") from err
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        record = _alive_or_interrupted(RunRecord.from_json(_load(path), with_steps=with_steps))
        cache[path] = (stamp, record)
        return record


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RecordError(f"{path}: no such record") from err
    except (OSError, ValueError) as err:
        raise RecordError(f"{path}: unreadable ({err})") from err
    if not isinstance(data, dict):
        raise RecordError(f"{path}: not a run record")
    return data if "schema_version" in data else _legacy(data, path)


def _legacy(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A record written before schema version 1 (run_id, interrupted, hosts, steps)."""
    if "run_id" not in data or "steps" not in data:
        raise RecordError(f"{path}: not a run record")
    stamp = path.stat().st_mtime
    return {
        "schema_version": 1,
        "run_id": data["run_id"],
        "status": "interrupted" if data.get("interrupted") else "finished",
        "started_at": utc_iso(stamp),
        "ended_at": utc_iso(stamp),
        "hosts": data.get("hosts") or {},
        "steps": [{**s, "kind": s.get("kind", "")} for s in data["steps"]],
    }


def _alive_or_interrupted(record: RunRecord) -> RunRecord:
    """A record still marked running whose writer is gone from this machine reads as
    interrupted (the writer was killed before it could say so)."""
    if not record.running or record.pid is None or record.controller != socket.gethostname():
        return record
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return replace(record, status="interrupted")
    except PermissionError:  # alive, owned by someone else
        pass
    return record


def tail_text(path: Path, lines: int = TAIL_LINES, max_bytes: int = TAIL_BYTES) -> str:
    """The last `lines` lines of a text file, at most `max_bytes` bytes of it."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        data = handle.read()
    text = data.decode("utf-8", errors="replace")
    if size > max_bytes and "\n" in text:
        text = text.split("\n", 1)[1]  # drop the partial first line
    return "\n".join(text.rstrip("\n").split("\n")[-lines:]) if text else ""


def prune_runs(state_dir: Path, keep: int) -> None:
    """Keep the newest `keep` run records (with their plans and logs); drop the rest, and
    every log dir or plan file whose record is gone."""
    runs = state_dir / "runs"
    records = sorted(
        (p for p in runs.glob("*.json") if not p.name.endswith(PLAN_SUFFIX)),
        key=lambda p: (p.stat().st_mtime_ns, p.name),
    )
    for old in records[: max(0, len(records) - keep)]:
        old.unlink(missing_ok=True)
    kept = {p.name.removesuffix(".json") for p in records[-keep:]} if keep > 0 else set()
    for plan in runs.glob(f"*{PLAN_SUFFIX}"):
        if plan.name.removesuffix(PLAN_SUFFIX) not in kept:
            plan.unlink(missing_ok=True)
    logs = state_dir / "logs"
    for log_dir in logs.iterdir() if logs.is_dir() else ():
        if log_dir.name not in kept:
            shutil.rmtree(log_dir, ignore_errors=True)
