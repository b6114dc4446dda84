"""Lowering: a Plan becomes doit task dicts, each built by the public task generators.

One plan step is one doit task, named `<host>:<play>.<role>.<phase>.<step>`
(every part made doit-safe; a clash after that gets a short stable hash).
Ordering comes from Plan.predecessors as task_dep. Whether a step is up to
date is not decided here: its plan signature (which already folds in its
inputs and its predecessors' signatures) and the files it reads that a local
step makes during the run (`watched`) are what the engine's doit adapter checks.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rorunner.engine._check import StepCheck
from rorunner.model import FileMove, PlanStep
from rorunner.tasks import (
    gen_task_fetch_files,
    gen_task_local_exec,
    gen_task_remote_exec,
    gen_task_ship_files,
    safe_name,
)

if TYPE_CHECKING:
    from rorunner.plan import Plan

_USES_DIR = ("ship", "remote")
# Remote role scripts land under the remote work dir; a small text script travels inside
# the command that runs it, well under Linux's 128 KiB limit for one argument.
SCRIPTS_DIR = ".rorunner-scripts"
INLINE_SCRIPT_MAX = 64 * 1024


@dataclass(frozen=True)
class LoweredTask:
    """A plan step with the full doit name and the task dict built for it."""

    name: str
    step: PlanStep
    task: dict[str, Any]
    shared_files: tuple[str, ...] = ()  # local files other hosts' steps also write: lock them
    # Local files this step reads that a local step of this run makes (absent at plan time,
    # so outside the signature): the step is out of date when their content changes.
    watched: tuple[str, ...] = ()

    @property
    def check(self) -> StepCheck:
        """The step's up-to-date check: its signature and watched files."""
        return StepCheck(self.step.signature, self.watched)


def task_names(steps: Sequence[PlanStep]) -> dict[tuple[str, ...], str]:
    """Stable, readable, doit-safe full task names by plan node."""
    names: dict[tuple[str, ...], str] = {}
    taken: dict[str, tuple[str, ...]] = {}
    for step in steps:
        name = _plain_name(step)
        if name in taken:
            digest = hashlib.sha1("\0".join(step.node).encode()).hexdigest()[:8]  # noqa: S324
            name = f"{name}-{digest}"
        taken[name] = step.node
        names[step.node] = name
    return names


def _plain_name(step: PlanStep) -> str:
    parts = (step.play, step.role, step.phase, step.name)
    return f"{safe_name(step.host)}:{'.'.join(safe_name(p) for p in parts)}"


def lower(
    plan: Plan,
    *,
    project_dir: str,
    log_dir: str | None = None,
) -> tuple[LoweredTask, ...]:
    """Every plan step as a doit task dict, in plan order."""
    names = task_names(plan.steps)
    made = {path for step in plan.steps for path in step.spec.creates}
    lowered = []
    for step in plan.steps:
        name = names[step.node]
        deps = [names[p.node] for p in plan.predecessors(step)]
        task = _build(step, name, project_dir, log_dir, _dir_ready(plan, step))
        task["task_dep"] = sorted(set(task.get("task_dep", [])) | set(deps))
        # The signature already covers every file that exists at plan time; only the
        # ones a local step makes later need watching (no digest of big files).
        watched = tuple(path for path in task.pop("file_dep", ()) if path in made)
        lowered.append(LoweredTask(name, step, task, watched=watched))
    return _without_shared_targets(lowered)


def _without_shared_targets(lowered: list[LoweredTask]) -> tuple[LoweredTask, ...]:
    """Drop targets that several tasks declare (one local_pre per host making the same file).

    doit refuses a target with two creators; ordering does not need it (the
    plan's edges already put the creator first), only the "missing target
    means not up to date" check does, which a unique target keeps. Steps that
    write or ship such a file get it in `shared_files`, so that the engine
    never lets one host's step ship it while another host's step rewrites it.
    """
    seen = Counter(t for lt in lowered for t in lt.task.get("targets", ()))
    shared = {t for t, n in seen.items() if n > 1}
    out = []
    for lt in lowered:
        targets = lt.task.get("targets")
        if targets and shared.intersection(targets):
            lt.task["targets"] = [t for t in targets if t not in shared]
        touched = {*lt.step.spec.creates, *(m.src for m in lt.step.spec.files)}
        out.append(replace(lt, shared_files=tuple(sorted(shared & touched))))
    return tuple(out)


def _dir_ready(plan: Plan, step: PlanStep) -> bool:
    """Whether a step ordered before this one on the same host already prepared its work dir."""
    return any(
        p.host == step.host
        and p.remote_dir == step.remote_dir
        and p.spec.kind in ("ship", "remote")
        for p in plan.predecessors(step)
    )


