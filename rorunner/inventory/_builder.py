"""Mutable accumulation of groups, hosts and vars while sources are parsed (Ansible's order)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rorunner.errors import InputError
from rorunner.inventory._address import check_group_name, check_host_name

PRIORITY_VAR = "ansible_group_priority"


@dataclass
class GroupAcc:
    """A group being built: ordered members, own vars and where each var came from."""

    name: str
    source: str
    hosts: dict[str, None] = field(default_factory=dict)
    children: dict[str, None] = field(default_factory=dict)
    parents: dict[str, None] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    priority: int = 1


@dataclass
class HostAcc:
    """A host being built: its own vars and direct groups."""

    name: str
    address: str
    source: str
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)


class Builder:
    """Collects what the INI and YAML readers find, source after source."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupAcc] = {}
        self.hosts: dict[str, HostAcc] = {}
        self.notices: list[str] = []
        self.add_group("all", "")
        self.add_group("ungrouped", "")
        self.add_child("all", "ungrouped")

    def add_group(self, name: str, where: str) -> GroupAcc:
        """Create the group if new (definition order is kept); return it."""
        group = self.groups.get(name)
        if group is None:
            if where:
                path, line = _split_where(where)
                check_group_name(name, path, line)
            group = self.groups[name] = GroupAcc(name, where)
        return group

    def add_child(self, parent: str, child: str) -> None:
        """Make `child` a child group of `parent` (both must exist)."""
        self.groups[parent].children[child] = None
        self.groups[child].parents[parent] = None

    def add_host(self, name: str, group: str, port: int | None, where: str) -> HostAcc:
        """Add a host to a group; a port counts only where the host is first seen (as Ansible)."""
        host = self.hosts.get(name)
        if host is None:
            path, line = _split_where(where)
            address = check_host_name(name, path, line)
            host = self.hosts[name] = HostAcc(name, address, where)
            if port is not None:
                self.set_host_var(name, "ansible_port", port, where)
        self.groups[group].hosts[name] = None
        host.groups[group] = None
        return host

    def set_host_var(self, host: str, key: Any, value: Any, where: str) -> None:
        """Set a host var (a later value replaces an earlier one)."""
        acc = self.hosts[host]
        acc.vars[key] = value
        acc.origins[str(key)] = where

    def set_group_var(self, group: str, key: Any, value: Any, where: str) -> None:
        """Set a group var; ansible_group_priority sets the merge priority instead."""
        acc = self.groups[group]
        if key == PRIORITY_VAR:
            acc.priority = _priority(value, where)
            return
        acc.vars[key] = value
        acc.origins[str(key)] = where


def _priority(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        path, line = _split_where(where)
        raise InputError(f"{PRIORITY_VAR} must be an integer, got {value!r}", path, line) from None


def _split_where(where: str) -> tuple[str, int]:
    path, _, line = where.rpartition(":")
    return (path, int(line)) if line.isdigit() else (where, 0)


def where(path: str, line: int) -> str:
    """The 'file:line' string kept for messages."""
    return f"{path}:{line}"
