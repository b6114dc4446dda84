"""Ansible's INI inventory grammar, read into a Builder."""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any

from rorunner.errors import InputError
from rorunner.inventory._builder import Builder, where

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?\Z")
_GROUP_LINE = re.compile(r"([^:\]\s]+)\s*(?:#.*)?\Z")
_STATES = ("hosts", "children", "vars")


@dataclass
class _State:
    group: str = "ungrouped"
    kind: str = "hosts"
    # group -> (line, kind, parents) for groups named before their own section
    pending: dict[str, tuple[int, str, list[str]]] = field(default_factory=dict)


def read_ini(text: str, path: str, builder: Builder) -> None:
    """Parse INI inventory text, adding what it declares to `builder`."""
    state = _State()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if _is_section(line):
            _section(line, path, number, builder, state)
        elif state.kind == "hosts":
            _host_line(line, path, number, builder, state.group)
        elif state.kind == "vars":
            _vars_line(line, path, number, builder, state.group)
        else:
            _child_line(line, path, number, builder, state)
    _check_pending(state, path)


def _is_section(line: str) -> bool:
    """A section header, or a broken one; `[addr]:port ...` and `[a:c]x` lines are hosts."""
    if not line.startswith("[") or _SECTION.match(line):
        return line.startswith("[")
    close = line.find("]")
    after = line[close + 1 : close + 2]
    return close < 0 or after in ("", "#") or after.isspace()


def _section(line: str, path: str, number: int, builder: Builder, state: _State) -> None:
    match = _SECTION.match(line)
    if not match:
        if "]" not in line:
            raise InputError(f"unclosed section header {line!r}", path, number)
        raise InputError(
            f"invalid section header {line!r} (expected [group], [group:children] or "
            "[group:vars], no spaces)",
            path,
            number,
        )
    name, kind = match.group(1), match.group(2) or "hosts"
    if kind not in _STATES:
        raise InputError(
            f"section [{name}:{kind}] has unknown type {kind!r} (expected hosts, children or vars)",
            path,
            number,
        )
    if name not in builder.groups and kind == "vars" and name not in state.pending:
        state.pending[name] = (number, "vars", [])
    builder.add_group(name, where(path, number))
    if name in state.pending and kind != "vars":
        _declare(name, builder, state)
    state.group, state.kind = name, kind


def _declare(name: str, builder: Builder, state: _State) -> None:
    _line, kind, parents = state.pending.pop(name)
    if kind == "children":
        for parent in parents:
            builder.add_child(parent, name)


def _host_line(line: str, path: str, number: int, builder: Builder, group: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InputError(f"cannot parse host line {line!r}: {exc}", path, number) from None
    if not tokens:
        return
    if tokens[0] == "---":
        raise InputError("'---' is not a host name (is this a YAML file?)", path, number)
    here = where(path, number)
    names, port = builder.host_names(tokens[0], here)
    assignments = [_host_var(token, path, number) for token in tokens[1:]]
    for name in names:
        builder.add_host(name, group, port, here)
        for key, value in assignments:
            builder.set_host_var(name, key, value, here)


def _host_var(token: str, path: str, number: int) -> tuple[str, Any]:
    key, sep, value = token.partition("=")
    if not sep or not key:
        raise InputError(f"expected key=value after the host name, got {token!r}", path, number)
    return key, parse_value(value)


def _vars_line(line: str, path: str, number: int, builder: Builder, group: str) -> None:
    key, sep, value = line.partition("=")
    if not sep or not key.strip():
        raise InputError(f"expected key=value in [{group}:vars], got {line!r}", path, number)
    builder.set_group_var(group, key.strip(), parse_value(value.strip()), where(path, number))


def _child_line(line: str, path: str, number: int, builder: Builder, state: _State) -> None:
    match = _GROUP_LINE.match(line)
    if not match:
        raise InputError(
            f"expected a group name in [{state.group}:children], got {line!r}", path, number
        )
    child = match.group(1)
    if child in builder.groups:
        builder.add_child(state.group, child)
    elif child in state.pending:
        state.pending[child][2].append(state.group)
    else:
        state.pending[child] = (number, "children", [state.group])


def _check_pending(state: _State, path: str) -> None:
    for name, (number, kind, parents) in state.pending.items():
        if kind == "vars":
            raise InputError(f"section [{name}:vars] names undefined group {name!r}", path, number)
        raise InputError(
            f"section [{parents[-1]}:children] names undefined group {name!r}", path, number
        )


def parse_value(text: str) -> Any:
    """Type an INI value the way Ansible does: a Python literal if it is one, else the string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _coerce(value)


def _coerce(value: Any) -> Any:
    if isinstance(value, list | tuple | set | frozenset):
        return [_coerce(v) for v in value]
    if isinstance(value, dict):
        return {_coerce(k): _coerce(v) for k, v in value.items()}
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value
