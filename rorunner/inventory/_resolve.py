"""Turn a Builder into the frozen Inventory: group tree, final vars, connection fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from rorunner.address import parse_address, parse_port
from rorunner.errors import InputError, Location
from rorunner.inventory._builder import Builder, GroupAcc, HostAcc
from rorunner.inventory._varsdirs import FileVars, VarsLayer
from rorunner.model import Connection, Group, Host, Inventory, reveal
from rorunner.safe_yaml import shown

_SSH_LIKE = frozenset({"ssh", "paramiko", "smart"})


def resolve(
    builder: Builder, sources: tuple[str, ...], layers: Sequence[VarsLayer] = ()
) -> Inventory:
    """Check the group graph, attach orphans to all, merge vars, build frozen records.

    `layers`: the group_vars/host_vars of each source (see _varsdirs), applied as Ansible does.
    """
    _check_cycles(builder.groups)
    _attach_to_all(builder)
    _fix_ungrouped(builder)
    depth = _depths(builder.groups)
    ancestors = _ancestors(builder.groups)
    hosts = _hosts(builder, depth, ancestors, layers)
    _check_duplicate_addresses(hosts.values())
    groups = {name: _freeze_group(acc, layers) for name, acc in builder.groups.items()}
    notices = list(builder.notices)
    notices.extend(f"{name!r} is both a group and a host name" for name in hosts if name in groups)
    if not hosts:
        notices.append("the inventory has no hosts")
    return Inventory(
        hosts=MappingProxyType(hosts),
        groups=MappingProxyType(groups),
        sources=sources,
        notices=tuple(notices),
    )


def _check_cycles(groups: Mapping[str, GroupAcc]) -> None:
    """Iterative DFS over child edges; a back edge is a cycle, printed in full."""
    done: set[str] = set()
    for root in groups:
        if root in done:
            continue
        path = [root]
        stack = [iter(groups[root].children)]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                done.add(path.pop())
            elif child in path:
                raise _cycle_error(groups, [*path[path.index(child) :], child])
            elif child not in done:
                path.append(child)
                stack.append(iter(groups[child].children))


def _cycle_error(groups: Mapping[str, GroupAcc], cycle: list[str]) -> InputError:
    """`a -> b -> a`, at the line of its first edge, also naming the line of every other."""
    edges = [groups[parent].child_at.get(child) for parent, child in pairwise(cycle)]
    places = [at for at in edges if at is not None]
    if not places:  # pragma: no cover - every child edge a reader adds has its line
        places = [groups[cycle[0]].source or Location("")]
    return InputError.at(f"group cycle: {' -> '.join(cycle)}", places[0], places[1:])


def _attach_to_all(builder: Builder) -> None:
    for name, acc in builder.groups.items():
        if name != "all" and not acc.parents:
            builder.add_child("all", name)


def _fix_ungrouped(builder: Builder) -> None:
    ungrouped = builder.groups["ungrouped"]
    for name, host in builder.hosts.items():
        real = [g for g in host.groups if g not in ("all", "ungrouped")]
        if real and "ungrouped" in host.groups:
            del host.groups["ungrouped"]
            del ungrouped.hosts[name]
        elif not real and "ungrouped" not in host.groups:
            host.groups["ungrouped"] = None
            ungrouped.hosts[name] = None


def _depths(groups: Mapping[str, GroupAcc]) -> dict[str, int]:
    """Longest path from 'all' (Ansible's group depth), in a topological sweep."""
    indegree = {name: len(acc.parents) for name, acc in groups.items()}
    depth = dict.fromkeys(groups, 0)
    ready = [name for name, n in indegree.items() if n == 0]
    while ready:
        name = ready.pop()
        for child in groups[name].children:
            depth[child] = max(depth[child], depth[name] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return depth


def _ancestors(groups: Mapping[str, GroupAcc]) -> dict[str, frozenset[str]]:
    memo: dict[str, frozenset[str]] = {}

    def up(name: str) -> frozenset[str]:
        if name not in memo:
            found = {name}
            for parent in groups[name].parents:
                found |= up(parent)
            memo[name] = frozenset(found)
        return memo[name]

    for name in groups:
        up(name)
    return memo


def _hosts(
    builder: Builder,
    depth: Mapping[str, int],
    ancestors: Mapping[str, frozenset[str]],
    layers: Sequence[VarsLayer],
) -> dict[str, Host]:
    merged: dict[frozenset[str], tuple[tuple[str, ...], dict[str, Any], dict[str, Location]]] = {}
    hosts: dict[str, Host] = {}
    for name, acc in builder.hosts.items():
        key = frozenset(acc.groups)
        if key not in merged:
            merged[key] = _group_vars(key, builder.groups, depth, ancestors, layers)
        member_of, group_vars, group_origins = merged[key]
        values = {**group_vars, **acc.vars}
        origins = {**group_origins, **acc.origins}
        for layer in layers:  # host_vars/ files beat the host's inventory vars
            _apply(layer.hosts.get(name), values, origins)
        hosts[name] = _host(acc, member_of, values, origins)
    return hosts


def _group_vars(
    direct: frozenset[str],
    groups: Mapping[str, GroupAcc],
    depth: Mapping[str, int],
    ancestors: Mapping[str, frozenset[str]],
    layers: Sequence[VarsLayer],
) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Location]]:
    """Ansible's order: inventory vars of all, then of the other groups (by depth, priority,
    name); then group_vars/all of each source; then each source's group_vars of the others."""
    every: set[str] = {"all"}
    for name in direct:
        every |= ancestors[name]
    ordered = sorted(every, key=lambda g: (depth[g], groups[g].priority, g))
    values: dict[str, Any] = {}
    origins: dict[str, Location] = {}
    for name in ordered:
        values.update(groups[name].vars)
        origins.update(groups[name].origins)
    for layer in layers:
        _apply(layer.groups.get("all"), values, origins)
    for layer in layers:
        for name in ordered:
            if name != "all":
                _apply(layer.groups.get(name), values, origins)
    return tuple(sorted(every)), values, origins


