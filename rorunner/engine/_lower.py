"""Lowering: a Plan becomes doit task dicts, each built by the public task generators.

One plan node is one doit task, named by the plan's `task_name` (the plan has checked
those names unique): a step `<host>/<play>/<role>/<phase>/<step>`, a barrier
`<play>/barrier/<start|batch-N>`, a task with no action, always up to date.
Ordering comes from the plan's predecessors as task_dep. Whether a step is up to
date is not decided here: its plan signature (which already folds in its
inputs and its predecessors' signatures) and the files it reads that a local
step makes during the run (`watched`) are what the engine's doit adapter checks.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rorunner.engine._check import StepCheck
from rorunner.engine._hostrecord import fold_record, folds
from rorunner.model import CONTROLLER, Barrier, EnvValue, FileMove, PlanNode, PlanStep
from rorunner.plan import barrier_label, task_name
from rorunner.tasks import (
    EnvPairs,
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


class LoweredTask:
    """A plan step with its full doit name and the names of the tasks it waits for; its task
    dict (built by the public task generators) is made on first use, so a dry run that needs
    no task pays for none."""

    __slots__ = (
        "_task",
        "_watched",
        "deps",
        "dir_ready",
        "invalidates",
        "lowering",
        "name",
        "shared_files",
        "step",
    )

    def __init__(
        self,
        name: str,
        step: PlanStep,
        deps: Sequence[str],
        dir_ready: bool,
        lowering: _Lowering,
        shared_files: tuple[str, ...] = (),
        invalidates: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.step = step
        self.deps = tuple(deps)
        self.dir_ready = dir_ready
        self.lowering = lowering
        self.shared_files = shared_files  # local files other hosts' steps also write: lock them
        # Steps that must run again once this one runs (issue 10): its play's local_after,
        # and for a ship step of secret files the step that removes them after the play.
        self.invalidates = invalidates
        self._task: dict[str, Any] | None = None
        self._watched: tuple[str, ...] = ()

    @property
    def task(self) -> dict[str, Any]:
        """The doit task dict of the step."""
        if self._task is None:
            self._task, self._watched = self.lowering.task(self)
        return self._task

    @property
    def watched(self) -> tuple[str, ...]:
        """Local files this step reads that a local step of this run makes (absent at plan
        time, so outside the signature): the step is out of date when their content changes."""
        self.task  # noqa: B018 - made with the task
        return self._watched

    @property
    def log_stem(self) -> str:
        """Its log files are `<log_dir>/<log_stem>.stdout` and `.stderr`."""
        return ".".join(_generator_names(self.step))

    @property
    def check(self) -> StepCheck:
        """The step's up-to-date check: its signature and watched files (and its inputs one
        by one, for a success to save and a dry run to compare)."""
        lowering = self.lowering
        inputs = functools.partial(
            lowering.plan.inputs, self.step, lowering.project_dir, lowering.made
        )
        return StepCheck(self.step.signature, self.watched, inputs)


@dataclass(frozen=True)
class LoweredBarrier:
    """A plan barrier as a doit task: no action, always up to date, after every task it
    waits for; the steps after it name it in their task_dep."""

    name: str
    barrier: Barrier
    deps: tuple[str, ...]

    @property
    def task(self) -> dict[str, Any]:
        """The doit task dict."""
        return {
            "basename": self.name,
            "actions": [],
            "task_dep": list(self.deps),
            "uptodate": [True],
            "doc": barrier_label(self.barrier),
            "verbosity": 0,
        }


@dataclass(frozen=True)
class Lowered:
    """A plan as doit tasks: its nodes in plan order, and its steps and barriers apart."""

    nodes: tuple[LoweredTask | LoweredBarrier, ...]

    @property
    def steps(self) -> tuple[LoweredTask, ...]:
        """The steps' tasks, in plan order."""
        return tuple(n for n in self.nodes if isinstance(n, LoweredTask))

    @property
    def barriers(self) -> tuple[LoweredBarrier, ...]:
        """The barriers' tasks, in plan order."""
        return tuple(n for n in self.nodes if isinstance(n, LoweredBarrier))


def lower(
    plan: Plan,
    *,
    project_dir: str,
    log_dir: str | None = None,
) -> tuple[LoweredTask, ...]:
    """Every plan step as a doit task, in plan order."""
    return lower_plan(plan, project_dir=project_dir, log_dir=log_dir).steps


