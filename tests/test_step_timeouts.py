"""Per-step timeouts beyond inline steps: role.yml (`timeout` for every script of the role,
`timeouts` per script) and a play default; the plan and a run through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rorunner.errors import InputError
from rorunner.model import PlanStep
from rorunner.plan import build_plan
from rorunner.playbook import load_playbook
from tests.lab import Lab
from tests.play_project import remote_dir_for
from tests.projects import make_inventory, write_project

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "#!/bin/sh\ntrue\n"


def _timeouts(root: Path, files: dict[str, str]) -> dict[tuple[str, str], float | None]:
    write_project(root, files)
    for path in root.rglob("*.sh"):
        path.chmod(0o755)
    plan = build_plan(make_inventory({"web": ["web1"]}), load_playbook(str(root / "site.yml")))
    steps: tuple[PlanStep, ...] = plan.steps
    return {(s.role, s.name): s.spec.timeout for s in steps if s.spec.kind in ("local", "remote")}


def test_step_over_role_script_over_role_over_play(tmp_path: Path) -> None:
    got = _timeouts(
        tmp_path,
        {
            "site.yml": (
                "- hosts: web\n  timeout: 90\n  roles: [app, plain]\n  rtas:\n    - name: u\n"
                "      remote:\n        - echo default\n"
                "        - {name: own, run: echo own, timeout: 5}\n"
            ),
            "roles/app/role.yml": "timeout: 60\ntimeouts:\n  20-long.sh: 600\n",
            "roles/app/remote/10-short.sh": SCRIPT,
            "roles/app/remote/20-long.sh": SCRIPT,
            "roles/app/local_pre/10-pre.sh": SCRIPT,
            "roles/plain/remote/10-x.sh": SCRIPT,
        },
    )
    assert got == {
        ("app", "10-short.sh"): 60,
        ("app", "20-long.sh"): 600,
        ("app", "10-pre.sh"): 60,
        ("plain", "10-x.sh"): 90,
        ("u", "01-echo-default"): 90,
        ("u", "own"): 5,
    }


def test_without_any_timeout_steps_have_none(tmp_path: Path) -> None:
    got = _timeouts(
        tmp_path,
        {
            "site.yml": "- hosts: web\n  roles: [app]\n",
            "roles/app/remote/10-a.sh": SCRIPT,
        },
    )
    assert got == {("app", "10-a.sh"): None}


@pytest.mark.parametrize(
    ("role_yml", "site", "message", "file", "line"),
    [
        (
            "timeouts:\n  10-a.sh: 5\n  11-b.sh: 5\n",
            "",
            "'timeouts': unknown key '11-b.sh' (did you mean '10-a.sh'?)",
            "role.yml",
            3,
        ),
        ("timeout: 0\n", "", "'timeout' must be at least 0.001, not 0", "role.yml", 1),
        ("timeout: soon\n", "", "'timeout' must be a number", "role.yml", 1),
        ("timeouts: [10-a.sh]\n", "", "'timeouts' must be a mapping", "role.yml", 1),
        ("timeouts:\n  10-a.sh: x\n", "", "'10-a.sh' must be a number", "role.yml", 2),
        ("", "  timeout: -1\n", "'timeout' must be at least 0.001, not -1", "site.yml", 2),
    ],
)
def test_bad_timeouts_are_input_errors_with_file_and_line(
    tmp_path: Path, role_yml: str, site: str, message: str, file: str, line: int
) -> None:
    files = {
        "site.yml": f"- hosts: web\n{site}  roles: [app]\n",
        "roles/app/remote/10-a.sh": SCRIPT,
    }
    if role_yml:
        files["roles/app/role.yml"] = role_yml
    with pytest.raises(InputError) as caught:
        _timeouts(tmp_path, files)
    err = caught.value
    assert message in str(err)
    assert err.location is not None
    assert (Path(err.location.path).name, err.location.line) == (file, line)


# --- through the CLI -------------------------------------------------------------------------


def test_role_script_and_play_default_timeouts_kill_the_command(lab: Lab, tmp_path: Path) -> None:
    remote_dir = remote_dir_for(tmp_path.name)
    write_project(
        tmp_path,
        {
            "site.yml": (
                f'- hosts: h1\n  remote_dir: "{remote_dir}"\n  roles: [slow]\n'
                f'- hosts: h2\n  remote_dir: "{remote_dir}"\n  timeout: 1\n'
                "  rtas:\n    - name: u\n      remote:\n        - sleep 30\n"
                f'- hosts: h3\n  remote_dir: "{remote_dir}"\n  timeout: 1\n'
                "  rtas:\n    - name: u\n      remote:\n        - {run: sleep 2, timeout: 20}\n"
            ),
            "roles/slow/role.yml": "timeouts:\n  10-slow.sh: 1\n",
            "roles/slow/remote/10-slow.sh": "#!/bin/sh\nsleep 30\n",
        },
    )
    argv = [
        *(sys.executable, "-m", "rorunner", "play", str(tmp_path / "site.yml")),
        *("-i", str(lab.inventory_ini), "--known-hosts", str(lab.known_hosts)),
        *("--private-key", str(lab.client_key)),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert time.monotonic() - started < 25  # neither `sleep 30` ran to its end
    lines = done.stdout.splitlines()
    for host in ("h1", "h2"):
        failed = [i for i, line in enumerate(lines) if line.startswith(f"failed      [{host}]")]
        assert failed, done.stdout
        assert lines[failed[0] + 1].startswith("    command timed out after 1s"), done.stdout
    assert any(line.startswith("changed") and "[h3]" in line for line in lines), done.stdout
