"""The `rorunner` process runs no cyclic collection before `play` has planned: imports and
planning make long-lived objects and next to no cyclic garbage. Planning's objects are then
frozen and the collector turned back on for the run, young collections coming 10x less
often from its first step on; every other command keeps the collector as it is. A library
caller's collector is left alone."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rorunner.engine import EngineOptions, run_plan
from rorunner.engine._run import YOUNG_COLLECTION
from tests.engine_fakes import PlanMaker

REPO = Path(__file__).resolve().parents[1]
DEFAULT_YOUNG = 700  # Python's
# Runs `rorunner ARGS` through the entry point, noting from there on each collection that
# starts, each freeze and when the steps start (doit is given the tasks: with the young
# collections' threshold then); then what it
# noted, whether the collector is on and its young collections' threshold.
PROBE = """\
import gc, sys
from rorunner.__main__ import main
noted = []
def steps_start(run_tasks):
    def noting(*args, **kwargs):
        noted.append(f"steps@{gc.get_threshold()[0]}")
        return run_tasks(*args, **kwargs)
    return noting
if "--dry-run" not in sys.argv:
    from rorunner.engine import _run
    _run.run_tasks = steps_start(_run.run_tasks)
gc.callbacks.append(lambda phase, info: phase == "start" and noted.append("collect"))
freeze = gc.freeze
def frozen():
    noted.append("frozen")
    freeze()
gc.freeze = frozen
try:
    main(sys.argv[1:])
except SystemExit as exc:
    print("EXIT", exc.code)
print("NOTED", " ".join(noted))
print("ENABLED", gc.isenabled())
print("YOUNG", gc.get_threshold()[0])
"""


def _probe(cwd: Path, *args: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        timeout=60,
        check=False,
    )
    lines = dict(line.partition(" ")[::2] for line in done.stdout.splitlines()[-4:])
    assert set(lines) == {"EXIT", "NOTED", "ENABLED", "YOUNG"}, done.stdout + done.stderr
    return lines


def _project(root: Path) -> Path:
    (root / "hosts.ini").write_text("h1 ansible_connection=local\n")
    (root / "site.yml").write_text(
        f"- hosts: all\n  remote_dir: {root / 'd'}\n  rtas:\n"
        "    - name: s\n      remote: [hostname > name]\n"
    )
    return root


def test_play_collects_nothing_before_planning_froze_its_objects(tmp_path: Path) -> None:
    out = _probe(_project(tmp_path), "play", "site.yml", "-i", "hosts.ini", "--dry-run")
    assert out["EXIT"] == "0"
    noted = out["NOTED"].split()
    assert noted[:1] == ["frozen"], noted  # frozen before the first collection, once
    assert noted.count("frozen") == 1
    assert out["ENABLED"] == "True"
    assert out["YOUNG"] == str(DEFAULT_YOUNG)


def test_other_commands_collect_as_usual() -> None:
    out = _probe(REPO, "inventory", "-i", "inventories/example.ini", "--list")
    assert out["EXIT"] == "0"
    assert "collect" in out["NOTED"].split()  # importing the command alone makes garbage
    assert "frozen" not in out["NOTED"].split()
    assert out["ENABLED"] == "True"
    assert out["YOUNG"] == str(DEFAULT_YOUNG)


def test_a_run_collects_young_objects_less_often_from_its_first_step(tmp_path: Path) -> None:
    out = _probe(_project(tmp_path), "play", "site.yml", "-i", "hosts.ini")
    assert out["EXIT"] == "0"
    noted = out["NOTED"].split()
    assert noted[0] == "frozen" and noted.count("frozen") == 1, noted  # planning's alone
    assert f"steps@{YOUNG_COLLECTION}" in noted, noted
    assert out["ENABLED"] == "True"
    assert out["YOUNG"] == str(YOUNG_COLLECTION) != str(DEFAULT_YOUNG)
    assert (tmp_path / "d" / "name").is_file()  # the step ran


def test_run_plan_leaves_a_library_callers_collector_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(f"threshold {t}"))
    plan = PlanMaker(tmp_path).add("local_pre", "a", command="true").build()
    result = run_plan(plan, EngineOptions(tmp_path))  # type: ignore[arg-type]
    assert result.exit_code == 0 and calls == []
    owned = EngineOptions(tmp_path, force=True, owns_process=True)
    assert run_plan(plan, owned).exit_code == 0  # type: ignore[arg-type]
    _, *older = gc.get_threshold()
    assert calls == [f"threshold {(YOUNG_COLLECTION, *older)}"]
