"""serial batches and max_fail_percentage per play, as Ansible computes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rorunner.engine._state import PlayLimits

if TYPE_CHECKING:
    from rorunner.plan import Plan


def play_limits(plan: Plan) -> dict[str, PlayLimits]:
    """PlayLimits for every play of the plan, by play id."""
    limits = {}
    for play in plan.plays:
        serial = _serial_values(getattr(play, "serial", ()))
        hosts = tuple(play.hosts)
        limits[play.id] = PlayLimits(
            play=play.id,
            batches=batches(hosts, serial),
            max_fail_percentage=play.max_fail_percentage,
            serial=bool(serial),
        )
    return limits


def _serial_values(serial: Any) -> tuple[int | str, ...]:
    if serial is None:
        return ()
    if isinstance(serial, int | str):
        return (serial,)
    return tuple(serial)


def batches(hosts: Sequence[str], serial: Sequence[int | str]) -> tuple[tuple[str, ...], ...]:
    """Split hosts into serial batches; sizes are counts or "N%", the last one repeats."""
    if not serial:
        return (tuple(hosts),) if hosts else ()
    out: list[tuple[str, ...]] = []
    start, index = 0, 0
    while start < len(hosts):
        size = _batch_size(serial[min(index, len(serial) - 1)], len(hosts))
        out.append(tuple(hosts[start : start + size]))
        start += size
        index += 1
    return tuple(out)


def _batch_size(value: int | str, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        size = int(total * float(value[:-1]) / 100)
    else:
        size = int(value)
    return max(1, min(size, total)) if size > 0 else total
