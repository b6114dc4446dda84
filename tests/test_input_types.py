"""Every place that checks a YAML type, fed every YAML kind: messages speak the user's terms.

Each slot below is a document with `X` where a value (or a key) goes; each kind is put there.
Whatever is refused must say so with the user's words (a mapping, a list, a string, true,
null...), never a Python or ruamel type name (CommentedMap, str, NoneType, ScalarFloat...) or a
Python spelling (True, None) that the file does not contain.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rorunner.errors import InputError
from rorunner.inventory import load_inventory
from rorunner.playbook import load_extra_vars, load_playbook

# kind -> its YAML text (flow style, so that it fits any slot)
KINDS = {
    "mapping": "{a: 1}",
    "list": "[1, 2]",
    "string": "'text'",
    "integer": "12",
    "hex": "0x1f",
    "float": "1.50",
    "boolean": "true",
    "null": "null",
    "empty": "",
    "date": "2024-01-02",
    "timestamp": "2024-01-02 03:04:05",
    "block": "|\n    block text\n",
    "anchored": "&x 12",
}
KEY_KINDS = ("integer", "float", "boolean", "null", "date", "list", "mapping")
FORBIDDEN = re.compile(
    r"Commented|Scalar|TaggedScalar|NoneType|ruamel|<class|\b(dict|str|int|float|bool)\b"
    r"|datetime|HexInt|Literal|\bTrue\b|\bFalse\b|\bNone\b"
)

PLAY = "- hosts: all\n  "
RTAS = PLAY + "rtas:\n    - name: u\n      "
PLAYBOOK_SLOTS = [
    "X",
    "- X",
    "- hosts: X",
    PLAY + "name: X",
    PLAY + "vars: X",
    PLAY + "roles: X",
    PLAY + "roles: [X]",
    PLAY + "roles: [{role: X}]",
    PLAY + "roles: [{role: r, vars: X}]",
    PLAY + "rtas: X",
    PLAY + "rtas: [X]",
    PLAY + "rtas: [{name: X}]",
    PLAY + "serial: X",
    PLAY + "serial: [X]",
    PLAY + "max_fail_percentage: X",
    PLAY + "remote_dir: X",
    PLAY + "fetch_dir: X",
    RTAS + "local_pre: X",
    RTAS + "local_pre: [X]",
    RTAS + "remote: [{run: X}]",
    RTAS + "remote: [{run: a, name: X}]",
    RTAS + "local_pre: [{run: a, creates: X}]",
    RTAS + "local_pre: [{run: a, creates: [X]}]",
    RTAS + "remote: [{run: a, always: X}]",
    RTAS + "remote: [{run: a, timeout: X}]",
    RTAS + "ship: X",
    RTAS + "ship: [X]",
    RTAS + "ship: [{src: X}]",
    RTAS + "ship: [{src: a, dest: X}]",
    RTAS + "ship: [{src: a, mode: X}]",
    RTAS + "fetch: [X]",
    RTAS + "fetch: [{src: X}]",
]
PLAYBOOK_KEY_SLOTS = ["- {hosts: all, X: 1}", PLAY + "vars: {X: 1}", RTAS + "remote: [{X: 1}]"]
ROLE_SLOTS = ["X", "depends: X", "depends: [X]", "vars: X", "fetch: X", "fetch: [X]"]
ROLE_KEY_SLOTS = ["{X: 1}", "vars: {X: 1}"]
INVENTORY_SLOTS = [
    "X",
    "g: X",
    "g: {hosts: X}",
    "g: {vars: X}",
    "g: {children: X}",
    "g: {hosts: {h1: X}}",
    "g: {children: {c: X}}",
]
INVENTORY_KEY_SLOTS = ["{X: {}}", "g: {X: 1}", "g: {hosts: {X: {}}}", "g: {vars: {X: 1}}"]
VARS_SLOTS = ["X"]
VARS_KEY_SLOTS = ["{X: 1}"]


def _fill(slot: str, kind: str) -> str:
    text = KINDS[kind]
    if "\n" in text:  # a block scalar only fits where X ends a line
        if not slot.endswith("X"):
            text = "'block text'"
        else:
            return slot.replace("X", text.replace("\n", "\n" + " " * 8, 1)) + "\n"
    return slot.replace("X", text) + "\n"


def _cases(slots: list[str], kinds: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [(slot, kind) for slot in slots for kind in kinds]


def _message(load: object, path: Path) -> str | None:
    try:
        load(str(path))  # type: ignore[operator]
    except InputError as exc:
        return str(exc)
    return None


def _playbook(tmp_path: Path, text: str) -> str | None:
    (tmp_path / "roles" / "r").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "site.yml"
    path.write_text(text)
    return _message(load_playbook, path)


def _role(tmp_path: Path, text: str) -> str | None:
    (tmp_path / "roles" / "r").mkdir(parents=True, exist_ok=True)
    (tmp_path / "roles" / "r" / "role.yml").write_text(text)
    path = tmp_path / "site.yml"
    path.write_text("- hosts: all\n  roles: [r]\n")
    return _message(load_playbook, path)


def _inventory(tmp_path: Path, text: str) -> str | None:
    path = tmp_path / "hosts.yml"
    path.write_text(text)
    return _message(load_inventory, path)


def _vars_file(tmp_path: Path, text: str) -> str | None:
    (tmp_path / "group_vars").mkdir(exist_ok=True)
    (tmp_path / "group_vars" / "all.yml").write_text(text)
    path = tmp_path / "hosts.ini"
    path.write_text("h1\n")
    return _message(load_inventory, path)


def _extra_inline(tmp_path: Path, text: str) -> str | None:
    def load(_: str) -> object:
        return load_extra_vars([text.strip() if text.strip().startswith("{") else "{x: " + text])

    return _message(load, tmp_path)


def _extra_file(tmp_path: Path, text: str) -> str | None:
    path = tmp_path / "extra.yml"
    path.write_text(text)
    return _message(lambda p: load_extra_vars([f"@{p}"]), path)


LOADERS = {
    "playbook": (
        _playbook,
        _cases(PLAYBOOK_SLOTS, list(KINDS)) + _cases(PLAYBOOK_KEY_SLOTS, KEY_KINDS),
    ),
    "role.yml": (_role, _cases(ROLE_SLOTS, list(KINDS)) + _cases(ROLE_KEY_SLOTS, KEY_KINDS)),
    "inventory": (
        _inventory,
        _cases(INVENTORY_SLOTS, list(KINDS)) + _cases(INVENTORY_KEY_SLOTS, KEY_KINDS),
    ),
    "vars file": (_vars_file, _cases(VARS_SLOTS, list(KINDS)) + _cases(VARS_KEY_SLOTS, KEY_KINDS)),
    "-e @file": (_extra_file, _cases(VARS_SLOTS, list(KINDS)) + _cases(VARS_KEY_SLOTS, KEY_KINDS)),
    "-e inline": (_extra_inline, _cases(VARS_KEY_SLOTS, KEY_KINDS)),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_type_errors_use_the_users_words(tmp_path: Path, loader: str) -> None:
    load, cases = LOADERS[loader]
    refused = 0
    leaks = []
    for index, (slot, kind) in enumerate(cases):
        where = tmp_path / str(index)
        where.mkdir()
        message = load(where, _fill(slot, kind))
        if message is None:
            continue
        refused += 1
        if FORBIDDEN.search(message.replace(str(where), "")):
            leaks.append(f"{slot!r} with {kind}: {message}")
    assert leaks == []
    assert refused >= len(cases) // 3, f"only {refused} of {len(cases)} refused"
