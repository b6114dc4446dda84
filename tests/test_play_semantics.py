"""Issue 10 through the CLI without the lab: hosts with `ansible_connection=local` (their work
dirs under the test's own HOME)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOOK = """\
- name: work
  hosts: all
  local_after:
    - name: report
      run: echo "$RORUNNER_HOSTS_OK|$RORUNNER_HOSTS_FAILED" >> after.log
  rtas:
    - name: u
      ship:
        - src: "{{ inventory_hostname }}.txt"
          dest: "{{ inventory_hostname }}.txt"
      remote:
        - cat "$RORUNNER_HOST.txt"
        - test ! -e "$RORUNNER_PLAYBOOK_DIR/fail-$RORUNNER_HOST"
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(BOOK)
    (project / "hosts.ini").write_text("a ansible_connection=local\nb ansible_connection=local\n")
    for host in ("a", "b"):
        (project / f"{host}.txt").write_text(f"{host}\n")
    return project


def _play(project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "rorunner", "play", "site.yml", "-i", "hosts.ini", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=project, timeout=120)


def test_a_local_host_runs_its_steps_in_its_work_dir_under_home(tmp_path: Path) -> None:
    """A step behind another one of the same work dir enters it relative to the login home,
    not to the controller's current directory."""
    project = _project(tmp_path)
    done = _play(project)
    assert done.returncode == 0, done.stdout + done.stderr
    work = Path(os.environ["HOME"]) / ".rorunner" / "work" / "01-work"
    assert (work / "a.txt").read_text() == "a\n"


def test_local_after_runs_again_only_after_a_host_step_ran(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert _play(project).returncode == 0
    assert _play(project).returncode == 0
    assert (project / "after.log").read_text() == "a b|\n"  # the unchanged run: not again

    (project / "fail-b").write_text("")
    (project / "b.txt").write_text("b2\n")
    dry = _play(project, "--dry-run")
    assert (
        "would run  01-work > play > local_after > report (a host step of play 01-work would"
        in (dry.stdout)
    )
    failed = _play(project)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert (project / "after.log").read_text().splitlines()[-1] == "a|b"

    (project / "fail-b").unlink()
    fixed = _play(project)  # b's failed step runs again: so does the report
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (project / "after.log").read_text().splitlines() == ["a b|", "a|b", "a b|"]
