"""Per-host variables: precedence layers, lazy Jinja2 resolution of values, env for steps."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rorunner.errors import InputError, Location
from rorunner.plan._jinja import compiled, is_template, needed_names

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Secrets must not reach step environments (they end up in process listings of children).
_SECRET_VARS = re.compile(r"^ansible_.*(pass|password|secret)", re.IGNORECASE)


@dataclass(frozen=True)
class Layer:
    """One precedence level: values and where each was written."""

    values: Mapping[str, Any]
    at: Mapping[str, Location]
    fallback: Location  # for values with no recorded line (inventory vars)


def resolve(layers: Sequence[Layer], magic: Mapping[str, Any]) -> dict[str, Any]:
    """Merge layers (later wins; `magic` wins over all) and render templated values."""
    raw: dict[str, Any] = {}
    where: dict[str, Location] = {}
    for layer in layers:
        for name, value in layer.values.items():
            raw[name] = value
            where[name] = layer.at.get(name, layer.fallback)
    raw.update(magic)
    return _Resolver(raw, where).all()


class _Resolver:
    """Renders each variable once, after the variables it refers to; cycles are errors."""

    def __init__(self, raw: Mapping[str, Any], where: Mapping[str, Location]) -> None:
        self.raw = raw
        self.where = where
        self.done: dict[str, Any] = {}
        self.active: list[str] = []

    def all(self) -> dict[str, Any]:
        return {name: self.get(name) for name in self.raw}

    def get(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        if name in self.active:
            members = self.active[self.active.index(name) :]
            places = [self.where.get(member, Location("")) for member in members]
            cycle = " -> ".join([*members, name])
            message = f"variable refers to itself: {cycle}"
            raise InputError.at(message, places[0], [at for at in places[1:] if at.path])
        self.active.append(name)
        try:
            value = self._render(self.raw[name], name)
        except InputError:
            if not name.startswith("ansible_"):
                raise
            # Ansible's own settings may template Ansible-only facts: keep them as written.
            value = self.raw[name]
        finally:
            self.active.pop()
        self.done[name] = value
        return value

    def _render(self, value: Any, name: str) -> Any:
        if isinstance(value, str) and is_template(value):
            at = self.where.get(name, Location(""))
            needed = needed_names(value, at)
            context = {n: self.get(n) for n in sorted(needed) if n in self.raw}
            try:
                return compiled(value).render(context)
            except Exception as exc:  # undefined names and runtime errors alike are input errors
                message = getattr(exc, "message", None) or str(exc)
                raise InputError(
                    f"variable {name!r}: {message}", at.path or None, at.line
                ) from None
        if isinstance(value, list):
            return [self._render(item, name) for item in value]
        if isinstance(value, dict):
            return {key: self._render(item, name) for key, item in value.items()}
        return value


def env_value(value: Any) -> str:
    """How a variable reaches a step's environment: strings as-is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def step_env(
    variables: Mapping[str, Any], context: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    """The sorted environment of a step: every env-safe variable, then the RORUNNER_* context."""
    env = {
        name: env_value(value)
        for name, value in variables.items()
        if ENV_NAME.fullmatch(name) and not _SECRET_VARS.match(name)
    }
    env.update(context)
    return tuple(sorted(env.items()))
