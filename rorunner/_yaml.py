"""Safe YAML loading shared by the inventory and playbook loaders.

`load_yaml(path)` returns ruamel round-trip data: mappings and sequences are
dict/list subclasses that remember where they came from, so `line_of(node,
key_or_index)` can name the line of any entry. Every problem becomes an
`InputError` with file and line: unreadable or oversize files, non-UTF-8 bytes,
syntax errors (tabs included), duplicate keys, explicit tags (any), alias bombs and
multi-document streams. `plain(data)` strips the ruamel types for storage.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    NodeEvent,
    ScalarEvent,
)

from rorunner.errors import InputError

MAX_BYTES = 64 * 1024 * 1024
MAX_EXPANDED_NODES = 2_000_000


def read_text(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """Read a UTF-8 text file, refusing missing, unreadable, oversize or non-UTF-8 files."""
    name = str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError("no such file", name) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", name) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", name) from None
    if len(data) > max_bytes:
        raise InputError(f"file is larger than {max_bytes} bytes", name)
    return decode_utf8(data, name)


def decode_utf8(data: bytes, path: str) -> str:
    """Decode bytes as UTF-8 (a BOM is dropped); bad bytes are an error naming their line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise InputError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})",
            path,
            line,
        ) from None


def load_yaml(path: str | Path) -> Any:
    """Load one YAML document safely; mappings/sequences keep their line numbers."""
    return parse_yaml(read_text(path), str(path))


def parse_yaml(text: str, path: str = "<string>") -> Any:
    """Parse YAML text safely (see module doc); `path` names the source in errors."""
    _check_events(_events(text, path), path)
    try:
        return _loader().load(text)
    except MarkedYAMLError as exc:
        raise _marked_error(exc, path) from None
    except YAMLError as exc:  # pragma: no cover - every ruamel load error we know is marked
        raise InputError(f"invalid YAML: {exc}", path) from None


def line_of(node: Any, key: Any = None) -> int:
    """1-based line of `node[key]` (a mapping key or sequence index), or of `node`; 0 if unknown."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return 0
    try:
        if key is None:
            return int(lc.line) + 1
        if isinstance(node, Mapping):
            return int(lc.key(key)[0]) + 1
        return int(lc.item(key)[0]) + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return int(lc.line) + 1 if lc.line is not None else 0


_SCALARS: tuple[type, ...] = (bool, int, float, str)


def plain(data: Any) -> Any:
    """Copy YAML data into plain dict/list/str/int/float/bool/None (dates become ISO strings)."""
    if isinstance(data, Mapping):
        return {plain(k): plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [plain(v) for v in data]
    if data is None:
        return None
    for kind in _SCALARS:  # bool before int: bool is an int subclass
        if isinstance(data, kind):
            return kind(data)
    if isinstance(data, datetime.date | datetime.datetime):
        return data.isoformat()
    return str(data)  # pragma: no cover - the safe loader builds nothing else


def _loader() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    return yaml


def _events(text: str, path: str) -> list[Event]:
    try:
        return list(_loader().parse(io.StringIO(text)))
    except MarkedYAMLError as exc:
        raise _marked_error(exc, path) from None


def _check_events(events: Iterable[Event], path: str) -> None:
    """Refuse explicit tags, several documents, and aliases that expand past the node cap."""
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []
    documents = total = 0
    for event in events:
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise InputError("only one YAML document is allowed per file", path, line)
        if isinstance(event, NodeEvent | CollectionStartEvent):
            _check_tag(event, path, line)
        size = _event_size(event, sizes, stack, path, line)
        if size:
            total += size
            if total > MAX_EXPANDED_NODES:
                raise InputError(
                    f"YAML aliases expand past {MAX_EXPANDED_NODES} nodes (alias bomb?)", path, line
                )


def _check_tag(event: Event, path: str, line: int) -> None:
    tag = getattr(event, "tag", None)
    if tag is None:
        return
    value = str(getattr(tag, "value", tag))
    # No explicit tag at all: python objects, !vault, !unsafe, and even !!str (which the
    # round-trip loader would hand back as a TaggedScalar instead of a str).
    raise InputError(f"YAML tags are not allowed (found {value!r})", path, line)


def _event_size(
    event: Event, sizes: dict[str, int], stack: list[tuple[str | None, int]], path: str, line: int
) -> int:
    """Track expanded node sizes; return the size of a just-completed top-level node."""
    if isinstance(event, CollectionStartEvent):
        stack.append((event.anchor, 1))
        return 0
    if isinstance(event, ScalarEvent):
        size = 1
        if event.anchor:
            sizes[event.anchor] = 1
    elif isinstance(event, AliasEvent):
        if event.anchor not in sizes:
            raise InputError(f"unknown YAML alias *{event.anchor}", path, line)
        size = sizes[event.anchor]
    elif isinstance(event, CollectionEndEvent):
        anchor, size = stack.pop()
        if anchor:
            sizes[anchor] = size
    else:
        return 0
    if stack:
        anchor, count = stack[-1]
        stack[-1] = (anchor, count + size)
        if count + size > MAX_EXPANDED_NODES:
            raise InputError(
                f"YAML aliases expand past {MAX_EXPANDED_NODES} nodes (alias bomb?)", path, line
            )
        return 0
    return size


def _marked_error(exc: MarkedYAMLError, path: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    problem = exc.problem or exc.context or "invalid YAML"
    if "duplicate key" in problem:
        problem = problem.split(" with value")[0]
    if "'\\t'" in problem:
        problem = "tab character where YAML expects indentation or a token (use spaces)"
    return InputError(f"invalid YAML: {problem}", path, line)
