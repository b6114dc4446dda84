"""Golden files for the lowered doit task names and task_dep of the fixed golden project.

Regenerate after an intended change with:
RORUNNER_UPDATE_GOLDEN=1 pytest tests/test_engine_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from rorunner.engine._lower import LoweredBarrier, lower_plan
from rorunner.model import Inventory
from rorunner.plan import build_plan
from rorunner.playbook import load_playbook
from tests.projects import GOLDEN_PROJECT, golden_inventory, make_inventory

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RORUNNER_UPDATE_GOLDEN") == "1"
DOIT_UNSAFE = re.compile(r"[=*?\[\]\s/]")


def lowered_listing(inventory: Inventory) -> str:
    book = load_playbook(str(GOLDEN_PROJECT / "playbooks" / "site.yml"))
    plan = build_plan(inventory, book)
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
        basename, _, rest = name.partition(":")
        assert not DOIT_UNSAFE.search(name) and basename and rest and ":" not in rest
