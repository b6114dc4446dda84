"""The `rorunner` process runs no cyclic collection before `play` has planned: imports and
planning make long-lived objects and next to no cyclic garbage. Planning's objects are then
frozen and the collector turned back on for the run; every other command keeps it on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Runs `rorunner ARGS` through the entry point, noting from there on each collection that
# starts and the moment planning froze its objects; then what it noted and whether the
# collector is on.
PROBE = """\
import gc, sys
from rorunner.__main__ import main
noted = []
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
    lines = dict(line.partition(" ")[::2] for line in done.stdout.splitlines()[-3:])
    assert set(lines) == {"EXIT", "NOTED", "ENABLED"}, done.stdout + done.stderr
    return lines


def test_play_collects_nothing_before_planning_froze_its_objects(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text("h1 ansible_connection=local\n")
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  remote_dir: d\n  rtas:\n    - name: s\n      remote: [hostname]\n"
    )
    out = _probe(tmp_path, "play", "site.yml", "-i", "hosts.ini", "--dry-run")
    assert out["EXIT"] == "0"
    noted = out["NOTED"].split()
    assert noted[:1] == ["frozen"], noted  # frozen before the first collection, once
    assert noted.count("frozen") == 1
    assert out["ENABLED"] == "True"


def test_other_commands_collect_as_usual() -> None:
    out = _probe(REPO, "inventory", "-i", "inventories/example.ini", "--list")
    assert out["EXIT"] == "0"
    assert "collect" in out["NOTED"].split()  # importing the command alone makes garbage
    assert "frozen" not in out["NOTED"].split()
    assert out["ENABLED"] == "True"
