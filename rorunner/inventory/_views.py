"""The views `ansible-inventory` prints: --list JSON, --graph text, --host vars."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rorunner.errors import InputError, did_you_mean
from rorunner.model import Inventory, Secret


def to_ansible_list(inventory: Inventory, only: Iterable[str] | None = None) -> dict[str, Any]:
    """The structure `ansible-inventory --list [--limit ...]` prints; `only` = the limited hosts."""
    keep = set(inventory.hosts if only is None else only)
    result: dict[str, Any] = {}
    seen: set[str] = set()
    stack = ["all"]
    while stack:
        name = stack.pop()
        group = inventory.groups[name]
        entry: dict[str, Any] = {}
        hosts = [h for h in group.hosts if h in keep] if name != "all" else []
        if hosts:
            entry["hosts"] = hosts
        if group.children:
            entry["children"] = list(group.children)
        if entry:
            result[name] = entry
        fresh = [c for c in group.children if c not in seen]
        seen.update(fresh)
        stack.extend(reversed(fresh))
    hostvars = {
        name: dict(host.vars)
        for name, host in inventory.hosts.items()
        if host.vars and name in keep
    }
    result["_meta"] = {"hostvars": hostvars, "profile": "inventory_legacy"}
    return result


def to_ansible_graph(inventory: Inventory, group: str = "all") -> str:
    """The tree `ansible-inventory --graph [GROUP]` prints."""
    if group not in inventory.groups:
        raise InputError(
            f"no group {group!r} in the inventory{did_you_mean(group, list(inventory.groups))}"
        )
    lines: list[str] = []
    stack: list[tuple[str, int, bool]] = [(group, 0, True)]
    while stack:
        name, depth, is_group = stack.pop()
        lines.append(_graph_line(f"@{name}:" if is_group else name, depth))
        if not is_group:
            continue
        node = inventory.groups[name]
        below: list[tuple[str, int, bool]] = [(kid, depth + 1, True) for kid in node.children]
        if name != "all":
            below.extend((host, depth + 1, False) for host in node.hosts)
        stack.extend(reversed(below))
    return "\n".join(lines)


def _graph_line(text: str, depth: int) -> str:
    return "  |" * depth + "--" + text if depth else text


def host_view(inventory: Inventory, name: str) -> dict[str, Any]:
    """The vars `ansible-inventory --host NAME` prints."""
    host = inventory.hosts.get(name)
    if host is None:
        raise InputError(
            f"no host {name!r} in the inventory{did_you_mean(name, list(inventory.hosts))}"
        )
    return dict(host.vars)


def to_json(data: Any) -> str:
    """JSON the way ansible-inventory formats it (sorted keys, 4-space indent); a vault
    secret is shown masked."""
    return json.dumps(data, sort_keys=True, indent=4, ensure_ascii=False, default=_masked)


def _masked(value: Any) -> str:
    if isinstance(value, Secret):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
