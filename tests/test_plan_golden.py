"""Golden files for the plan of the fixed project tests/projects/golden (machine-independent).

Regenerate after an intended change with: RORUNNER_UPDATE_GOLDEN=1 pytest tests/test_plan_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rorunner.model import PlanStep
from rorunner.plan import Plan, build_plan
from rorunner.playbook import load_playbook
from tests.projects import GOLDEN_PROJECT, golden_inventory

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RORUNNER_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def plan() -> Plan:
    book = load_playbook(str(GOLDEN_PROJECT / "playbooks" / "site.yml"))
    return build_plan(golden_inventory(), book)


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; set RORUNNER_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} differs from the golden file"


def _relative(text: str) -> str:
    return text.replace(str(GOLDEN_PROJECT), "<project>")


def _details(step: PlanStep) -> dict[str, Any]:
    spec = step.spec
    return {
        "task": f"{step.host}/{step.play}/{step.role}/{step.phase}/{step.name}",
        "kind": spec.kind,
        "command": spec.command,
        "script": _relative(spec.script) if spec.script else None,
        "files": [
            {
                "src": _relative(move.src),
                "dest": _relative(move.dest),
                "content": move.content.decode() if move.content is not None else None,
            }
            for move in spec.files
        ],
        "creates": [_relative(path) for path in spec.creates],
        "remote_dir": step.remote_dir,
        "fetch_dir": _relative(step.fetch_dir),
        "env": {key: _relative(value) for key, value in step.env},
    }


def test_plan_json_matches_golden(plan: Plan) -> None:
    check("plan.json", plan.render("json"))


def test_plan_text_matches_golden(plan: Plan) -> None:
    check("plan.txt", plan.render("text"))


def test_plan_dot_matches_golden(plan: Plan) -> None:
    check("plan.dot", plan.render("dot"))


def test_plan_mermaid_matches_golden(plan: Plan) -> None:
    check("plan.mmd", plan.render("mermaid"))


def test_step_details_match_golden(plan: Plan) -> None:
    details = [_details(step) for step in plan.steps]
    check("plan-steps.json", json.dumps(details, indent=2, sort_keys=True) + "\n")


def test_goldens_hold_no_absolute_paths() -> None:
    for path in GOLDEN.glob("plan*"):
        text = path.read_text()
        assert str(GOLDEN_PROJECT) not in text and str(Path.home()) + "/" not in text, path
