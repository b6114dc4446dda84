"""Safe YAML loading and the checks every input file gets (size, UTF-8, control characters),
shared by the inventory, playbook and -e loaders.

`load_yaml(path)` returns ruamel round-trip data: mappings and sequences are
dict/list subclasses that remember where they came from, so `line_of(node,
key_or_index)` can name the line of any entry. Every problem becomes an
`InputError` with file and line: unreadable files, files over their SizeLimit (refused
unread) or MAX_NODES, non-UTF-8 bytes and control characters (line and column; `read_text`
applies the same to INI files), syntax errors (tabs included), duplicate keys (both lines),
explicit tags (all but `!vault` on a scalar), alias bombs and multi-document streams.
`plain(data)` strips the ruamel types for storage; `kind_of`, `describe` and `shown` word
values for messages in YAML's terms.

Ansible Vault: a `!vault` scalar is decrypted with the `vault` secrets the caller passes
(rorunner.vault.VaultSecrets; none given: an error naming the file and line) into a
`model.Secret`. A whole file encrypted with ansible-vault is read only where the caller
allows it (`encrypted_ok`: vars files); every scalar value in it then becomes a Secret.
"""

from __future__ import annotations

import codecs
import datetime
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.constructor import RoundTripConstructor
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

from rorunner.errors import InputError, Location
from rorunner.model import Secret

if TYPE_CHECKING:
    from rorunner.vault import VaultSecrets

KIB = 1024
MIB = 1024 * KIB
MAX_EXPANDED_NODES = 2_000_000
# Parsing costs per node: this bounds a file within YAML_LIMIT written densely (`[1,1,1,...]`
# holds 260,000 nodes in 512 KiB) to a few seconds; typical files hold under 50,000.
MAX_NODES = 100_000
# Outside YAML 1.2's printable set (tab, line breaks, \x20-\x7e, \x85, \xa0-\ud7ff,
# \ue000-\ufffd, \U00010000-\U0010ffff): every other control character, surrogate and
# non-character. Written as the complement of that set because compiling the set itself, a
# negated class over the astral planes, costs ~7 ms at every start (tests/test_input_limits).
_NOT_PRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"
)
_CHARACTER_NAMES = {0: "NUL", 0x1B: "ESC", 0x7F: "DEL"}


@dataclass(frozen=True)
class SizeLimit:
    """The largest file of one kind that is read at all: larger ones are refused unparsed."""

    kind: str  # how the error names the files, e.g. "YAML files"
    max_bytes: int


# ruamel's pure-Python loader needs 4-8 s of CPU per MiB of typical YAML (more for dense
# flow lists), so YAML files stay well below what a hand-written playbook or vars file reaches.
YAML_LIMIT = SizeLimit("YAML files (playbooks, role.yml, vars files, YAML inventories)", 512 * KIB)
# Line-oriented files: 100,000 INI hosts of 80 bytes each fit (the planned scale; ranges and
# `ansible_connection=local` lines need far less).
TEXT_LIMIT = SizeLimit("INI inventories and pattern files", 8 * MIB)


def read_text(path: str | Path, limit: SizeLimit = TEXT_LIMIT) -> str:
    """Read a UTF-8 text file, refusing missing, unreadable, oversize or non-UTF-8 files and
    control characters (see `check_text`)."""
    return decode_utf8(read_bytes(path, limit), str(path))


def read_bytes(path: str | Path, limit: SizeLimit = TEXT_LIMIT) -> bytes:
    """Read a file's bytes, refusing missing, unreadable or oversize files (before reading)."""
    name = str(path)
    try:
        with open(path, "rb") as stream:
            _check_size(os.fstat(stream.fileno()).st_size, name, limit)
            data = stream.read(limit.max_bytes + 1)  # a pipe or a growing file has no size
    except FileNotFoundError:
        raise InputError("no such file", name) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", name) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", name) from None
    _check_size(len(data), name, limit)
    return data


def _check_size(size: int, path: str, limit: SizeLimit) -> None:
    if size > limit.max_bytes:
        raise InputError(
            f"file is too large: {_size(size)} ({size} bytes); {limit.kind} are limited to "
            f"{_size(limit.max_bytes)} ({limit.max_bytes} bytes)",
            path,
        )


def _size(size: int) -> str:
    """`9.5 MiB`, `512 KiB`: one decimal at most, for reading (the exact count goes beside)."""
    unit, scale = ("MiB", MIB) if size >= MIB else ("KiB", KIB) if size >= KIB else ("bytes", 1)
    return f"{round(size / scale, 1):g} {unit}"


def decode_utf8(data: bytes, path: str) -> str:
    """Decode UTF-8 (a leading BOM is dropped) and `check_text`; errors name line and column."""
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line, column = _line_column(good, len(good))
        raise InputError(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at column {column}", path, line
        ) from None
    check_text(text, path)
    return text


