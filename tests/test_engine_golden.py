"""Golden files for the lowered doit task names and task_dep of the fixed golden project;
the name doit runs a node under is the plan's task name and the graph's node id.

Regenerate after an intended change with:
RORUNNER_UPDATE_GOLDEN=1 pytest tests/test_engine_golden.py
"""

from __future__ import annotations

import json
import re

import pytest

from rorunner.engine._lower import LoweredBarrier, lower_plan
from rorunner.model import Inventory
from tests.projects import check_golden as check
from tests.projects import golden_inventory, golden_plan, make_inventory

DOIT_UNSAFE = re.compile(r"[=*?\[\]\s]")


def lowered_listing(inventory: Inventory) -> str:
    plan = golden_plan(inventory)
    lines = []
    for node in lower_plan(plan, project_dir="/project").nodes:
        if isinstance(node, LoweredBarrier):
            kind, deps = "barrier", ", ".join(node.task["task_dep"])
        else:
            kind = "always" if node.step.spec.always else "signature"
            deps = ", ".join(node.task["task_dep"]) or "-"
        lines.append(f"{node.name}  [{kind}]  after: {deps}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("golden", "inventory"),
    [
        ("lowered_names.txt", golden_inventory()),
        ("lowered_ipv6_names.txt", make_inventory({"web": ["2001:db8::10", "web2"], "db": ["a"]})),
    ],
)
def test_lowered_task_names_match_golden(golden: str, inventory: Inventory) -> None:
    text = lowered_listing(inventory)
    check(golden, text)
    for line in text.splitlines():
        name = line.split("  ", 1)[0]
        parts = name.split("/")
        assert not DOIT_UNSAFE.search(name) and all(parts)
        assert len(parts) == 5 or (len(parts) == 3 and parts[1] == "barrier")


def test_doit_the_graph_and_the_plan_share_one_task_name() -> None:
    plan = golden_plan(golden_inventory())
    lowered = lower_plan(plan, project_dir="/project").nodes
    graph = json.loads(plan.render("json"))
    names = [plan.task_name(node) for node in plan.nodes]
    assert [node.name for node in lowered] == names == [node["id"] for node in graph["nodes"]]
    assert len(set(names)) == len(names)
