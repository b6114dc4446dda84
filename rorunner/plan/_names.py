"""Task names: the one name of each plan node, checked unique here, that doit runs it under
and the graph, the run records and the dashboard show."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from rorunner.errors import InputError
from rorunner.model import Barrier, PlanNode, PlanStep

_UNSAFE = re.compile(r"[=*?\[\]%\s/\\\"'#]")


@functools.lru_cache(maxsize=1 << 16)
def safe_part(part: str) -> str:
    """One part of a task name, with the characters task names cannot hold replaced."""
    return _UNSAFE.sub("_", part)


def task_name(node: PlanNode) -> str:
    """<host>/<play>/<role>/<phase>/<step> for a step, <play>/barrier/<name> for a barrier
    (three parts: never a step's name); no part holds a '/'."""
    if isinstance(node, Barrier):
        return f"{safe_part(node.play)}/barrier/{node.name}"
    parts = (node.host, node.play, node.role, node.phase, node.name)
    return "/".join([safe_part(part) for part in parts])


def check_task_names(
    hosts: Iterable[str], tails: Iterable[tuple[str, ...]], steps: Iterable[PlanStep]
) -> None:
    """Refuse two steps that share a task name (an InputError naming both).

    Names can clash only when two hosts, or two (play, role, phase, step) tails, differ only
    in characters task names replace: only then is every step's name made and compared.
    """
    if not _names_may_clash(hosts, tails):
        return
    names: dict[str, PlanStep] = {}
    for step in steps:
        name = task_name(step)
        other = names.setdefault(name, step)
        if other is not step:
            raise InputError(f"steps {other.node} and {step.node} share the task name {name!r}")


def _names_may_clash(hosts: Iterable[str], tails: Iterable[tuple[str, ...]]) -> bool:
    for parts in (((host,) for host in hosts), tails):
        seen: dict[tuple[str, ...], tuple[str, ...]] = {}
        for part in parts:
            safe = tuple(safe_part(p) for p in part)
            if seen.setdefault(safe, part) != part:
                return True
    return False