def check_text(text: str, path: str) -> None:
    """Refuse what YAML forbids, in every text file (INI too): control characters other than
    tab and line breaks (NUL included), DEL, C1 controls, U+FFFE/U+FFFF; named by line."""
    bad = _NOT_PRINTABLE.search(text)
    if bad is None:
        return
    code = ord(bad.group())
    name = f" ({_CHARACTER_NAMES[code]})" if code in _CHARACTER_NAMES else ""
    line, column = _line_column(text, bad.start())
    raise InputError(
        f"control character U+{code:04X}{name} at column {column} is not allowed", path, line
    )


def _line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of `text[pos]`, counting line breaks as the parsers do."""
    lines = (text[:pos] + "x").splitlines()
    return len(lines), len(lines[-1])


VAULT_TAG = "!vault"
VAULT_HEADER = "$ANSIBLE_VAULT;"


@dataclass(frozen=True)
class _Vaulted:
    """A `!vault` scalar as loaded, before decryption."""

    text: str
    line: int


def load_yaml(
    path: str | Path,
    vault: VaultSecrets | None = None,
    *,
    encrypted_ok: bool = False,
    kind: str = "YAML files",
) -> Any:
    """Load one YAML file safely (at most YAML_LIMIT); mappings/sequences keep their lines.

    A file encrypted as a whole is decrypted when `encrypted_ok` (its values become
    Secrets), else refused as one of `kind` (e.g. "playbooks")."""
    name = str(path)
    text = read_text(path, YAML_LIMIT)
    if text.startswith(VAULT_HEADER):
        if not encrypted_ok:
            raise InputError(
                f"vault-encrypted {kind} are not supported: encrypt vars files (group_vars, "
                "host_vars, -e @file) or single values (!vault)",
                name,
                1,
            )
        return secret_values(parse_yaml(_decrypt(text, vault, name, 1).reveal(), name, vault))
    return parse_yaml(text, name, vault)


def parse_yaml(text: str, path: str = "<string>", vault: VaultSecrets | None = None) -> Any:
    """Parse YAML text safely (see module doc); `path` names the source in errors."""
    check_text(text, path)
    loader = _loader(path)
    try:
        data = loader.load(text)
    except MarkedYAMLError as exc:
        raise _marked_error(exc, path) from None
    except YAMLError as exc:  # pragma: no cover - every ruamel load error we know is marked
        raise InputError(f"invalid YAML: {exc}", path) from None
    if getattr(loader.Parser, "vaulted", False):
        data = _decrypt_values(data, path, vault)
    return data


def _decrypt(text: str, vault: VaultSecrets | None, path: str, line: int) -> Secret:
    from rorunner.vault import VaultSecrets, decrypt  # noqa: PLC0415 - cryptography: only now

    return decrypt(text, vault if vault is not None else VaultSecrets(), path, line)


def _decrypt_values(data: Any, path: str, vault: VaultSecrets | None) -> Any:
    """Replace each loaded `!vault` scalar by its decrypted Secret (in place: lines stay)."""
    if isinstance(data, _Vaulted):
        return _decrypt(data.text, vault, path, data.line)
    if isinstance(data, dict):
        for key in list(data):
            data[key] = _decrypt_values(data[key], path, vault)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            data[index] = _decrypt_values(item, path, vault)
    return data


def secret_values(data: Any) -> Any:
    """Every scalar value of decrypted vault data as a Secret (keys stay as written; numbers
    and booleans become their text, as a `!vault` value is text); in place."""
    if isinstance(data, dict):
        for key in list(data):
            data[key] = secret_values(data[key])
        return data
    if isinstance(data, list):
        for index, item in enumerate(data):
            data[index] = secret_values(item)
        return data
    if data is None or isinstance(data, Secret):
        return data
    if isinstance(data, str):
        return Secret(str(data))
    return Secret(shown(data, limit=1 << 20).strip("'"))


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


def shorthand_mapping(key: Any, line: int) -> Any:
    """`{key: null}` written at `line` (`hosts: web1` stands for `hosts: {web1: }`)."""
    data = CommentedMap({key: None})
    data._yaml_set_line_col(line - 1, 0)
    data._yaml_set_kv_line_col(key, [line - 1, 0, line - 1, 0])
    return data


_SCALARS: tuple[type, ...] = (bool, int, float, str)
_KINDS: tuple[tuple[type, str], ...] = (
    (Secret, "a vault-encrypted value"),
    (Mapping, "a mapping"),
    (list, "a list"),
    (tuple, "a list"),  # a list used as a key is a tuple
    (str, "a string"),
    (bool, "a boolean"),  # before int: bool is an int subclass
    (int, "an integer"),
    (float, "a number"),
    (datetime.date, "a date"),
    (type(None), "empty"),
)


def kind_of(value: Any) -> str:
    """The user's name for the YAML type of `value` ("a mapping", "a list", "a string", ...)."""
    return next((name for kind, name in _KINDS if isinstance(value, kind)), "a value")