def _build(
    step: PlanStep, full: str, project_dir: str, log_dir: str | None, dir_ready: bool
) -> dict[str, Any]:
    label, name = full.split(":", 1)
    common: dict[str, Any] = {"name": name, "meta": {"node": list(step.node)}}
    kind = step.spec.kind
    if kind == "local":
        return _local(step, label, project_dir, log_dir, common)
    if kind == "ship":
        return gen_task_ship_files(
            [], step.conn, label, remote_dir=step.remote_dir, moves=step.spec.files, **common
        )
    if kind == "fetch":
        return gen_task_fetch_files(
            [],
            step.conn,
            label,
            remote_dir=step.remote_dir,
            moves=tuple(_under_fetch_dir(m, step.fetch_dir) for m in step.spec.files),
            dest_root=step.fetch_dir,
            **common,
        )
    return _remote(step, label, log_dir, dir_ready, common)


def _under_fetch_dir(move: FileMove, fetch_dir: str) -> FileMove:
    # The plan gives absolute local paths under fetch_dir; the generator wants them relative.
    if not os.path.isabs(move.dest):
        return move
    return FileMove(move.src, os.path.relpath(move.dest, fetch_dir), move.mode, move.content)


def _local(
    step: PlanStep, label: str, project_dir: str, log_dir: str | None, common: dict[str, Any]
) -> dict[str, Any]:
    spec = step.spec
    command, args = (spec.command, []) if spec.command else ('exec "$1"', [spec.script or ""])
    return gen_task_local_exec(
        command,
        [],
        args,
        label=label,
        env=dict(step.env),
        cwd=project_dir,
        timeout=spec.timeout,
        targets=spec.creates,
        log_dir=log_dir,
        **common,
    )


def _remote(
    step: PlanStep, label: str, log_dir: str | None, dir_ready: bool, common: dict[str, Any]
) -> dict[str, Any]:
    spec = step.spec
    inline = None if spec.command or not spec.script else _script_in_command(step, spec.script)
    command = spec.command or inline or _script_command(step)
    if dir_ready:
        # The generator checks (and if need be creates) the work dir before every
        # command, one extra SSH round trip per step; a step behind a ship or remote
        # step of the same host and dir only needs to enter it.
        command = f"cd {shlex.quote(step.remote_dir)} || exit 1\n{command}"
    run = gen_task_remote_exec(
        command,
        step.conn,
        label=label,
        is_dep_task=True,
        remote_dir=None if dir_ready else step.remote_dir,
        env=dict(step.env),
        timeout=spec.timeout,
        log_dir=log_dir,
        **common,
    )
    if spec.command or not spec.script or inline:
        return run
    # A big or binary role script is shipped by SFTP, then run, by the same task.
    ship = gen_task_ship_files(
        [],
        step.conn,
        label,
        remote_dir=step.remote_dir,
        moves=(FileMove(spec.script, _script_dest(step), mode=0o700),),
        **common,
    )
    run["actions"] = [*ship["actions"], *run["actions"]]
    run["file_dep"] = sorted({*run.get("file_dep", ()), *ship.get("file_dep", ())})
    return run


def _script_in_command(step: PlanStep, script: str) -> str | None:
    """Ship a small text script inside the command that runs it (no SFTP round trips).

    It is written under a temporary name and renamed into place, then run, as a
    shipped script would be. None when it is too big for one command line, not
    UTF-8 text, or contains the here-document delimiter.
    """
    data = Path(script).read_bytes()
    if len(data) > INLINE_SCRIPT_MAX or b"\0" in data:
        return None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    delimiter = "RORUNNER_SCRIPT_" + hashlib.sha256(data).hexdigest()[:16]
    if delimiter in text:
        return None
    dest = _script_dest(step)
    body = text if text.endswith("\n") else text + "\n"
    q_dest, q_tmp = shlex.quote(dest), shlex.quote(dest + ".tmp")
    return (
        f"mkdir -p {shlex.quote(posixpath.dirname(dest))} && umask 077 && "
        f"cat > {q_tmp} <<'{delimiter}'\n{body}{delimiter}\n"
        f"chmod 700 {q_tmp} && mv -f {q_tmp} {q_dest} && exec ./{q_dest}"
    )


def _script_dest(step: PlanStep) -> str:
    return f"{SCRIPTS_DIR}/{safe_name(step.play)}/{safe_name(step.role)}/{safe_name(step.name)}"


def _script_command(step: PlanStep) -> str:
    return f"exec ./{shlex.quote(_script_dest(step))}"
