"""The top-level example project plans cleanly against every example inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from rorunner.inventory import load_inventory
from rorunner.plan import build_plan
from rorunner.playbook import load_playbook

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
    assert phases == {"local_pre", "ship", "remote", "fetch", "local_post"}
    for host in plan.hosts:
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
