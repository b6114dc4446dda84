"""The golden fixture project is not only planned (tests/test_plan_golden.py): it also runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.lab import Lab
from tests.play_project import remote_base, remote_file
from tests.projects import copy_project

REPO = Path(__file__).resolve().parents[1]
# The golden inventory's names (tests/projects/__init__.py: golden_inventory) on lab hosts.
NAMES = {"web1": ("web", 0), "web2": ("web", 1), "db1": ("db", 2)}


def _inventory(lab: Lab, tag: str, path: Path) -> Path:
    lines: dict[str, list[str]] = {"web": [], "db": []}
    for name, (group, index) in NAMES.items():
        host = lab.hosts[index]
        # Loopback hosts share the login HOME: give each its own dir, as the lab inventory does.
        base = str(host.home / "work") if lab.mode == "loopback" else "."
        extra = " greeting=hi" if name == "db1" else ""
        lines[group].append(
            f"{name} ansible_host={host.address} ansible_port={host.port} "
            f"remote_dir={base}/.rr-tests/{tag}{extra}"
        )
    path.write_text("".join(f"[{g}]\n" + "\n".join(hosts) + "\n" for g, hosts in lines.items()))
    return path


def test_golden_project_runs_on_the_lab(tmp_path: Path, lab: Lab) -> None:
    project = copy_project("golden", tmp_path)
    books = project / "playbooks"
    inventory = _inventory(lab, tmp_path.name, tmp_path / "hosts.ini")
    argv = [sys.executable, "-m", "rorunner", "play", str(books / "site.yml")]
    argv += ["-i", str(inventory), "--known-hosts", str(lab.known_hosts)]
    argv += ["--private-key", str(lab.client_key)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=books, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name, (_, index) in NAMES.items():
        host = lab.hosts[index]
        work = remote_file(remote_base(lab, host), tmp_path.name, "")
        assert (work / "adhoc.txt").read_text() == "prepared\n"
        notes = work / "docs" / "notes.txt"
        assert notes.read_text() == "some notes\n" and notes.stat().st_mode & 0o777 == 0o600
        # the play's `greeting` beats db1's host var: play vars come after inventory vars
        assert f"motd=hello from {name}\n" in (work / "etc" / "base.conf").read_text()
        assert (work / "app.out").read_text() == "run\nagain\n"
        fetched = books / "fetched" / name
        assert (fetched / "app.out").read_text() == "run\nagain\n"
        assert (fetched / "docs" / "notes.txt").read_text() == "some notes\n"
        assert (fetched / "hostname.txt").is_file()
