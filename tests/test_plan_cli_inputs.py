"""Bad input through `rorunner play` (no lab): `file:line: message`, exit 3, nothing created.

The hosts use `ansible_connection=local`, so a check that let a bad input through would really
run the project here and leave .rorunner/, build/, fetched/ and the remote dir behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inventory_helpers import run_cli
from tests.projects import write_project

REPO = Path(__file__).resolve().parents[1]
SITE = """\
- name: site
  hosts: all
  rtas:
    - name: u
      local_pre:
        - {run: "echo x > build/x.txt", creates: [build/x.txt]}
      ship: [build/x.txt]
      remote: ["cat build/x.txt > got.txt"]
      fetch: [got.txt]
"""
ROLE_SITE = "- name: site\n  hosts: all\n  roles: [r]\n"

# case: (files replacing the good project's, file of the error, line, message fragment)
CASES: dict[str, tuple[dict[str, str], str, int | None, str]] = {
    "inventory: invalid IPv6 address": (
        {"hosts.ini": "[web]\nl1 ansible_connection=local\nl2 ansible_host=2001:db8::g\n"},
        "hosts.ini",
        3,
        "invalid IPv6 address '2001:db8::g'",
    ),
    "inventory: duplicate YAML key": (
        {"hosts.yml": "web:\n  hosts:\n    l1:\n    l1:\n"},
        "hosts.yml",
        4,
        "duplicate key 'l1' (also at ",
    ),
    "playbook: undefined variable in a path": (
        {
            "playbooks/site.yml": SITE.replace(
                "[build/x.txt]\n      remote", "['{{ nope }}']\n      remote"
            )
        },
        "playbooks/site.yml",
        7,
        "'nope' is undefined",
    ),
    "playbook: wrong type": (
        {"playbooks/site.yml": SITE.replace("  hosts: all\n", "  hosts: all\n  serial: many\n")},
        "playbooks/site.yml",
        3,
        "'serial' must be a host count or a percentage",
    ),
    "playbook: tab": (
        {"playbooks/site.yml": SITE.replace("      fetch:", "\tfetch:")},
        "playbooks/site.yml",
        9,
        "tab character",
    ),
    "playbook: fetch escaping its directory": (
        {"playbooks/site.yml": SITE.replace("[got.txt]", "[{src: got.txt, dest: ../../x}]")},
        "playbooks/site.yml",
        9,
        "escapes its directory",
    ),
    "role: broken role.yml": (
        {"playbooks/site.yml": ROLE_SITE, "roles/r/role.yml": "depends: [\n"},
        "roles/r/role.yml",
        2,
        "invalid YAML",
    ),
    "extra vars: not a mapping": (
        {"vars.yml": "- a\n- b\n"},
        "vars.yml",
        1,
        "extra vars must be a mapping",
    ),
    "missing --ssh-config": ({}, "nope.cfg", None, "ssh_config file not found"),
}


def _project(root: Path, files: dict[str, str]) -> Path:
    remote = root / "remote"
    good = {
        "hosts.ini": f"[web]\nl1 ansible_connection=local remote_dir={remote}\n",
        "playbooks/site.yml": SITE,
        "roles/r/remote/10-run.sh": "#!/bin/sh\ntouch ran\n",
    }
    write_project(root, {**good, **files})
    return root


def _argv(root: Path, files: dict[str, str]) -> list[str]:
    inventory = "hosts.yml" if "hosts.yml" in files else "hosts.ini"
    argv = ["play", str(root / "playbooks" / "site.yml"), "-i", str(root / inventory)]
    if "vars.yml" in files:
        argv += ["-e", f"@{root / 'vars.yml'}"]
    return argv


def _left_behind(root: Path) -> list[str]:
    made = [root / "remote", *(root / "playbooks" / d for d in (".rorunner", "build", "fetched"))]
    return [str(path.relative_to(root)) for path in made if path.exists()]


def test_the_good_project_runs_and_leaves_its_traces(tmp_path: Path) -> None:
    """The baseline for the checks below: the same project, unbroken, does create them."""
    root = _project(tmp_path, {})
    done = subprocess.run(
        [sys.executable, "-m", "rorunner", *_argv(root, {})],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=root,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "playbooks" / "fetched" / "l1" / "got.txt").read_text() == "x\n"
    assert sorted(_left_behind(root)) == [
        "playbooks/.rorunner",
        "playbooks/build",
        "playbooks/fetched",
        "remote",
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_3_with_file_line_and_creates_nothing(case: str, tmp_path: Path) -> None:
    files, where, line, fragment = CASES[case]
    root = _project(tmp_path, files)
    argv = _argv(root, files)
    if case == "missing --ssh-config":
        argv += ["--ssh-config", str(root / where)]
    result = run_cli(*argv)
    assert result.code == 3, result
    location = f"{root / where}:{line}: " if line is not None else f"{root / where}: "
    assert result.err.startswith(f"rorunner: error: {location}"), result.err
    assert fragment in result.err, result.err
    assert result.out == ""
    assert _left_behind(root) == []


def test_inventory_notices_are_warnings_in_play_too(tmp_path: Path) -> None:
    """Not bad input: an empty inventory plans nothing, says why, and exits 0 like `run`."""
    root = _project(tmp_path, {"hosts.ini": "# nobody yet\n"})
    result = run_cli(*_argv(root, {}), "--dry-run")
    assert result.code == 0, result
    assert "rorunner: warning: the inventory has no hosts\n" in result.err
    assert "skipped, no hosts matched" in result.err
    assert _left_behind(root) == []
