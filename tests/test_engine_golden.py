"""Golden files for the lowered doit task names and task_dep of the fixed golden project;
the name doit runs a node under is the plan's task name and the graph's node id.

Regenerate after an intended change with:
RORUNNER_UPDATE_GOLDEN=1 pytest tests/test_engine_golden.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from rorunner.engine._lower import LoweredBarrier, lower_plan
from rorunner.model import Inventory
from rorunner.plan import Plan, build_plan
from rorunner.playbook import load_playbook
from tests.projects import GOLDEN_PROJECT, golden_inventory, make_inventory

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RORUNNER_UPDATE_GOLDEN") == "1"
DOIT_UNSAFE = re.compile(r"[=*?\[\]\s]")


def golden_plan(inventory: Inventory) -> Plan:
    return build_plan(inventory, load_playbook(str(GOLDEN_PROJECT / "playbooks" / "site.yml")))


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


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; set RORUNNER_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} differs from the golden file"


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
