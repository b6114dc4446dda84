"""doit driven from code: our task loader, our DB backend, no user doit.cfg."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from doit.cmd_base import TaskLoader2
from doit.cmd_run import Run
from doit.doit_cmd import DoitMain
from doit.loader import generate_tasks
from doit.plugin import PluginDict

from rorunner.engine._db import MissingIsChanged, WriteThroughSqliteDB
from rorunner.errors import RorunnerError

BACKEND = "rorunner-sqlite"
DOIT_SETUP_ERROR = 3


class _Run(Run):  # type: ignore[misc]
    """doit's run command whose only DB backend is ours (no plugin scan)."""

    def get_backends(self) -> dict[str, type]:
        """Our write-through sqlite backend."""
        return {BACKEND: WriteThroughSqliteDB}


class _DoitMain(DoitMain):  # type: ignore[misc]
    """DoitMain offering only `run` (no entry-point scan for plugin commands)."""

    def get_cmds(self) -> PluginDict:
        """The one command."""
        cmds = PluginDict()
        cmds["run"] = _Run
        return cmds


class TaskListLoader(TaskLoader2):  # type: ignore[misc]
    """Hands doit a fixed list of task dicts and a fixed configuration."""

    def __init__(self, tasks: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> None:
        super().__init__()
        self._tasks = tasks
        self._config = config

    def setup(self, opt_values: Mapping[str, Any]) -> None:
        """Nothing to set up: the tasks are already built."""

    def load_doit_config(self) -> dict[str, Any]:
        """The run configuration (backend, forks, reporter...)."""
        return dict(self._config)

    def load_tasks(self, cmd: Any, pos_args: Sequence[str]) -> list[Any]:
        """The doit Task objects."""
        return list(generate_tasks("rorunner", (dict(t) for t in self._tasks)))


def doit_events(**handlers: Callable[..., Any]) -> Any:
    """A doit reporter object whose listed events call `handlers`; others do nothing."""

    class _Events:
        def __getattr__(self, name: str) -> Callable[..., Any]:
            return handlers.get(name, _ignore)

    return _Events()


def _ignore(*args: Any, **kwargs: Any) -> None:
    return None


def run_tasks(
    tasks: Sequence[Mapping[str, Any]],
    *,
    dep_file: str,
    forks: int,
    force: bool,
    events: Any,
) -> int:
    """Run the tasks with the thread runner; return doit's result code."""
    config = {
        "dep_file": dep_file,
        "backend": BACKEND,
        "check_file_uptodate": MissingIsChanged,
        "reporter": events,
        "verbosity": 0,
        "continue": True,
        "always": force,
        "num_process": max(1, forks),
        "par_type": "thread",
    }
    main = _DoitMain(TaskListLoader(tasks, config), config_filenames=())
    # doit reports problems it finds before running anything (exit 3) on stderr;
    # catch them so they surface as our error instead of stray output.
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        code = int(main.run(["run"]))
    if code == DOIT_SETUP_ERROR:
        raise RorunnerError(f"doit refused the lowered plan: {captured.getvalue().strip()}")
    return code


def flat_task(full_name: str, task: Mapping[str, Any]) -> dict[str, Any]:
    """The task under its full name as a plain basename: doit then adds no per-host
    group task, which it would run (and record) on every run."""
    flat = {k: v for k, v in task.items() if k != "name"}
    flat["basename"] = full_name
    return flat


def load_doit_tasks(tasks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """doit Task objects by name (for the dry run, which executes nothing)."""
    return {t.name: t for t in generate_tasks("rorunner", (dict(t) for t in tasks))}
