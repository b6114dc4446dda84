"""Masking of command lines before they are recorded: extra-vars values never reach a record."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence

MASK = "********"
# Options whose value may carry secrets (-e db_password=...); their values are masked.
SECRET_VALUE_OPTIONS = ("-e", "--extra-vars")
# Short options known to take a value (other than -e): in a bundle such as `-vfe`, the
# scan for `e` stops at one of these (the rest is its value); any other letter is taken
# as a flag, so an unknown option can only make us mask more, never less.
_SHORT_WITH_VALUE = frozenset("ilfutTk")


def mask_argv(argv: Sequence[str]) -> list[str]:
    """argv with every -e/--extra-vars value masked (k=v keeps k; @file keeps the path)."""
    masked: list[str] = []
    expect_value = False
    for index, arg in enumerate(argv):
        if expect_value:
            masked.append(mask_extra_vars(arg))
            expect_value = False
        elif arg == "--":
            return masked + list(argv[index:])
        elif arg in SECRET_VALUE_OPTIONS:
            masked.append(arg)
            expect_value = True
        elif arg.startswith("--extra-vars="):
            masked.append("--extra-vars=" + mask_extra_vars(arg.split("=", 1)[1]))
        elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            word, expect_value = _mask_short_bundle(arg)
            masked.append(word)
        else:
            masked.append(arg)
    return masked


def _mask_short_bundle(arg: str) -> tuple[str, bool]:
    """(`arg` masked, whether the next argument is an -e value) for `-x`, `-xyz`, `-ek=v`."""
    for index, letter in enumerate(arg[1:], start=1):
        if letter in _SHORT_WITH_VALUE:
            return arg, False
        if letter == "e":
            rest = arg[index + 1 :]
            return (arg[: index + 1] + mask_extra_vars(rest), False) if rest else (arg, True)
    return arg, False


def mask_extra_vars(value: str) -> str:
    """One -e value with its values masked: `k=v k2=v2`, a JSON/YAML mapping, or @file."""
    text = value.strip()
    if text.startswith("@"):
        return value
    if text.startswith("{"):
        return _mask_mapping(text)
    try:
        words = shlex.split(text)
    except ValueError:
        return MASK
    return " ".join(_mask_pair(word) for word in words)


def _mask_pair(word: str) -> str:
    key, sep, _ = word.partition("=")
    return f"{key}={MASK}" if sep else MASK


def _mask_mapping(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return "{" + MASK + "}"  # YAML flow mapping or broken: keys unknown, all masked
    if not isinstance(data, dict):
        return MASK
    return json.dumps(dict.fromkeys(data, MASK), sort_keys=True)
