"""Ansible's YAML inventory structure (groups of hosts/vars/children), read into a Builder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rorunner.errors import InputError, Location, did_you_mean
from rorunner.inventory._builder import Builder
from rorunner.safe_yaml import describe, line_of, plain, shorthand_mapping, shown

_GROUP_KEYS = ("hosts", "vars", "children")


def read_yaml(data: Any, path: str, builder: Builder) -> None:
    """Add the groups of a loaded YAML inventory document to `builder`."""
    if data is None:
        return
    if not isinstance(data, Mapping):
        raise InputError(
            f"a YAML inventory must be a mapping of group names, got {describe(data)}", path, 1
        )
    if "plugin" in data:
        raise InputError(
            "inventory plugin configuration files are not supported", path, line_of(data, "plugin")
        )
    for name in data:
        _group(name, data[name], data, path, builder)


def _group(name: Any, body: Any, parent: Any, path: str, builder: Builder) -> str:
    line = line_of(parent, name)
    if not isinstance(name, str):
        raise InputError(f"group name must be a string, got {describe(name)}", path, line)
    if body is not None and not isinstance(body, Mapping):
        raise InputError(
            f"group {name!r} must be a mapping (hosts/vars/children), got {describe(body)}",
            path,
            line,
        )
    builder.add_group(name, Location(path, line))
    for key, value in (body or {}).items():
        _section(name, key, value, body, path, builder)
    return name


def _section(group: str, key: Any, value: Any, body: Any, path: str, builder: Builder) -> None:
    line = line_of(body, key)
    if key not in _GROUP_KEYS:
        raise InputError(
            f"unknown key {shown(key)} in group {group!r} (expected hosts, vars or children)"
            f"{did_you_mean(str(key), _GROUP_KEYS)}",
            path,
            line,
        )
    if isinstance(value, str):
        value = shorthand_mapping(value, line)  # `hosts: web1` is allowed, as in Ansible
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise InputError(
            f"{key!r} of group {group!r} must be a mapping, got {describe(value)}", path, line
        )
    if key == "vars":
        for var in value:
            builder.set_group_var(
                group,
                _var_name(var, path, value),
                plain(value[var]),
                Location(path, line_of(value, var)),
            )
    elif key == "children":
        for child in value:
            name = _group(child, value[child], value, path, builder)
            builder.add_child(group, name, Location(path, line_of(value, child)))
    else:
        for pattern in value:
            _hosts(group, pattern, value[pattern], value, path, builder)


def _hosts(group: str, pattern: Any, hvars: Any, parent: Any, path: str, builder: Builder) -> None:
    line = line_of(parent, pattern)
    if not isinstance(pattern, str):
        raise InputError(f"host name {shown(pattern)} must be a string (quote it)", path, line)
    if hvars is not None and not isinstance(hvars, Mapping):
        raise InputError(
            f"vars of host {pattern!r} must be a mapping, got {describe(hvars)}", path, line
        )
    here = Location(path, line)
    names, port = builder.host_names(pattern, here)
    assignments = [
        (_var_name(var, path, hvars), plain(value), Location(path, line_of(hvars, var)))
        for var, value in (hvars or {}).items()
    ]
    for host in names:
        builder.add_host(host, group, port, here)
        for key, value, origin in assignments:
            builder.set_host_var(host, key, value, origin)


def _var_name(var: Any, path: str, parent: Any) -> str:
    if not isinstance(var, str):
        raise InputError(
            f"variable name must be a string, got {describe(var)}", path, line_of(parent, var)
        )
    return var
