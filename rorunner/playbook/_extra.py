"""Extra variables (`-e`): `k=v` words, an inline YAML/JSON mapping, or `@file`, checked alike.

Whatever the form, every name must be a valid variable name (as play vars): a bad one is an
InputError (exit 3) at `file:line` for `@file`, `<-e #N>:line` for an inline mapping and
`<-e #N>` for words. A word that is none of the three forms is a UsageError (exit 5): the
option itself is misspelt.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rorunner.errors import InputError, UsageError
from rorunner.playbook._node import Node
from rorunner.safe_yaml import load_yaml, parse_yaml

if TYPE_CHECKING:
    from rorunner.vault import VaultSecrets


def load_extra_vars(values: Sequence[str], vault: VaultSecrets | None = None) -> dict[str, Any]:
    """Merge `-e` values left to right (a later value of a name replaces an earlier one).

    An `@file` may be vault-encrypted as a whole or hold `!vault` values (decrypted with
    `vault`; their values are secrets)."""
    merged: dict[str, Any] = {}
    for index, value in enumerate(values, start=1):
        merged.update(_one(value.strip(), f"<-e #{index}>", vault))
    return merged


def _one(text: str, label: str, vault: VaultSecrets | None) -> dict[str, Any]:
    if text.startswith("@"):
        return _variables(load_yaml(text[1:], vault, encrypted_ok=True), text[1:])
    if text.startswith("{"):
        return _variables(parse_yaml(text, label, vault), label)
    return _pairs(text, label)


def _variables(data: Any, path: str) -> dict[str, Any]:
    node = Node(data, path, 1, "extra vars")
    if data is None:
        node.fail("extra vars must be a mapping, not empty")
    return node.variables()


def _pairs(text: str, label: str) -> dict[str, Any]:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"-e {text!r}: {exc}") from None
    pairs: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise UsageError(f"-e expects key=value, a mapping or @file, got {word!r}")
        if not key.isidentifier():
            raise InputError(f"{key!r} is not a valid variable name (in {word!r})", label)
        pairs[key] = value
    return pairs