def _apply(found: FileVars | None, values: dict[str, Any], origins: dict[str, Location]) -> None:
    if found is not None:
        values.update(found.values)
        origins.update(found.origins)


def _host(
    acc: HostAcc, member_of: tuple[str, ...], values: dict[str, Any], origins: dict[str, Location]
) -> Host:
    def loc(key: str) -> Location:
        return origins.get(key, acc.source)

    address = acc.address
    host_var = _first(values, "ansible_host", "ansible_ssh_host")
    if host_var:
        what = f"{host_var} of {acc.name!r}"
        address = parse_address(_text(values[host_var]) or "", what, loc(host_var)).text
    port_var = _first(values, "ansible_port", "ansible_ssh_port")
    port = parse_port(reveal(values[port_var]), port_var, loc(port_var)) if port_var else None
    user_var = _first(values, "ansible_user", "ansible_ssh_user")
    key_var = _first(values, "ansible_ssh_private_key_file", "ansible_private_key_file")
    connection = values.get("ansible_connection")
    return Host(
        name=acc.name,
        address=address,
        port=port,
        user=_text(values[user_var]) if user_var else None,
        key_file=_text(values.get(key_var)) if key_var else None,
        connection="ssh"
        if connection is None
        else _connection(reveal(connection), loc("ansible_connection")),
        vars=MappingProxyType(values),
        origins=MappingProxyType(origins),
        groups=member_of,
        source=acc.source,
    )


def _first(values: Mapping[str, Any], name: str, alias: str) -> str | None:
    """`name` when it has a value, else `alias` when that has one (a host per call)."""
    if values.get(name) is not None:
        return name
    return alias if values.get(alias) is not None else None


def _text(value: Any) -> str | None:
    if value is None or value.__class__ is str:
        return value
    return str(reveal(value))


def _connection(value: Any, at: Location) -> Connection:
    if value is None or value in _SSH_LIKE:
        return "ssh"
    if value == "local":
        return "local"
    raise InputError.at(
        f"ansible_connection {shown(value)} is not supported (use ssh or local)", at
    )


def _check_duplicate_addresses(hosts: Iterable[Host]) -> None:
    seen: dict[tuple[str, int], Host] = {}
    for host in hosts:
        if host.connection == "local":
            continue
        key = (host.address, host.port or 22)
        other = seen.setdefault(key, host)
        if other is not host:
            raise InputError.at(
                f"hosts {other.name!r} and {host.name!r} have the same address "
                f"{host.address} port {key[1]}",
                host.source,
                also=[other.source],
            )


def _freeze_group(acc: GroupAcc, layers: Sequence[VarsLayer]) -> Group:
    """The group's own vars: its inventory vars, then its group_vars/ files."""
    values = dict(acc.vars)
    for layer in layers:
        found = layer.groups.get(acc.name)
        values.update(found.values if found else {})
    return Group(
        name=acc.name,
        hosts=tuple(acc.hosts),
        children=tuple(acc.children),
        vars=MappingProxyType(values),
        source=acc.source,
        priority=acc.priority,
        parents=tuple(acc.parents),
    )