def lower_plan(plan: Plan, *, project_dir: str, log_dir: str | None = None) -> Lowered:
    """Every plan node (steps and barriers) as a doit task, in plan order."""
    names = [task_name(node) for node in plan.nodes]
    made = frozenset(path for step in plan.steps for path in step.spec.creates)
    lowering = _Lowering(plan, project_dir, log_dir, _shared_targets(plan.steps), made)
    afters = _local_afters(plan.nodes, names)
    cleanups = _cleanups(plan.nodes, names)
    last_of: dict[str, PlanStep] = {}  # each host's latest step so far
    out: list[LoweredTask | LoweredBarrier] = []
    for index, (node, preds) in enumerate(plan.ordered()):
        deps = [names[p] for p in preds]
        if isinstance(node, Barrier):
            out.append(LoweredBarrier(names[index], node, tuple(deps)))
            continue
        ready = False
        if node.spec.kind == "remote":  # only a remote step may skip preparing its dir
            before = [plan.nodes[p] for p in preds]
            ready = _dir_ready(node, before, last_of.get(node.host))
        touched: tuple[str, ...] = ()
        if lowering.shared:
            files = (*node.spec.creates, *(m.src for m in node.spec.files))
            touched = tuple(sorted(lowering.shared.intersection(files)))
        invalidates = afters.get(node.play, ()) if node.host != CONTROLLER else ()
        if node.spec.kind == "ship" and any(move.secret for move in node.spec.files):
            invalidates = (*invalidates, *cleanups.get((node.host, node.play), ()))
        out.append(LoweredTask(names[index], node, deps, ready, lowering, touched, invalidates))
        last_of[node.host] = node
    return Lowered(tuple(out))


