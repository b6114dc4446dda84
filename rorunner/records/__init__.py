"""Run records: the versioned JSON documents in `.rorunner/runs/`, written and read here.

Schema version 1 is documented in docs/run-records.md and checked by
`rorunner/schemas/run-record-1.json`; the dry-run state (`.rorunner/dry-run.json`,
what the newest `play --dry-run` said would run next) by `dry-run-1.json`. This package
imports nothing outside the standard library and `rorunner.errors`: the engine writes
records through `RecordWriter` (and the dry-run state through `write_dry_run`), the CLI
and the dashboard read them through `RunStore`.
"""

from __future__ import annotations

from rorunner.records._dry import (
    DRY_RUN_MAX_STEPS,
    DryRunRecord,
    DryRunStep,
    dry_run_path,
    dry_run_schema_path,
    forget_dry_run,
    write_dry_run,
)
from rorunner.records._lock import ProjectLock
from rorunner.records._mask import MASK, mask_argv, mask_extra_vars
from rorunner.records._model import (
    EXECUTED,
    HOST_STATES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    STEP_STATUSES,
    FileChange,
    HostRecord,
    HostState,
    PlayRecord,
    RecordError,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    host_record,
    parse_utc,
    utc_iso,
)
from rorunner.records._plancache import (
    DepState,
    InputRecorder,
    PlanCache,
    WatchedFile,
    answer_unchanged,
    forget_cache,
    load_cache,
    path_state,
    recording,
    replay_record,
    run_key,
    save_cache,
)
from rorunner.records._reader import (
    STATE_DIR,
    RunStore,
    find_state_dirs,
    plan_path,
    prune_runs,
    record_path,
    schema_path,
    tail_text,
)
from rorunner.records._writer import (
    Invocation,
    RecordWriter,
    RunMeta,
    new_run_id,
    write_atomic,
)

__all__ = [
    "DRY_RUN_MAX_STEPS",
    "EXECUTED",
    "HOST_STATES",
    "MASK",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "STATE_DIR",
    "STEP_STATUSES",
    "DepState",
    "DryRunRecord",
    "DryRunStep",
    "FileChange",
    "HostRecord",
    "HostState",
    "InputRecorder",
    "Invocation",
    "PlanCache",
    "PlayRecord",
    "ProjectLock",
    "RecordError",
    "RecordWriter",
    "RunMeta",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "StepRecord",
    "StepStatus",
    "WatchedFile",
    "answer_unchanged",
    "dry_run_path",
    "dry_run_schema_path",
    "find_state_dirs",
    "forget_cache",
    "forget_dry_run",
    "host_record",
    "load_cache",
    "mask_argv",
    "mask_extra_vars",
    "new_run_id",
    "parse_utc",
    "path_state",
    "plan_path",
    "prune_runs",
    "record_path",
    "recording",
    "replay_record",
    "run_key",
    "save_cache",
    "schema_path",
    "tail_text",
    "utc_iso",
    "write_atomic",
    "write_dry_run",
]
