"""Mutable accumulation of groups, hosts and vars while sources are parsed (Ansible's order)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rorunner.address import parse_address, port_hint, split_port
from rorunner.errors import InputError, Location
from rorunner.inventory._ranges import expand_range, has_range
from rorunner.safe_yaml import shown

PRIORITY_VAR = "ansible_group_priority"
_GROUPNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


@dataclass
class GroupAcc:
    """A group being built: ordered members, own vars and where each var came from."""

    name: str
    source: Location | None  # None for the implicit all and ungrouped
    hosts: dict[str, None] = field(default_factory=dict)
    children: dict[str, None] = field(default_factory=dict)
    child_at: dict[str, Location] = field(default_factory=dict)  # where each edge was written
    parents: dict[str, None] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Location] = field(default_factory=dict)
    priority: int = 1


@dataclass
class HostAcc:
    """A host being built: its own vars and direct groups."""

    name: str
    address: str
    source: Location
    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Location] = field(default_factory=dict)
    groups: dict[str, None] = field(default_factory=dict)


class Builder:
    """Collects what the INI and YAML readers find, source after source."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupAcc] = {}
        self.hosts: dict[str, HostAcc] = {}
        self.notices: list[str] = []
        self.add_group("all", None)
        self.add_group("ungrouped", None)
        self.add_child("all", "ungrouped")

    def add_group(self, name: str, where: Location | None) -> GroupAcc:
        """Create the group if new (definition order is kept); return it."""
        group = self.groups.get(name)
        if group is None:
            if where is not None:
                _check_group_name(name, where)
            group = self.groups[name] = GroupAcc(name, where)
        return group

    def add_child(self, parent: str, child: str, at: Location | None = None) -> None:
        """Make `child` a child group of `parent` (both must exist), written at `at`."""
        self.groups[parent].children[child] = None
        self.groups[child].parents[parent] = None
        if at is not None:
            self.groups[parent].child_at.setdefault(child, at)

    def add_host(self, name: str, group: str, port: int | None, where: Location) -> HostAcc:
        """Add a host to a group; a port counts only where the host is first seen (as Ansible)."""
        host = self.hosts.get(name)
        if host is None:
            address = parse_address(name, f"host name {name!r}", where).text
            host = self.hosts[name] = HostAcc(name, address, where)
            if port is not None:
                self.set_host_var(name, "ansible_port", port, where)
        self.groups[group].hosts[name] = None
        host.groups[group] = None
        return host

    def host_names(
        self, token: str, where: Location, ranges: bool = True
    ) -> tuple[list[str], int | None]:
        """The host names and port of one inventory host token (`web[1:3]`, `[addr]:port`).

        A bare IPv6 name that reads like address:port (`2001:db8::1:2222`) stays one
        address, with a warning among the notices.
        """
        name, port = split_port(token, where)
        if ranges and has_range(name):
            return expand_range(name, where.path, where.line), port
        hint = port_hint(name) if port is None else None
        if hint:
            self.notices.append(
                f"{where}: host {name!r} is one IPv6 address (its port is ansible_port or 22); "
                f"write {hint} for a port"
            )
        return [name], port

    def set_host_var(self, host: str, key: Any, value: Any, where: Location) -> None:
        """Set a host var (a later value replaces an earlier one)."""
        acc = self.hosts[host]
        acc.vars[key] = value
        acc.origins[str(key)] = where

    def set_group_var(self, group: str, key: Any, value: Any, where: Location) -> None:
        """Set a group var; ansible_group_priority sets the merge priority instead."""
        acc = self.groups[group]
        if key == PRIORITY_VAR:
            acc.priority = _priority(value, where)
            return
        acc.vars[key] = value
        acc.origins[str(key)] = where


def _priority(value: Any, where: Location) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        message = f"{PRIORITY_VAR} must be an integer, got {shown(value)}"
        raise InputError.at(message, where) from None


def _check_group_name(name: str, where: Location) -> None:
    """Group names: letters, digits, '_', '.', '-' (no shell or pattern metacharacters)."""
    if not _GROUPNAME.match(name):
        message = f"group name {name!r} is not allowed (use letters, digits, '_', '.', '-')"
        raise InputError.at(message, where)
