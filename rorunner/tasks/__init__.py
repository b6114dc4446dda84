"""Task generators: the seed's doit API over the pooled transport.

Every generator returns a plain doit task dict whose actions hold plain data
(a ConnectionSpec, commands, paths) and reach the host at run time through the
TransportPool they are called with, `action(pool)` (the engine passes its own), or
through `rorunner.transport.default_pool()` when plain doit calls `action()`.
Expected failures come back as StepFailure (a doit TaskFailed) carrying the typed
rorunner error; see `step_error`. The exact signatures are in docs/seed-api.md.
"""

from __future__ import annotations

from rorunner.tasks._actions import TASK_ACTIONS, FetchFiles, RunCommands, ShipFiles, TaskAction
from rorunner.tasks._build import EnvPairs, TaskDict, task_meta
from rorunner.tasks._generators import (
    gen_task_fetch_files,
    gen_task_local_exec,
    gen_task_remote_exec,
    gen_task_ship_files,
)
from rorunner.tasks._hosts import HostRef, host_dir, host_token
from rorunner.tasks._names import TaskRef, get_ref_name, safe_name
from rorunner.tasks._outcome import StepFailure, step_error
from rorunner.tasks._rtas import RTASGenerator, doit_task_generator_for_RTAS

__all__ = [
    "TASK_ACTIONS",
    "EnvPairs",
    "FetchFiles",
    "HostRef",
    "RTASGenerator",
    "RunCommands",
    "ShipFiles",
    "StepFailure",
    "TaskAction",
    "TaskDict",
    "TaskRef",
    "doit_task_generator_for_RTAS",
    "gen_task_fetch_files",
    "gen_task_local_exec",
    "gen_task_remote_exec",
    "gen_task_ship_files",
    "get_ref_name",
    "host_dir",
    "host_token",
    "safe_name",
    "step_error",
    "task_meta",
]
