"""A playbook written into a test's tmp dir and run through the CLI against the lab, with
helpers to read its output and run record."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.lab import Lab
from tests.play_project import remote_base, remote_dir_for, remote_file

REPO = Path(__file__).resolve().parents[1]


class Book:
    """A playbook (and roles) in a tmp dir, run through the CLI against the lab."""

    def __init__(self, root: Path, lab: Lab, text: str, inventory: Path | None = None) -> None:
        self.root = root
        self.lab = lab
        self.tag = root.name
        self.path = root / "site.yml"
        self.path.write_text(text.replace("REMOTE_DIR", remote_dir_for(self.tag)))
        self.inventory = inventory or lab.inventory_ini

    def argv(self, *extra: str) -> list[str]:
        return [
            *(sys.executable, "-m", "rorunner", "play", str(self.path)),
            *("-i", str(self.inventory), "--known-hosts", str(self.lab.known_hosts)),
            *extra,
        ]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("SSH_AUTH_SOCK", None)
        return env

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*extra), capture_output=True, text=True, env=self.env(), timeout=180
        )

    def remote(self, host: str, name: str) -> Path:
        return remote_file(remote_base(self.lab, self.lab.host(host)), self.tag, name)

    def release(self) -> None:
        for host in self.lab.hosts:
            marker = self.remote(host.name, "release")
            if marker.parent.exists():
                marker.touch()

    def record(self) -> dict[str, object]:
        runs = [p for p in (self.root / ".rorunner" / "runs").glob("*.json")]
        records = [p for p in runs if not p.name.endswith(".plan.json")]
        assert len(records) == 1, records
        doc: dict[str, object] = json.loads(records[0].read_text())
        return doc


def steps(record: dict[str, object]) -> list[dict[str, object]]:
    steps = record["steps"]
    assert isinstance(steps, list)
    return steps


def block_of(lines: list[str], head: str) -> list[str]:
    """The line starting with `head` and the indented lines under it."""
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return lines[start:end]


def example_project(tmp_path: Path, lab: Lab) -> tuple[list[str], Path]:
    """The example project (playbooks/, roles/) copied into tmp_path, and the argv that
    plays it on the lab; returns (argv, the playbooks dir)."""
    for part in ("playbooks", "roles"):
        shutil.copytree(REPO / part, tmp_path / part)
    books = tmp_path / "playbooks"
    argv = [
        *(sys.executable, "-m", "rorunner", "play", str(books / "site.yml")),
        *("-i", str(lab.inventory_ini), "--known-hosts", str(lab.known_hosts)),
        *("--private-key", str(lab.client_key)),
    ]
    return argv, books
