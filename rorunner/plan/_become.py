"""Who each step of one unit acts as on its host: the login user, or a become user (and
the signing key of steps whose inputs hold a secret).

Every user a unit acts as has a work dir of its own (its `remote_dir` under that user's
home), so the unit's ship step is planned once per user: `files` for the unit's own user
(its play and unit keys), `files@USER` (`files@login`: no become) for each other user that
one of its remote steps becomes. Fetch acts as the unit's user; local steps run on the
controller as the user running rorunner.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rorunner.become import VARS, resolve_become
from rorunner.errors import InputError, Location
from rorunner.model import Become, ConnectionDefaults, ConnectionSpec
from rorunner.plan._vars import Layer, origin
from rorunner.playbook import FILES_STEP, Play, StepEntry, Unit

SigningKey = Callable[[], bytes]
_PROCESS_KEY: list[bytes] = []


def process_key() -> bytes:
    """A random key for this process only (plans made without a project's signing key)."""
    if not _PROCESS_KEY:
        _PROCESS_KEY.append(secrets.token_bytes(32))
    return _PROCESS_KEY[0]


@functools.lru_cache(maxsize=256)
def become_digest(user: str, method: str) -> bytes:
    """What a become step adds to its own digest (nothing is added without become)."""
    return hashlib.sha256(f"become\0{user}\0{method}".encode()).digest()


class UnitBecomes:
    """The Become of the unit and of each of its remote steps, for one host."""

    def __init__(
        self,
        defaults: ConnectionDefaults,
        play: Play,
        unit: Unit,
        variables: Mapping[str, Any],
        conn: ConnectionSpec,
        layers: Sequence[Layer],
    ) -> None:
        self.conn = conn

        def where(name: str) -> Location:
            return origin(layers, name)

        levels = [play.become, unit.become]
        if not (
            defaults.become or any_become_keys(play, unit) or any(v in variables for v in VARS)
        ):
            self.unit, self.steps, self.nobody = None, {}, True  # the usual case: no sudo
            return
        self.unit = resolve_become(defaults, levels, variables, where)
        self.steps = {
            entry.name: resolve_become(defaults, [*levels, entry.become], variables, where)
            for entry in unit.steps
            if entry.phase == "remote"
        }
        self.nobody = self.unit is None and not any(self.steps.values())  # the usual case
        if conn.connection == "local" and not self.nobody:
            for entry in unit.steps:
                self._refuse_local_host(entry)

    def _refuse_local_host(self, entry: StepEntry) -> None:
        become = self.steps.get(entry.name) if entry.phase == "remote" else self.unit
        if become is not None and entry.phase not in ("local_pre", "local_post"):
            raise InputError.at(
                f"host {self.conn.label or self.conn.address!r} is ansible_connection=local: "
                "become is not supported there",
                entry.at,
            )

    def of(self, entry: StepEntry) -> list[tuple[str, ConnectionSpec, bytes]]:
        """(step name, connection, digest addition) of each step planned for one entry."""
        if self.nobody:
            return [(entry.name, self.conn, b"")]
        if entry.phase == "remote":
            return [self._step(entry.name, self.steps[entry.name])]
        if entry.phase == "fetch":
            return [self._step(entry.name, self.unit)]
        if entry.phase != "ship":
            return [(entry.name, self.conn, b"")]
        users: dict[str | None, Become | None] = {_user(self.unit): self.unit}
        for become in self.steps.values():
            users.setdefault(_user(become), become)
        own = _user(self.unit)
        return [
            self._step(FILES_STEP if user == own else f"{FILES_STEP}@{user or 'login'}", become)
            for user, become in users.items()
        ]

    def _step(self, name: str, become: Become | None) -> tuple[str, ConnectionSpec, bytes]:
        if become is None:
            return name, self.conn, b""
        conn = dataclasses.replace(self.conn, become=become)
        return name, conn, become_digest(become.user, become.method)


def any_become_keys(play: Play, unit: Unit) -> bool:
    """Whether the play, the unit or one of its steps says anything about become."""
    return bool(play.become or unit.become or any(entry.become for entry in unit.steps))


def _user(become: Become | None) -> str | None:
    return become.user if become else None
