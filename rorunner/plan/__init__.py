"""The planner: one validated graph of every step of every host (networkx only on request)."""

from rorunner.model import ConnectionDefaults
from rorunner.plan._build import PlayInfo, batches
from rorunner.plan._inputs import Inputs, changed_inputs
from rorunner.plan._listing import listing
from rorunner.plan._names import task_name
from rorunner.plan._plan import Plan, build_plan
from rorunner.plan._render import barrier_label
from rorunner.plan._select import Selection, split_tags

__all__ = [
    "ConnectionDefaults",
    "Inputs",
    "Plan",
    "PlayInfo",
    "Selection",
    "barrier_label",
    "batches",
    "build_plan",
    "changed_inputs",
    "listing",
    "split_tags",
    "task_name",
]