def _local_afters(nodes: Sequence[PlanNode], names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The task names of each play's local_after steps, by play id."""
    afters: dict[str, tuple[str, ...]] = {}
    for node, name in zip(nodes, names, strict=True):
        if isinstance(node, PlanStep) and node.phase == "local_after":
            afters[node.play] = (*afters.get(node.play, ()), name)
    return afters


def _cleanups(
    nodes: Sequence[PlanNode], names: Sequence[str]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """The task names of each host's secret-removing steps, by (host, play id)."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for node, name in zip(nodes, names, strict=True):
        if isinstance(node, PlanStep) and node.phase == "cleanup":
            key = (node.host, node.play)
            found[key] = (*found.get(key, ()), name)
    return found


def _shared_targets(steps: Sequence[PlanStep]) -> frozenset[str]:
    """Local files that several steps declare as targets (one local_pre per host making the
    same file, say).

    doit refuses a target with two creators; ordering does not need it (the plan's edges
    already put the creator first), only the "missing target means not up to date" check
    does, which a unique target keeps. Steps that write or ship such a file get it in
    `shared_files`, so that the engine never lets one host's step ship it while another
    host's step rewrites it.
    """
    seen: Counter[str] = Counter()
    for step in steps:
        if step.spec.kind == "local":
            seen.update(step.spec.creates)
        elif step.spec.kind == "fetch":
            seen.update(os.path.normpath(m.dest) for m in step.spec.files)
    return frozenset(target for target, count in seen.items() if count > 1)


class _Lowering:
    """What every task of one lowering shares: paths, the shared targets, scripts read once."""

    def __init__(
        self,
        plan: Plan,
        project_dir: str,
        log_dir: str | None,
        shared: frozenset[str],
        made: frozenset[str],
    ) -> None:
        self.plan = plan
        self.project_dir = project_dir
        self.log_dir = log_dir
        self.shared = shared
        self.made = made  # local files that local steps of this run make
        self._inline: dict[tuple[str, str], str | None] = {}
        self._env: tuple[object, Mapping[str, EnvValue]] = (None, {})

    def env(self, step: PlanStep) -> Mapping[str, EnvValue]:
        """The step's environment for the generators; the steps of a unit share one."""
        if self._env[0] is not step.env:
            try:
                env: Mapping[str, EnvValue] = EnvPairs(step.env)
            except ValueError:  # a hand-made step whose env is not sorted: the plain way
                env = dict(step.env)
            self._env = (step.env, env)
        return self._env[1]

    def task(self, lowered: LoweredTask) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The task dict of a step and the run-made files it watches."""
        step = lowered.step
        task = _build(step, self, lowered.dir_ready)
        task["task_dep"] = sorted(set(task.get("task_dep", [])) | set(lowered.deps))
        targets = task.get("targets")
        if targets and self.shared.intersection(targets):
            task["targets"] = [t for t in targets if t not in self.shared]
        # The signature already covers every file that exists at plan time; only the ones a
        # local step makes later need watching (no digest of big files).
        watched = tuple(path for path in task.pop("file_dep", ()) if path in self.made)
        return task, watched

    def inline_script(self, step: PlanStep, script: str) -> str | None:
        """The command that carries a small text script (see _script_in_command), made once
        per script and destination for the whole plan."""
        key = (script, _script_dest(step))
        if key not in self._inline:
            self._inline[key] = _script_in_command(key[1], script)
        return self._inline[key]


def _dir_ready(step: PlanStep, before: Sequence[PlanNode], host_last: PlanStep | None) -> bool:
    """Whether a step ordered before this one on the same host, acting as the same user (each
    become user has a work dir of its own), already prepared its work dir (behind a barrier:
    the host's previous step, which the barrier waited for)."""
    candidates = [p for p in before if isinstance(p, PlanStep)]
    if host_last is not None and any(isinstance(p, Barrier) for p in before):
        candidates.append(host_last)
    user = _acting(step)
    return any(
        p.host == step.host
        and p.remote_dir == step.remote_dir
        and p.spec.kind in _USES_DIR
        and _acting(p) == user
        for p in candidates
    )


def _acting(step: PlanStep) -> str | None:
    """The become user a step acts as (None: the login user)."""
    return step.conn.become.user if step.conn.become else None


def _generator_names(step: PlanStep) -> tuple[str, str]:
    """The label and name a step's seed generator gets (the task's name is the engine's):
    `<host>` and `<play>.<role>.<phase>.<step>`, doit-safe; they name its log files."""
    parts = (step.play, step.role, step.phase, step.name)
    return safe_name(step.host), ".".join([safe_name(part) for part in parts])


def _build(step: PlanStep, lowering: _Lowering, dir_ready: bool) -> dict[str, Any]:
    label, name = _generator_names(step)
    common: dict[str, Any] = {"name": name, "meta": {"node": list(step.node)}}
    kind = step.spec.kind
    if kind == "local":
        return _local(step, label, lowering, common)
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
    return _remote(step, label, lowering, dir_ready, common)


def _under_fetch_dir(move: FileMove, fetch_dir: str) -> FileMove:
    # The plan gives absolute local paths under fetch_dir; the generator wants them relative.
    if not os.path.isabs(move.dest):
        return move
    return FileMove(move.src, os.path.relpath(move.dest, fetch_dir), move.mode, move.content)


def _local(
    step: PlanStep, label: str, lowering: _Lowering, common: dict[str, Any]
) -> dict[str, Any]:
    spec = step.spec
    command, args = (spec.command, []) if spec.command else ('exec "$1"', [spec.script or ""])
    return gen_task_local_exec(
        command,
        [],
        args,
        label=label,
        env=lowering.env(step),
        cwd=lowering.project_dir,
        timeout=spec.timeout,
        targets=spec.creates,
        log_dir=lowering.log_dir,
        **common,
    )


def _remote(
    step: PlanStep, label: str, lowering: _Lowering, dir_ready: bool, common: dict[str, Any]
) -> dict[str, Any]:
    spec = step.spec
    inline = None if spec.command or not spec.script else lowering.inline_script(step, spec.script)
    command = spec.command or inline or _script_command(step)
    if folds(step):  # issue 10: the command records its success on the host itself
        command = fold_record(command, task_name(step), step.signature)
    if dir_ready:
        # The generator checks (and if need be creates) the work dir before every
        # command, one extra SSH round trip per step; a step behind a ship or remote
        # step of the same host and dir only needs to enter it.
        command = f"cd {remote_path(step.remote_dir)} || exit 1\n{command}"
    run = gen_task_remote_exec(
        command,
        step.conn,
        label=label,
        is_dep_task=True,
        remote_dir=None if dir_ready else step.remote_dir,
        env=lowering.env(step),
        timeout=spec.timeout,
        log_dir=lowering.log_dir,
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


def remote_path(path: str) -> str:
    """A remote path for a shell command: quoted, a relative one under the login home
    (where every transport puts it, whatever the command's own directory)."""
    return shlex.quote(path) if posixpath.isabs(path) else f'"$HOME"/{shlex.quote(path)}'


def _script_in_command(dest: str, script: str) -> str | None:
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
