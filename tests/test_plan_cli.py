"""Each plan error through `rorunner play` on the lab: file:line message, exit 3, no connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.projects import write_project

REPO = Path(__file__).resolve().parents[1]
ROLE_OK = {"roles/app/remote/10-run.sh": "true\n"}

CASES: dict[str, tuple[dict[str, str], str, str]] = {
    # name: (project files, "file:line" expected in the message, words expected)
    "cycle": (
        {
            "site.yml": "- hosts: all\n  roles: [app]\n",
            "roles/app/role.yml": "depends: [lib]\n",
            "roles/lib/role.yml": "vars: {a: 1}\ndepends: [app]\n",
        },
        "roles/app/role.yml:1",
        "role dependency cycle: app -> lib -> app (also at ",
    ),
    "unknown role": (
        {"site.yml": "- hosts: all\n  roles:\n    - ap\n", **ROLE_OK},
        "site.yml:3",
        "unknown role 'ap' (did you mean 'app'?)",
    ),
    "missing file": (
        {"site.yml": "- hosts: all\n  rtas:\n    - name: u\n      ship: [nothere.txt]\n"},
        "site.yml:4",
        "no such file or directory: nothere.txt",
    ),
    "undefined variable": (
        {
            "site.yml": "- hosts: all\n  roles: [app]\n",
            "roles/app/files/app.conf.j2": "ok\nport={{ app_prot }}\n",
            **ROLE_OK,
        },
        "roles/app/files/app.conf.j2:2",
        "'app_prot' is undefined",
    ),
    "schema error": (
        {"site.yml": "- hosts: all\n  serail: 2\n  roles: [app]\n", **ROLE_OK},
        "site.yml:2",
        "unknown key 'serail' (did you mean 'serial'?)",
    ),
    "hosts typo": (
        {"site.yml": "- hosts: wbe\n  roles: [app]\n", **ROLE_OK},
        "site.yml:1",
        "no host or group named 'wbe' (did you mean 'web'?)",
    ),
    "not executable": (
        {"site.yml": "- hosts: all\n  roles: [app]\n", "roles/app/local_pre/build": "true\n"},
        "roles/app/local_pre/build",
        "not executable",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_error_exits_3_with_file_line_and_connects_nowhere(
    case: str, tmp_path: Path, lab: Lab
) -> None:
    files, location, words = CASES[case]
    write_project(tmp_path, files)
    if case == "not executable":
        (tmp_path / "roles/app/local_pre/build").chmod(0o644)
    before = [host.accepted() for host in lab.hosts]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rorunner",
            "play",
            str(tmp_path / "site.yml"),
            "-i",
            str(lab.inventory_ini),
            "--known-hosts",
            str(lab.known_hosts),
            "--private-key",
            str(lab.client_key),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"rorunner: error: {tmp_path / location}: "), result.stderr
    assert words in result.stderr
    assert [host.accepted() for host in lab.hosts] == before
    assert not (tmp_path / ".rorunner").exists() and not (tmp_path / "fetched").exists()
