"""Engine: run a lowered plan with doit (thread runner, write-through DB, project lock)."""

from __future__ import annotations

from rorunner.engine._cache import NoopProof
from rorunner.engine._dry import DryRunEntry, dry_run, save_dry_run, statuses
from rorunner.engine._hoststate import STATE_FILE
from rorunner.engine._lock import ProjectLock
from rorunner.engine._lower import LoweredTask, lower
from rorunner.engine._preview import FileDiff, diff_lines, preview_diffs, ship_preview, unknowns
from rorunner.engine._result import HostSummary, RunResult, summarise
from rorunner.engine._run import DEFAULT_FORKS, STATE_DIR, EngineOptions, run_plan

__all__ = [
    "DEFAULT_FORKS",
    "STATE_DIR",
    "STATE_FILE",
    "DryRunEntry",
    "EngineOptions",
    "FileDiff",
    "HostSummary",
    "LoweredTask",
    "NoopProof",
    "ProjectLock",
    "RunResult",
    "diff_lines",
    "dry_run",
    "lower",
    "preview_diffs",
    "run_plan",
    "save_dry_run",
    "ship_preview",
    "statuses",
    "summarise",
    "unknowns",
]
