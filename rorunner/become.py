"""Privilege escalation settings: Ansible's `become` family, checked and merged (sudo only).

Precedence, as Ansible's (lowest first): the command line (`-b`, `--become-user`, `-K`),
then the playbook keywords from the outermost level in (play, unit, step: the innermost one
written wins), then the variables `ansible_become`, `ansible_become_user`,
`ansible_become_method` and `ansible_become_password` (alias `ansible_become_pass`) from
wherever the host's variables come from (inventory, play vars, `-e`: their own precedence).
`become_user` defaults to root; `become_method` can only be `sudo`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rorunner.errors import InputError, Location
from rorunner.model import BECOME_METHODS, Become, ConnectionDefaults, Secret, reveal

BECOME_KEYS = ("become", "become_user", "become_method")
PASSWORD_VARS = ("ansible_become_password", "ansible_become_pass")
# The variables that can make a step become (or be refused: a bad ansible_become_method).
VARS = ("ansible_become", "ansible_become_user", "ansible_become_method")
DEFAULT_USER = "root"
# What sudo accepts after -u: a user name or #uid; quoted anyway where it reaches a shell.
_USER = re.compile(r"(#[0-9]{1,10}|[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?)\Z")
_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})


@dataclass(frozen=True)
class BecomeKeys:
    """`become`, `become_user`, `become_method` as written at one level (None: not set)."""

    become: bool | None = None
    user: str | None = None
    method: str | None = None

    def __bool__(self) -> bool:
        return not (self.become is None and self.user is None and self.method is None)


def ansible_bool(value: Any) -> bool | None:
    """A boolean as Ansible reads one (true/false, yes/no, on/off, 1/0, ...), None if not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def check_bool(value: Any, what: str, at: Location) -> bool:
    """`value` as an Ansible boolean, or an InputError at `at`."""
    result = ansible_bool(reveal(value))
    if result is None:
        raise InputError.at(f"{what} must be true or false, not {_written(value)}", at)
    return result


def is_user(text: str) -> bool:
    """Whether `text` is a user name or #uid sudo takes."""
    return bool(_USER.match(text))


def check_user(value: Any, what: str, at: Location) -> str:
    """A become user: a user name or #uid."""
    text = reveal(value)
    if not isinstance(text, str) or not is_user(text):
        raise InputError.at(f"{what} must be a user name or #uid, not {_written(value)}", at)
    return text


def check_method(value: Any, what: str, at: Location) -> str:
    """A become method: only sudo."""
    text = reveal(value)
    if text not in BECOME_METHODS:
        known = ", ".join(BECOME_METHODS)
        raise InputError.at(
            f"{what} {_written(value)} is not supported (rorunner becomes with: {known})", at
        )
    return str(text)


def _written(value: Any) -> str:
    """A value for a message: quoted text, a number as is, a secret masked."""
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str | int | float) else type(value).__name__


Origin = Callable[[str], Location]


def resolve_become(
    defaults: ConnectionDefaults,
    levels: Sequence[BecomeKeys],
    variables: Mapping[str, Any],
    origin: Origin,
) -> Become | None:
    """The Become of one step (None: no escalation); `origin(var)` says where a var was set."""
    enabled = defaults.become
    user = defaults.become_user or DEFAULT_USER
    for level in levels:
        enabled = level.become if level.become is not None else enabled
        user = level.user if level.user is not None else user
    if variables.get("ansible_become") is not None:
        name = "ansible_become"
        enabled = check_bool(variables[name], name, origin(name))
    if variables.get("ansible_become_method") is not None:
        name = "ansible_become_method"
        check_method(variables[name], name, origin(name))
    if not enabled:
        return None
    if variables.get("ansible_become_user") is not None:
        name = "ansible_become_user"
        user = check_user(variables[name], name, origin(name))
    return Become(user=user, password=_password(defaults, variables))


def _password(defaults: ConnectionDefaults, variables: Mapping[str, Any]) -> Secret | None:
    for name in PASSWORD_VARS:
        value = variables.get(name)
        if value is not None:
            return value if isinstance(value, Secret) else Secret(str(reveal(value)))
    return defaults.become_password
