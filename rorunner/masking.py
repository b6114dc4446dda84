"""Text rorunner shows of what others wrote: secret-like variables' values masked, control
characters escaped.

Variables reach steps only through the environment, secret-like ones too (a step that
needs `db_password` gets it). What rorunner itself shows or keeps (failure reasons on
screen and in run records, `-v` output, dry-run input changes) never shows their values:
values of secret-like variables are replaced by MASK, and only their names are kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from rorunner.model import MASK, EnvValue, Secret

# A name is secret-like when one of its words (split at '_', '-' and case changes) is one of
# these: db_password, SECRET_KEY, api_token, vault_passphrase, aws_secret_access_key...
_SECRET_WORDS = frozenset(
    {"pass", "passwd", "password", "passphrase", "secret", "token", "credential", "credentials"}
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MIN_MASKED = 4  # shorter values are not masked: they would blank out ordinary text


@functools.lru_cache(maxsize=4096)  # asked per variable of every step that succeeds
def is_secret_name(name: str) -> bool:
    """Whether a variable's name marks its value as a secret (`db_secret`, `SECRET_KEY`...)."""
    words = {word.lower() for word in _WORD.findall(name)}
    return bool(words & _SECRET_WORDS) or "apikey" in words or "api_key" in name.lower()


def secret_values(env: Iterable[tuple[str, EnvValue]]) -> tuple[str, ...]:
    """The values of an environment's vault secrets and secret-like variables, longest first."""
    found = {
        value.reveal() if isinstance(value, Secret) else value
        for name, value in env
        if isinstance(value, Secret) or is_secret_name(name)
    }
    found = {value for value in found if len(value) >= MIN_MASKED}
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


def mask(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of each value replaced by MASK (longest values first)."""
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def printable(line: str) -> str:
    """A line of a command's output, safe to print: a trailing CR dropped, other control
    characters (escape sequences included) shown as \\xNN."""
    return _CONTROL.sub(_escape, line.rstrip("\r"))


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"
