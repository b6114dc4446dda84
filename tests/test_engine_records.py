"""The engine writes the run record as the run goes: readable and valid mid-run, complete
at the end (times, exit code, play stops), with the plan graph beside it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rorunner.engine import EngineOptions, run_plan
from rorunner.records import Invocation, RunStore, parse_utc, schema_path
from tests.engine_fakes import PlanMaker, slow_chain


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema.Draft202012Validator(json.loads(schema_path().read_text()))


def _records(root: Path) -> list[Path]:
    runs = root / ".rorunner" / "runs"
    return [p for p in runs.glob("*.json") if not p.name.endswith(".plan.json")]


def test_the_record_follows_the_run_and_validates_mid_run_and_after(
    tmp_path: Path, validator: Any
) -> None:
    plan = slow_chain(tmp_path)
    options = EngineOptions(
        tmp_path,
        invocation=Invocation(
            playbook=str(tmp_path / "site.yml"),
            inventory=("hosts.ini",),
            argv=("rorunner", "play", "site.yml", "-e", "token=s3cr3t"),
            options={"forks": 25, "force": False, "limit": None},
        ),
    )
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(run_plan(plan, options)))  # type: ignore[arg-type]
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "counters" / "a.started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        mid = _wait_for_running(tmp_path, "a/01-play/r/remote/slow")
        validator.validate(mid)
        assert mid["status"] == "running" and mid["exit_code"] is None
        assert mid["hosts"]["a"]["state"] == "running"
        assert mid["argv"][-1] == "token=********"
    finally:
        (tmp_path / "counters" / "release").touch()
        worker.join(timeout=120)
    result = results[0]
    final = json.loads(Path(result.record).read_text())
    validator.validate(final)
    assert final == result.run_record.as_json()
    assert (final["status"], final["exit_code"], final["totals"]["changed"]) == ("finished", 0, 6)
    slow = next(s for s in final["steps"] if s["task"] == "a/01-play/r/remote/slow")
    took = parse_utc(slow["ended_at"]) - parse_utc(slow["started_at"])
    assert took == pytest.approx(slow["duration"], abs=0.002)
    assert took >= 0.05  # it waited for the release
    assert final["plan"] == f"{final['run_id']}.plan.json"
    assert (tmp_path / ".rorunner" / "runs" / final["plan"]).exists()
    assert final["playbook"] == str(tmp_path / "site.yml")
    assert "s3cr3t" not in Path(result.record).read_text()


def _wait_for_running(root: Path, task: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for path in _records(root):
            doc: dict[str, Any] = json.loads(path.read_text())
            if any(s["task"] == task and s["status"] == "running" for s in doc["steps"]):
                return doc
        time.sleep(0.05)
    raise AssertionError(f"no record shows {task} running")


def test_a_stopped_play_and_a_failed_host_are_in_the_record(tmp_path: Path) -> None:
    maker = PlanMaker(
        tmp_path, hosts=("a", "b", "c", "d"), serial=(2,), barrier=True, max_fail_percentage=0
    )
    # a fails only once b's step has started (bounded wait): a step that started before the
    # play stopped finishes; without the wait, a loaded machine may stop the play before b starts
    script = tmp_path / "go.sh"
    script.write_text(
        f'[ "$RORUNNER_HOST" = b ] && touch {tmp_path}/b-started\n'
        f'[ "$RORUNNER_HOST" != a ] && exit 0\n'
        f"for _ in $(seq 300); do [ -e {tmp_path}/b-started ] && break; sleep 0.1; done\n"
        'echo "bad host" >&2; exit 1\n'
    )
    command = f"sh {script}"
    maker.add("remote", "go", command=command)
    result = run_plan(maker.build(), EngineOptions(tmp_path))  # type: ignore[arg-type]
    record = RunStore(tmp_path / ".rorunner").load(result.run_id)
    assert record.exit_code == 2 == result.exit_code
    assert record.plays[0].stop_reason == (
        "play 01-play stopped: 1 of 2 hosts of batch 1 of 2 failed, more than max_fail_percentage 0"
    )
    steps = {s.host: s for s in record.steps}
    assert (steps["a"].status, steps["a"].rc) == ("failed", 1)
    assert steps["a"].stderr is not None and Path(steps["a"].stderr).read_text() == "bad host\n"
    assert steps["a"].command == command
    assert steps["a"].reason == (  # what the screen shows under the step's line
        f"command `{steps['a'].command}` exited with status 1\nstderr:\n| bad host"
    )
    assert result.outcomes[0].reason == steps["a"].reason
    assert (steps["c"].status, steps["c"].started_at) == ("not_run", None)
    assert "max_fail_percentage" in steps["c"].reason
    assert {h.host: h.state for h in record.hosts} == {
        "a": "failed",
        "b": "changed",
        "c": "not_run",
        "d": "not_run",
    }


def test_an_up_to_date_rerun_is_recorded_as_skipped(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, hosts=("a",))
    maker.add("remote", "one", command="true")
    plan = maker.build()
    run_plan(plan, EngineOptions(tmp_path))  # type: ignore[arg-type]
    again = run_plan(plan, EngineOptions(tmp_path))  # type: ignore[arg-type]
    record = RunStore(tmp_path / ".rorunner").load(again.run_id)
    (step,) = record.steps
    assert step.status == "skipped" and step.started_at == step.ended_at
    assert record.hosts[0].state == "ok" and record.exit_code == 0
