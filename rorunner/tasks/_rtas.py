"""The seed's higher-order "remote-task" template: one RTAS of five batches for one host."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rorunner.model import Phase
from rorunner.tasks._build import TaskDict, as_list
from rorunner.tasks._generators import (
    CommandSource,
    LocalStep,
    gen_task_fetch_files,
    gen_task_local_exec,
    gen_task_remote_exec,
    gen_task_ship_files,
)
from rorunner.tasks._hosts import HostRef, resolve_host
from rorunner.tasks._names import TaskRef, join_name


class RTASGenerator:
    """Callable returned by doit_task_generator_for_RTAS; iterate it to get the batch tasks.

    `final_task` is None until the first task is yielded, then the latest one
    (a copy, so get_ref_name works even after doit has consumed the dict); it
    is the RTAS's last task once the iteration is exhausted.
    """

    def __init__(
        self,
        rt_tag: str,
        ipv6: HostRef,
        id_args: Sequence[object],
        remote_work_dir: str,
        options: Mapping[str, Any],
    ) -> None:
        self.rt_tag = rt_tag
        self.ipv6 = ipv6
        self.id_args = tuple(as_list(id_args))
        self.remote_work_dir = remote_work_dir
        self.options = dict(options)
        self.final_task: TaskDict | None = None

    def __call__(
        self,
        local_steps_pre: LocalStep | Sequence[LocalStep] | None = None,
        to_ship_files: Sequence[str] | None = None,
        remote_steps: CommandSource | None = None,
        from_ship_files: Sequence[str] | None = None,
        local_steps_post: LocalStep | Sequence[LocalStep] | None = None,
    ) -> Iterator[TaskDict]:
        """Yield one task per non-empty batch; each depends on the previous batch's task."""
        if not any(
            (local_steps_pre, to_ship_files, remote_steps, from_ship_files, local_steps_post)
        ):
            raise ValueError(f"RTAS {self.rt_tag!r}: every batch is empty")
        self.final_task = None
        previous: list[TaskRef] = list(self.options.get("deps", ()))
        batches = (
            ("local_pre", local_steps_pre),
            ("ship", to_ship_files),
            ("remote", remote_steps),
            ("fetch", from_ship_files),
            ("local_post", local_steps_post),
        )
        for phase, steps in batches:
            if not steps:
                continue
            task = self._batch(phase, steps, previous)  # type: ignore[arg-type]
            self.final_task = dict(task)
            previous = [self.final_task]
            yield task

    def _batch(self, phase: Phase, steps: Any, deps: list[TaskRef]) -> TaskDict:
        label = f"{self.rt_tag}.{phase}"
        common: dict[str, Any] = {
            "uptodate": self.options.get("uptodate"),
            "meta": {**self.options.get("meta", {}), "phase": phase},
        }
        if phase == "ship":
            return gen_task_ship_files(
                steps, self.ipv6, label, self.id_args, self.remote_work_dir, True, deps, **common
            )
        if phase == "fetch":
            local_dir = self.options.get("local_dir", "fetched")
            return gen_task_fetch_files(
                steps, self.ipv6, label, self.id_args, self.remote_work_dir, local_dir, True, deps,
                **common,
            )  # fmt: skip
        if phase == "remote":
            return gen_task_remote_exec(
                steps, self.ipv6, self.id_args, self.id_args, label, True, deps,
                remote_dir=self.remote_work_dir, env=self.options.get("env"),
                timeout=self.options.get("timeout"), log_dir=self.options.get("log_dir"), **common,
            )  # fmt: skip
        return self._local_batch(label, steps, deps, common)

    def _local_batch(
        self,
        label: str,
        steps: LocalStep | Sequence[LocalStep],
        deps: list[TaskRef],
        common: dict[str, Any],
    ) -> TaskDict:
        """One task whose actions call every local step in order, as step(address, *id_args)."""
        target = resolve_host(self.ipv6)
        items = [steps] if isinstance(steps, str) or callable(steps) else list(steps)
        name = join_name([target.token, *self.id_args])
        built = []
        for item in items:
            shell: dict[str, Any] = {}
            if isinstance(item, str):
                shell = {k: self.options.get(k) for k in ("env", "timeout", "log_dir")}
            built.append(
                gen_task_local_exec(
                    item, [target.address, *self.id_args], [], True, deps, label,
                    name=name, **shell, **common,
                )
            )  # fmt: skip
        task = built[0]
        task["actions"] = [action for each in built for action in each["actions"]]
        return task


def doit_task_generator_for_RTAS(
    rt_tag: str,
    ipv6: HostRef,
    id_args: Sequence[object],
    remote_work_dir: str = "/tmp",
    *,
    local_dir: str = "fetched",
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    uptodate: Sequence[object] | None = None,
    log_dir: str | None = None,
    deps: Sequence[TaskRef] = (),
    meta: Mapping[str, Any] | None = None,
) -> RTASGenerator:
    """Return the RTAS task generator (local_pre, ship, remote, fetch, local_post) of one host."""
    options: dict[str, Any] = {
        "local_dir": local_dir,
        "deps": tuple(as_list(deps)),
        "meta": dict(meta or {}),
    }
    options.update(env=env, timeout=timeout, uptodate=uptodate, log_dir=log_dir)
    return RTASGenerator(rt_tag, ipv6, id_args, remote_work_dir, options)
