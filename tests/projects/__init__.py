"""Fixture projects for the playbook and plan tests, and helpers to build inventories directly."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rorunner.errors import Location
from rorunner.model import Group, Host, Inventory
from rorunner.plan import Plan, build_plan
from rorunner.playbook import load_playbook

PROJECTS = Path(__file__).parent
GOLDEN_PROJECT = PROJECTS / "golden"
GOLDEN = PROJECTS.parent / "golden"  # the expected outputs
UPDATE_GOLDEN = os.environ.get("RORUNNER_UPDATE_GOLDEN") == "1"


def make_inventory(
    groups: Mapping[str, Sequence[str]],
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
    addresses: Mapping[str, str] | None = None,
) -> Inventory:
    """An Inventory of these groups (hosts in order); addresses default to 2001:db8::N."""
    host_vars = host_vars or {}
    addresses = addresses or {}
    order: list[str] = []
    for members in groups.values():
        order.extend(name for name in members if name not in order)
    hosts = {}
    for index, name in enumerate(order, start=1):
        member_of = sorted({"all", *(g for g, m in groups.items() if name in m)})
        hosts[name] = Host(
            name=name,
            address=addresses.get(name, f"2001:db8::{index:x}"),
            vars=dict(host_vars.get(name, {})),
            groups=tuple(member_of),
            source=Location("inventory.ini", index),
        )
    group_map = {g: Group(g, hosts=tuple(m)) for g, m in groups.items()}
    group_map.setdefault("all", Group("all", children=tuple(groups)))
    return Inventory(hosts=hosts, groups=group_map, sources=("inventory.ini",))


def golden_inventory() -> Inventory:
    """The fixed inventory of the golden project: two web hosts and one db host."""
    return make_inventory(
        {"web": ["web1", "web2"], "db": ["db1"]},
        host_vars={"db1": {"greeting": "hi"}},
    )


def golden_plan(inventory: Inventory | None = None) -> Plan:
    """The plan of the golden project (over the golden inventory unless given another)."""
    book = load_playbook(str(GOLDEN_PROJECT / "playbooks" / "site.yml"))
    return build_plan(inventory or golden_inventory(), book)


def check_golden(name: str, text: str) -> None:
    """`text` equals tests/golden/<name> (written instead with RORUNNER_UPDATE_GOLDEN=1)."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; set RORUNNER_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} differs from the golden file"


def copy_project(name: str, to: Path) -> Path:
    """Copy fixture project `name` into `to` (keeping modes) and return the copy's root."""
    target = to / name
    shutil.copytree(PROJECTS / name, target)
    return target


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    """Write `files` (relative path -> text) under `root`; paths under local_pre/, local_post/
    or remote/ and names ending in .sh are made executable. Returns `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        parts = set(Path(rel).parts)
        if parts & {"local_pre", "local_post", "remote"} or rel.endswith(".sh"):
            path.chmod(0o755)
    return root
