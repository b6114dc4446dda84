"""The top-level example project plans cleanly against every example inventory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rorunner.inventory import load_inventory
from rorunner.model import CONTROLLER
from rorunner.plan import build_plan
from rorunner.playbook import load_playbook
from tests.lab import Lab

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "playbooks" / "site.yml"


@pytest.mark.parametrize("inventory", ["example.ini", "example.yml", "lab.ini"])
def test_example_site_plans(inventory: str) -> None:
    plan = build_plan(
        load_inventory([str(ROOT / "inventories" / inventory)]), load_playbook(str(SITE))
    )
    assert plan.notices == ()
    roles = {step.role for step in plan.steps}
    assert {"common", "webapp", "monitor", "release", "check"} <= roles
    phases = {step.phase for step in plan.steps}
    assert phases == {"local_pre", "ship", "remote", "fetch", "local_post", "local_after"}
    for host in plan.hosts:
        if host == CONTROLLER:
            continue
        # common runs once per host per play, though webapp and monitor both depend on it
        mine = [s for s in plan.steps if s.host == host and s.role == "common"]
        commons = [(s.play, s.phase, s.name) for s in mine]
        assert commons == [("01-site", "ship", "files"), ("01-site", "remote", "10-facts.sh")]


def test_example_inventories_agree() -> None:
    ini = load_inventory([str(ROOT / "inventories" / "example.ini")])
    yml = load_inventory([str(ROOT / "inventories" / "example.yml")])
    assert list(ini.hosts) == list(yml.hosts)
    assert {n: h.address for n, h in ini.hosts.items()} == {
        n: h.address for n, h in yml.hosts.items()
    }
    assert ini.hosts["2001:db8:10::13"].port == 2222


def test_example_template_renders_per_host() -> None:
    plan = build_plan(
        load_inventory([str(ROOT / "inventories/example.ini")]), load_playbook(str(SITE))
    )
    ship = next(
        s for s in plan.steps if s.host == "db1" and s.role == "webapp" and s.phase == "ship"
    )
    conf = next(m for m in ship.spec.files if m.dest == "app.conf")
    assert conf.content is not None
    assert b"listen=[2001:db8:20::21]:5432" in conf.content  # host var beats the role default
    assert b"environment=lab" in conf.content  # play var beats the group var


def test_example_release_note_is_built_per_host() -> None:
    """Every host's local_pre writes its own note, so no host ships a file another rewrites."""
    plan = build_plan(
        load_inventory([str(ROOT / "inventories/example.ini")]), load_playbook(str(SITE))
    )
    made = {
        step.host: step.spec.creates
        for step in plan.steps
        if step.role == "release" and step.phase == "local_pre"
    }
    assert set(made) == set(plan.hosts) - {CONTROLLER}
    for host, creates in made.items():
        assert creates == (str(ROOT / "playbooks" / "build" / host / "release.txt"),)
        ship = plan.step((host, "01-site", "release", "ship", "files"))
        assert [move.src for move in ship.spec.files] == list(creates)


def _play(root: Path, lab: Lab, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "rorunner", "play", str(root / "playbooks" / "site.yml")]
    argv += ["-i", str(lab.inventory_ini), "--known-hosts", str(lab.known_hosts)]
    argv += ["--private-key", str(lab.client_key), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=root, timeout=180, check=False
    )


def test_example_site_runs_on_the_lab(tmp_path: Path, lab: Lab) -> None:
    for part in ("playbooks", "roles"):
        shutil.copytree(
            ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns(".*", "fetched")
        )
    first = _play(tmp_path, lab)
    assert first.returncode == 0, first.stdout + first.stderr
    fetched = tmp_path / "playbooks" / "fetched"
    for host in lab.hosts:
        status = (fetched / host.name / "app/status.txt").read_text()
        assert f"host={host.name}\n" in status and f"[{host.address}]:8080" in status
        summary = (fetched / host.name / "report/summary.txt").read_text()
        assert summary == f"{host.name}: 3 health samples\n"
        assert (fetched / host.name / "release.txt").read_text() == "release 1.0\n"
        built = tmp_path / "playbooks" / "build" / host.name / "release.txt"
        assert built.read_text() == "release 1.0\n"
    names = " ".join(host.name for host in lab.hosts)
    report = (tmp_path / "playbooks" / "fleet-report.txt").read_text().splitlines()
    assert report == [
        f"01-site ok: {names}; failed: none",
        *(f"{h.name} listen=[{h.address}]:8080 3 health samples" for h in lab.hosts),
    ]
    again = _play(tmp_path, lab)
    assert again.returncode == 0, again.stdout + again.stderr
    recap = again.stdout.split("PLAY RECAP")[1]
    assert recap.count("changed=0") == len(lab.hosts) + 1, again.stdout  # + @controller
    assert "@controller : ok=0  changed=0  skipped=1" in recap
