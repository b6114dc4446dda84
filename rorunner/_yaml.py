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
from collections.abc import Mapping
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
from ruamel.yaml.parser import RoundTripParser

from rorunner.errors import InputError

MAX_BYTES = 64 * 1024 * 1024
MAX_EXPANDED_NODES = 2_000_000


def read_text(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """Read a UTF-8 text file, refusing missing, unreadable, oversize or non-UTF-8 files."""
    return decode_utf8(read_bytes(path, max_bytes), str(path))


def read_bytes(path: str | Path, max_bytes: int = MAX_BYTES) -> bytes:
    """Read a file's bytes, refusing missing, unreadable or oversize files."""
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
    return data


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
    try:
        return _loader(path).load(text)
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


def _loader(path: str) -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    yaml.Parser = _checking_parser(path)
    return yaml


def _checking_parser(path: str) -> type[RoundTripParser]:
    """A parser that checks every event as the loader pulls it: one pass, nothing expanded."""

    class CheckingParser(RoundTripParser):
        def __init__(self, loader: Any) -> None:
            super().__init__(loader)
            self._checker = _EventChecker(path)

        def get_event(self) -> Any:
            event = super().get_event()
            self._checker.see(event)
            return event

    return CheckingParser


class _EventChecker:
    """Refuses explicit tags, several documents, and aliases that expand past the node cap."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sizes: dict[str, int] = {}  # anchor -> expanded node count
        self.stack: list[tuple[str | None, int]] = []  # open collections: (anchor, count)
        self.documents = 0
        self.total = 0

    def see(self, event: Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise InputError("only one YAML document is allowed per file", self.path, line)
        if isinstance(event, NodeEvent | CollectionStartEvent):
            self._check_tag(event, line)
        self._count(event, line)

    def _check_tag(self, event: Event, line: int) -> None:
        tag = getattr(event, "tag", None)
        if tag is None:
            return
        value = str(getattr(tag, "value", tag))
        # No explicit tag at all: python objects, !vault, !unsafe, and even !!str (which the
        # round-trip loader would hand back as a TaggedScalar instead of a str).
        raise InputError(f"YAML tags are not allowed (found {value!r})", self.path, line)

    def _count(self, event: Event, line: int) -> None:
        if isinstance(event, CollectionStartEvent):
            self.stack.append((event.anchor, 1))
            return
        size = self._size(event, line)
        if size is None:
            return
        if self.stack:
            anchor, count = self.stack[-1]
            self.stack[-1] = (anchor, count + size)
            size = count + size
        else:
            self.total += size
            size = self.total
        if size > MAX_EXPANDED_NODES:
            raise InputError(
                f"YAML aliases expand past {MAX_EXPANDED_NODES} nodes (alias bomb?)",
                self.path,
                line,
            )

    def _size(self, event: Event, line: int) -> int | None:
        """Expanded size of the node an event completes (None: no node completed)."""
        if isinstance(event, ScalarEvent):
            if event.anchor:
                self.sizes[event.anchor] = 1
            return 1
        if isinstance(event, AliasEvent):
            if event.anchor not in self.sizes:
                raise InputError(f"unknown YAML alias *{event.anchor}", self.path, line)
            return self.sizes[event.anchor]
        if isinstance(event, CollectionEndEvent):
            anchor, size = self.stack.pop()
            if anchor:
                self.sizes[anchor] = size
            return size
        return None


def _marked_error(exc: MarkedYAMLError, path: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    problem = exc.problem or exc.context or "invalid YAML"
    if "duplicate key" in problem:
        problem = problem.split(" with value")[0]
    if "'\\t'" in problem:
        problem = "tab character where YAML expects indentation or a token (use spaces)"
    return InputError(f"invalid YAML: {problem}", path, line)
