"""Golden files for the plan of the fixed project tests/projects/golden (machine-independent).

Regenerate after an intended change with: RORUNNER_UPDATE_GOLDEN=1 pytest tests/test_plan_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rorunner.model import PlanStep
from rorunner.plan import Plan, task_name
from tests.projects import GOLDEN, GOLDEN_PROJECT, golden_plan
from tests.projects import check_golden as check


@pytest.fixture(scope="module")
def plan() -> Plan:
    return golden_plan()


def _relative(text: str) -> str:
    return text.replace(str(GOLDEN_PROJECT), "<project>")


def _details(step: PlanStep) -> dict[str, Any]:
    spec = step.spec
    return {
        "task": task_name(step),
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
