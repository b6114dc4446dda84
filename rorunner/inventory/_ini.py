"""Ansible's INI inventory grammar, read into a Builder."""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Any

from rorunner.errors import InputError, Location
from rorunner.inventory._builder import Builder

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?\Z")
_GROUP_LINE = re.compile(r"([^:\]\s]+)\s*(?:#.*)?\Z")
_STATES = ("hosts", "children", "vars")
# A host line without quotes, escapes or a comment splits at whitespace exactly as shlex
# splits it (shlex's whitespace is these four characters); shlex is slow per line.
_PLAIN_LINE = re.compile(r"[^'\"\\#]*")
_SHLEX_SPACE = re.compile(r"[ \t\r\n]+")
# Values whose literal_eval result is known without parsing (literal_eval is most of the
# cost of reading big inventories): a decimal int; names (dotted or dashed: a name is never a
# literal) whose first word is not True, False or None; words with a colon (an address:
# a colon outside brackets is never an expression); dotted numbers (IPv4).
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_NAME_LIKE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:[.-][A-Za-z0-9_]+)*")
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.-]*:[A-Za-z0-9_.:-]*|[0-9]+(?:\.[0-9]+){2,}")
_CONSTANTS = frozenset(("True", "False", "None"))


@dataclass
class _State:
    group: str = "ungrouped"
    kind: str = "hosts"
    # group -> (line, kind, [(parent, line of the edge)]) for groups named before their section
    pending: dict[str, tuple[int, str, list[tuple[str, int]]]] = field(default_factory=dict)
    section_vars: dict[str, int] = field(default_factory=dict)  # var -> line, in this section


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
            _vars_line(line, path, number, builder, state)
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
    builder.add_group(name, Location(path, number))
    if name in state.pending and kind != "vars":
        _declare(name, path, builder, state)
    state.group, state.kind = name, kind
    state.section_vars = {}


def _declare(name: str, path: str, builder: Builder, state: _State) -> None:
    _line, kind, parents = state.pending.pop(name)
    if kind == "children":
        for parent, line in parents:
            builder.add_child(parent, name, Location(path, line))


def _host_line(line: str, path: str, number: int, builder: Builder, group: str) -> None:
    try:
        if _PLAIN_LINE.fullmatch(line):
            tokens = [word for word in _SHLEX_SPACE.split(line) if word]
        else:
            tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InputError(f"cannot parse host line {line!r}: {exc}", path, number) from None
    if not tokens:
        return
    if tokens[0] == "---":
        raise InputError("'---' is not a host name (is this a YAML file?)", path, number)
    here = Location(path, number)
    names, port = builder.host_names(tokens[0], here)
    assignments = _host_vars(tokens[1:], path, number)
    for name in names:
        builder.add_host(name, group, port, here)
        for key, value in assignments:
            builder.set_host_var(name, key, value, here)


def _host_vars(tokens: list[str], path: str, number: int) -> list[tuple[str, Any]]:
    """The key=value words after a host name; a key given twice is refused (Ansible keeps
    the last silently)."""
    words: dict[str, str] = {}
    for token in tokens:
        key, sep, _value = token.partition("=")
        if not sep or not key:
            raise InputError(f"expected key=value after the host name, got {token!r}", path, number)
        if key in words:
            raise InputError(
                f"variable {key!r} is set twice on this host line ({words[key]!r} and {token!r})",
                path,
                number,
            )
        words[key] = token
    return [(key, parse_value(token.partition("=")[2])) for key, token in words.items()]


def _vars_line(line: str, path: str, number: int, builder: Builder, state: _State) -> None:
    key, sep, value = line.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"expected key=value in [{state.group}:vars], got {line!r}", path, number)
    if key in state.section_vars:
        raise InputError(
            f"variable {key!r} is set twice in [{state.group}:vars]",
            path,
            number,
            also=[Location(path, state.section_vars[key])],
        )
    state.section_vars[key] = number
    builder.set_group_var(state.group, key, parse_value(value.strip()), Location(path, number))


def _child_line(line: str, path: str, number: int, builder: Builder, state: _State) -> None:
    match = _GROUP_LINE.match(line)
    if not match:
        raise InputError(
            f"expected a group name in [{state.group}:children], got {line!r}", path, number
        )
    child = match.group(1)
    if child in builder.groups:
        builder.add_child(state.group, child, Location(path, number))
    elif child in state.pending:
        state.pending[child][2].append((state.group, number))
    else:
        state.pending[child] = (number, "children", [(state.group, number)])


def _check_pending(state: _State, path: str) -> None:
    for name, (number, kind, parents) in state.pending.items():
        if kind == "vars":
            raise InputError(f"section [{name}:vars] names undefined group {name!r}", path, number)
        (first, line), *others = parents
        raise InputError(
            f"section [{first}:children] names undefined group {name!r}",
            path,
            line,
            also=[Location(path, other_line) for _other, other_line in others],
        )


def parse_value(text: str) -> Any:
    """Type an INI value the way Ansible does: a Python literal if it is one, else the string."""
    if _DECIMAL.fullmatch(text):
        return int(text)
    name = _NAME_LIKE.fullmatch(text)
    if (name and name.group(1) not in _CONSTANTS) or _PLAIN_TEXT.fullmatch(text):
        return text
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