def describe(value: Any) -> str:
    """`a mapping`, `a list`, or a scalar's kind and value (`a string 'web1'`, `an integer 5`)."""
    if isinstance(value, Mapping | list | tuple) or value is None:
        return kind_of(value)
    return f"{kind_of(value)} {shown(value)}"


def shown(value: Any, limit: int = 60) -> str:
    """`value` for a message, spelt as in the file where YAML kept it ('text', 0x1f, 1.50,
    true, null, 2024-01-02, [a, b], {k: v}), cut after about `limit` characters; a secret
    is masked."""
    text = _flow(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str | Secret):
        return str(value) if isinstance(value, Secret) else repr(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    # Numbers and dates: ruamel's round-trip types remember their spelling (0x1f, 1.50, 1_000).
    stream = io.StringIO()
    YAML(typ="rt", pure=True).dump([value], stream)
    return stream.getvalue().strip().removeprefix("- ")


def plain(data: Any) -> Any:
    """Copy YAML data into plain dict/list/str/int/float/bool/None (dates become ISO strings)."""
    if isinstance(data, Mapping):
        return {plain(k): plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [plain(v) for v in data]
    if data is None or isinstance(data, Secret):
        return data
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
    yaml.Constructor = _constructor(path)
    return yaml


def _construct_vault(constructor: Any, node: Any) -> _Vaulted:
    return _Vaulted(str(node.value), node.start_mark.line + 1)


def _constructor(path: str) -> type[RoundTripConstructor]:
    """A constructor whose duplicate-key error names both lines; `!vault` scalars are kept
    for decryption."""

    class StrictConstructor(RoundTripConstructor):
        def check_mapping_key(
            self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any
        ) -> bool:
            if key in mapping:
                first = line_of(mapping, key)
                raise InputError(
                    f"duplicate key {shown(key)}",
                    path,
                    key_node.start_mark.line + 1,
                    also=[Location(path, first)] if first else (),
                )
            return True

    StrictConstructor.add_constructor(VAULT_TAG, _construct_vault)
    return StrictConstructor


def _checking_parser(path: str) -> type[RoundTripParser]:
    """A parser that checks every event as the loader pulls it: one pass, nothing expanded."""

    class CheckingParser(RoundTripParser):
        vaulted = False  # whether a `!vault` scalar was seen (set on the class: one per load)

        def __init__(self, loader: Any) -> None:
            super().__init__(loader)
            self._checker = _EventChecker(path)

        def get_event(self) -> Any:
            event = super().get_event()
            if self._checker.see(event):
                type(self).vaulted = True
            return event

    return CheckingParser


class _EventChecker:
    """Refuses explicit tags (but `!vault` on a scalar), several documents, more than
    MAX_NODES nodes as written, and aliases that expand past MAX_EXPANDED_NODES."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sizes: dict[str, int] = {}  # anchor -> expanded node count
        self.stack: list[tuple[str | None, int]] = []  # open collections: (anchor, count)
        self.documents = 0
        self.total = 0
        self.written = 0  # nodes as written (an alias counts once)

    def see(self, event: Event) -> bool:
        """Check one event; True when it is a `!vault` scalar."""
        line = event.start_mark.line + 1 if event.start_mark else 0
        vaulted = False
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise InputError("only one YAML document is allowed per file", self.path, line)
        if isinstance(event, NodeEvent | CollectionStartEvent):
            vaulted = self._check_tag(event, line)
            self.written += 1
            if self.written > MAX_NODES:
                raise InputError(
                    f"more than {MAX_NODES} YAML nodes (keys, values, lists and mappings) in "
                    "one file; split it",
                    self.path,
                    line,
                )
        self._count(event, line)
        return vaulted

    def _check_tag(self, event: Event, line: int) -> bool:
        tag = getattr(event, "tag", None)
        if tag is None:
            return False
        value = str(getattr(tag, "value", tag))
        if value == VAULT_TAG and isinstance(event, ScalarEvent):
            return True
        # No other explicit tag: python objects, !unsafe, and even !!str (which the
        # round-trip loader would hand back as a TaggedScalar instead of a str).
        raise InputError(
            f"YAML tags are not allowed (found {value!r}; only {VAULT_TAG} on a value is)",
            self.path,
            line,
        )

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
    if "'\\t'" in problem:
        problem = "tab character where YAML expects indentation or a token (use spaces)"
    return InputError(f"invalid YAML: {problem}", path, line)
