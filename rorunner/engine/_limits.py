"""Per-play failure limits for the run state, from the plan's plays."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rorunner.engine._state import PlayLimits

if TYPE_CHECKING:
    from rorunner.plan import Plan


def play_limits(plan: Plan) -> dict[str, PlayLimits]:
    """PlayLimits for every play of the plan (batches as the planner computed them), by id."""
    return {
        play.id: PlayLimits(
            play=play.id,
            batches=tuple(play.batches),
            max_fail_percentage=play.max_fail_percentage,
            serial=bool(play.serial),
        )
        for play in plan.plays
    }
