"""Per-host variables: precedence layers, lazy Jinja2 resolution of values, env for steps."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from rorunner.errors import InputError, Location
from rorunner.model import Env, EnvValue, Secret, has_secret, reveal
from rorunner.plan._jinja import RenderMemo, is_template, needed_names

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Secrets must not reach step environments (they end up in process listings of children).
_SECRET_VARS = re.compile(r"^ansible_.*(pass|password|secret)", re.IGNORECASE)


@dataclass(frozen=True)
class Layer:
    """One precedence level: values and where each was written."""

    values: Mapping[str, Any]
    at: Mapping[str, Location]
    fallback: Location  # for values with no recorded line (inventory vars)


def has_template(value: Any) -> bool:
    """Whether a value holds a Jinja2 string anywhere (lists and mappings included)."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, list):
        return any(has_template(item) for item in value)
    if isinstance(value, dict):
        return any(has_template(item) for item in value.values())
    return False


class SecretLayers:
    """Whether a mapping of variables holds a vault secret, computed once per mapping object
    of a plan (a value rendered from a secret is one, so a host's variables hold one exactly
    when one of their layers does)."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[Mapping[str, Any], bool]] = {}

    def any(self, layers: Sequence[Layer]) -> bool:
        """Whether any of `layers` holds a secret."""
        for layer in layers:
            known = self._known.get(id(layer.values))
            if known is None or known[0] is not layer.values:
                values = layer.values
                known = self._known[id(values)] = (values, has_secret(values))
            if known[1]:
                return True
        return False


class TemplatedNames:
    """Which names of a mapping hold templates, computed once per mapping object of a plan
    (play vars, role defaults, role parameters, a host's inventory vars)."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[Mapping[str, Any], tuple[str, ...]]] = {}

    def of(self, values: Mapping[str, Any]) -> tuple[str, ...]:
        """The templated names of `values`."""
        known = self._known.get(id(values))
        if known is None or known[0] is not values:
            names = tuple(name for name, value in values.items() if has_template(value))
            known = self._known[id(values)] = (values, names)  # the mapping kept: ids stay unique
        return known[1]


def resolve(
    layers: Sequence[Layer],
    magic: Mapping[str, Any],
    templated: TemplatedNames | None = None,
    renders: RenderMemo | None = None,
    candidates: AbstractSet[str] | None = None,
) -> dict[str, Any]:
    """Merge layers (later wins; `magic` wins over all) and render templated values.

    Values without templates are taken as they are (shared, never copied); only names whose
    winning value holds a template are rendered, each once, after the names it refers to.
    `candidates`, when the caller knows them, are every name whose value in some layer or in
    `magic` holds a template. A value rendered from a secret (a vault value) is itself a
    Secret.
    """
    raw: dict[str, Any] = {}
    for layer in layers:
        raw.update(layer.values)
    raw.update(magic)
    if candidates is None:
        known = templated or TemplatedNames()
        found = {name for layer in layers for name in known.of(layer.values)}
        found.update(name for name, value in magic.items() if has_template(value))
        candidates = found
    if not candidates:
        return raw
    pending = [name for name in raw if name in candidates and has_template(raw[name])]
    if not pending:
        return raw
    resolver = _Resolver(raw, set(pending), _Where(layers), renders or RenderMemo())
    resolved = dict(raw)
    for name in pending:
        resolved[name] = resolver.get(name)
    return resolved


def origin(layers: Sequence[Layer], name: str) -> Location:
    """Where the value `resolve` takes for `name` was written (the last layer holding it)."""
    return _Where(layers).get(name, Location(""))


class _Where:
    """Where each variable's winning value was written (looked up only for messages)."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = layers

    def get(self, name: str, default: Location) -> Location:
        for layer in reversed(self.layers):
            if name in layer.values:
                return layer.at.get(name, layer.fallback)
        return default


class _Resolver:
    """Renders each templated variable once, after the variables it refers to; cycles are
    errors."""

    def __init__(
        self, raw: Mapping[str, Any], templated: set[str], where: _Where, renders: RenderMemo
    ) -> None:
        self.raw = raw
        self.templated = templated
        self.where = where
        self.renders = renders
        self.done: dict[str, Any] = {}
        self.active: list[str] = []

    def get(self, name: str) -> Any:
        if name not in self.templated:
            return self.raw[name]
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
                if has_secret(context):  # rendered here, never memoised: the result is secret
                    return Secret(self.renders.value(value, reveal(context), memo=False))
                return self.renders.value(value, context)
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


def env_value(value: Any) -> EnvValue:
    """How a variable reaches a step's environment: strings as-is, anything else as JSON;
    a value holding a secret becomes a Secret (revealed only for the command itself)."""
    if isinstance(value, str | Secret):
        return value
    if has_secret(value):
        return Secret(str(env_value(reveal(value))))
    if isinstance(value, bool) or value is None:
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))  # what json.dumps writes for an int
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _env_safe(name: str) -> bool:
    return bool(ENV_NAME.fullmatch(name)) and not _SECRET_VARS.match(name)


class EnvBuilder:
    """Builds step environments; name checks are done once per name, and equal (name, value)
    pairs are one object shared by every host's environment, with its part of the
    environment's digest computed once. A secret stays a Secret in the environment; its
    part of the digest is its plaintext's (the caller keys a digest that covers one)."""

    # Pairs remembered at most, then forgotten and remembered anew: most pairs hold a value
    # of one host (its name, its address), met again only in that host's other units, and
    # at 100,000 hosts remembering them all cost ~100 MB and the resizes of a huge dict.
    PAIRS_KEPT = 1 << 15

    def __init__(self) -> None:
        self._safe: dict[str, bool] = {}
        self._pairs: dict[tuple[str, EnvValue], tuple[tuple[str, EnvValue], bytes]] = {}
        self._last: tuple[Any, EnvValue] = (None, "")  # a host's group_names, once per host
        self._lists: dict[tuple[str, ...], EnvValue] = {}

    def env(self, variables: Mapping[str, Any], context: Mapping[str, str]) -> tuple[Env, bytes]:
        """The sorted environment of a step (every env-safe variable, then the RORUNNER_*
        context) and its digest."""
        safe = self._safe
        env: dict[str, EnvValue] = {}
        for name, value in variables.items():
            ok = safe.get(name)
            if ok is None:
                ok = safe[name] = _env_safe(name)
            if ok:
                env[name] = value if isinstance(value, str) else self._text(value)
        env.update(context)
        pairs = self._pairs
        if len(pairs) > self.PAIRS_KEPT:
            pairs.clear()
        out = []
        digest = hashlib.sha256()
        for item in sorted(env.items(), key=itemgetter(0)):
            known = pairs.get(item)
            if known is None:
                name, value = item
                text = value.reveal() if isinstance(value, Secret) else value
                known = pairs[item] = (item, f"{len(name)}:{name}={len(text)}:{text};".encode())
            out.append(known[0])
            digest.update(known[1])
        return tuple(out), digest.digest()

    def _text(self, value: Any) -> EnvValue:
        if isinstance(value, Secret):
            return value
        if value is self._last[0]:
            return self._last[1]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            key = tuple(value)  # hosts in the same groups: one group_names text
            text = self._lists.get(key)
            if text is None:
                text = self._lists[key] = env_value(value)
        else:
            text = env_value(value)
        if isinstance(value, list | dict):
            self._last = (value, text)
        return text
