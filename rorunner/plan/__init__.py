"""The planner: one validated graph of every step of every host (networkx lives only here)."""

from rorunner.plan._build import ConnectionDefaults, PlayInfo, batches, connection_for
from rorunner.plan._plan import Plan, build_plan
from rorunner.plan._render import task_name

__all__ = [
    "ConnectionDefaults",
    "Plan",
    "PlayInfo",
    "batches",
    "build_plan",
    "connection_for",
    "task_name",
]
