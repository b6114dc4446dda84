"""Turning one unit (role or inline rtas) of one play into planned steps for one host.

What does not depend on the host is worked out once per plan and shared: the layers of
play and role variables, each file's hash and mode, each shipped directory's listing, and the
spec of every step whose inputs name no per-host value (its digest too). Per host remain the
variables, the environment, rendered paths and templates, and fetch destinations.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import os
import posixpath
from collections.abc import Mapping
from typing import Any, NamedTuple

from rorunner.become import VARS as BECOME_VARS
from rorunner.errors import InputError, Location
from rorunner.model import (
    CONTROLLER,
    ConnectionDefaults,
    ConnectionSpec,
    Env,
    FileMove,
    Host,
    StepKind,
    StepSpec,
    has_secret,
)
from rorunner.plan._become import SigningKey, UnitBecomes, any_become_keys, process_key
from rorunner.plan._files import FileCache, bytes_digest
from rorunner.plan._jinja import RenderMemo, SecretVars, TemplateFiles, is_template
from rorunner.plan._vars import (
    EnvBuilder,
    Layer,
    SecretLayers,
    TemplatedNames,
    has_template,
    origin,
    resolve,
)
from rorunner.playbook import PathEntry, Play, Playbook, RoleUse, StepEntry, Unit, shipped_files
from rorunner.sshopts import ARG_VARS, parse_ssh_args
from rorunner.walk import TreeEntry, lookup

DEFAULT_REMOTE_ROOT = ".rorunner/work"
# Bumped whenever what goes into a step's digest changes (every step then runs once again).
DIGEST_FORMAT = b"rorunner-step-2\0"
_KINDS: dict[str, StepKind] = {
    "local_pre": "local",
    "ship": "ship",
    "remote": "remote",
    "fetch": "fetch",
    "local_post": "local",
    "local_before": "local",
    "local_after": "local",
    "cleanup": "remote",
}
# The connection of a play's local_before/local_after steps: the controller itself.
CONTROLLER_CONN = ConnectionSpec(address=CONTROLLER, connection="local", label=CONTROLLER)
EXTRA_VARS_AT = Location("--extra-vars")
_NOTHING_MADE: Mapping[str, str] = {}  # no local_before files (one object: see _unit_creates)
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


class HostPlay(NamedTuple):
    """One host in one play: how to reach it, where its fetched files go, its own layers
    (a named tuple: made for every host of every play)."""

    host: Host
    play: Play
    conn: ConnectionSpec
    fetch_dir: str  # absolute, this host's own directory
    builtin: Layer  # ansible_host, ansible_port
    own: Layer  # the host's inventory vars
    magic: Mapping[str, Any]  # inventory_hostname, group_names, play_name...
    templated: frozenset[str]  # names of its own layers and magic whose values hold Jinja2
    secret: bool  # whether its inventory vars hold a vault secret


class PlannedUnit(NamedTuple):
    """One unit for one host: what its steps share, then each step's entry, name, connection
    (which says whom it acts as) and spec, and the digest of that spec and its become user (a
    step's own digest is that and the unit's together). A ship entry may give several steps:
    one per user the unit acts as."""

    env: Env
    remote_dir: str
    digest: bytes  # environment, target and directories (an HMAC when a secret is among them)
    steps: tuple[tuple[StepEntry, str, ConnectionSpec, StepSpec, bytes], ...]


class _UnitPlan:
    """What one unit of one play shares between hosts: its variable layers and the specs
    (with digests) of steps whose inputs name no per-host value."""

    def __init__(self, expander: Expander, play: Play, unit: Unit, use: RoleUse | None) -> None:
        self.unit = unit
        self.before_host = [Layer(unit.defaults, unit.defaults_at, unit.at)]
        after = [Layer(play.vars, play.vars_at, play.at)]
        if use is not None:
            after.append(Layer(use.params, use.params_at, unit.at))
        after.append(Layer(expander.extra_vars, {}, EXTRA_VARS_AT))
        self.after_host = after
        self.creates_templated = any(is_template(p) for e in unit.steps for p in e.creates)
        self.creating = {e.name for e in unit.steps if e.creates}  # own creates match by name
        # the names that may need rendering, but for the host's own layers
        self.templated = {
            n for layer in (*self.before_host, *after) for n in expander.templated.of(layer.values)
        }
        self.templated.update(["role_name"] if is_template(unit.name) else [])
        self.shared: dict[int, tuple[StepSpec, bytes] | None] = {}  # by entry index
        self.digests: dict[int, bytes | None] = {}  # fetch digests, shared when not rendered
        self.recipes: dict[int, _Recipe | None] = {}  # per-host specs made the quick way
        self.secret = expander.secrets.any([*self.before_host, *after])
        self.may_become = bool(expander.defaults.become or any_become_keys(play, unit))
        subdir = use.work_subdir if use is not None else None
        self.subdir = bool(unit.work_subdir if subdir is None else subdir)
        self.remote_dir = _fixed_remote_dir(expander.extra_vars, play, unit)
        # the unit's promised files with the play's local_before ones, when no path of
        # them is rendered per host: (the play's dict, its size) -> merged
        self.creates: tuple[int, int, dict[str, str]] | None = None
        _check_unique_names(unit)

    def layers(self, where: HostPlay) -> list[Layer]:
        """Every layer in precedence order for one host."""
        return [where.builtin, *self.before_host, where.own, *self.after_host]


# The JSON of a ship spec's digest (Expander._spec_digest) around its list of files; a
# marker string stands where a rendered file's digest goes.
_MARK = "\0"
_MARK_JSON = _JSON(_MARK)
_SHIP_JSON = tuple(_JSON(["ship", None, None, [_MARK], [], False, None]).split(_MARK_JSON))


class _FetchRecipe(NamedTuple):
    """A fetch step whose paths name no variable: each host's files under its fetch dir."""

    pairs: tuple[tuple[str, str], ...]  # remote src, path relative to the host's fetch dir
    digest: bytes  # the same for every host (Expander._spec_digest)

    def spec(
        self, templates: TemplateFiles, variables: Mapping[str, Any], fetch_dir: str
    ) -> tuple[StepSpec, bytes]:
        """The host's spec and its digest."""
        join = os.path.join
        files = tuple([FileMove(src, join(fetch_dir, rel)) for src, rel in self.pairs])
        return StepSpec("fetch", files=files), self.digest


class _ShipRecipe(NamedTuple):
    """A ship step whose paths name no variable but that ships templates: those rendered for
    each host, the other files (and their part of the digest) the same for all."""

    files: tuple[FileMove, ...]  # as one host got them
    static: tuple[FileMove | None, ...]  # None: a template, rendered per host
    fragments: tuple[str | tuple[str, str], ...]  # JSON of each file in the digest

    def spec(
        self, templates: TemplateFiles, variables: Mapping[str, Any], fetch_dir: str
    ) -> tuple[StepSpec, bytes]:
        """The host's spec and its digest (the very bytes Expander._spec_digest hashes)."""
        files: list[FileMove] = []
        parts: list[str] = []
        for first, static, fragment in zip(self.files, self.static, self.fragments, strict=True):
            if static is not None:
                files.append(static)
                parts.append(fragment if isinstance(fragment, str) else "")
                continue
            content = templates.render(first.src, variables)
            digest = bytes_digest(content)
            secret = first.secret
            files.append(
                FileMove(
                    first.src, first.dest, first.mode, content, secret, "" if secret else digest
                )
            )
            parts.append(fragment if isinstance(fragment, str) else digest.join(fragment))
        text = ",".join(parts).join(_SHIP_JSON)
        return StepSpec("ship", files=tuple(files)), hashlib.sha256(text.encode()).digest()


_Recipe = _FetchRecipe | _ShipRecipe


def _check_unique_names(unit: Unit) -> None:
    seen: set[tuple[str, str]] = set()
    for entry in unit.steps:
        if (entry.phase, entry.name) in seen:
            message = f"duplicate step name {entry.name!r} in {unit.name}"
            raise InputError(message, entry.at.path or None, entry.at.line)
        seen.add((entry.phase, entry.name))


class Expander:
    """Expands units per host; shares file hashes, templates and host-independent specs.

    The unit digest of a host whose variables hold a secret is an HMAC under
    `signing_key()`, so that a stored signature cannot be used to guess a weak secret
    offline."""

    def __init__(
        self,
        playbook: Playbook,
        extra_vars: Mapping[str, Any],
        defaults: ConnectionDefaults | None = None,
        signing_key: SigningKey = process_key,
    ) -> None:
        self.playbook = playbook
        self.defaults = defaults or ConnectionDefaults()
        self.signing_key = signing_key
        self.secrets = SecretLayers()
        self.directory = playbook.directory
        self.extra_vars = dict(extra_vars)
        self.files = FileCache()
        self.templates = TemplateFiles()
        self.renders = RenderMemo()
        self.templated = TemplatedNames()
        self.envs = EnvBuilder()
        self._units: dict[tuple[str, str, int], _UnitPlan] = {}
        self._found: dict[str, TreeEntry | None] = {}
        self._trees: dict[str, list[tuple[str, str]]] = {}
        self._moves: dict[tuple[str, str, int | None, bool], FileMove] = {}
        # by host, for all plays: its connection, its own layers, which of their names hold
        # a template, whether they hold a secret, whether its names hold a template
        self._conns: dict[str, tuple[ConnectionSpec, Layer, Layer, frozenset[str], bool, bool]] = {}

    def host_play(
        self, host: Host, play: Play, defaults: ConnectionDefaults, fetch_dir: str
    ) -> HostPlay:
        """The per-host part of every unit's variables in `play` (its connection and its own
        layers made once per host for all plays)."""
        known = self._conns.get(host.name)
        if known is None:
            builtin, own = _host_layers(host)
            spec = self._jumps(host, play, defaults.spec_for(host), [builtin, own], False)
            names = frozenset(
                n for n, v in (*builtin.values.items(), *own.values.items()) if has_template(v)
            )
            odd = is_template(host.name) or any(is_template(g) for g in host.groups)
            known = (spec, builtin, own, names, has_secret(own.values), odd)
            self._conns[host.name] = known
        conn, builtin, own, templated, secret, odd = known
        if not play.vars.keys().isdisjoint(ARG_VARS):  # a play of its own: not shared
            conn = self._jumps(host, play, defaults.spec_for(host), [builtin, own], True)
        magic = _magic(host, play)
        if odd or is_template(play.name) or is_template(play.id):
            templated = templated.union(n for n, v in magic.items() if has_template(v))
        return HostPlay(host, play, conn, fetch_dir, builtin, own, magic, templated, secret)

    def _jumps(
        self, host: Host, play: Play, spec: ConnectionSpec, own: list[Layer], with_play: bool
    ) -> ConnectionSpec:
        """`spec` with the jump options of the host's `ansible_ssh_*args` variables (which
        override ssh_config; from the inventory and -e, and the play's vars when it sets
        them); other options there that change the route are bad input at their line."""
        layers = [*own, *([Layer(play.vars, play.vars_at, play.at)] if with_play else [])]
        layers.append(Layer(self.extra_vars, {}, EXTRA_VARS_AT))
        if all(layer.values.keys().isdisjoint(ARG_VARS) for layer in layers):
            return spec  # the usual case: nothing to resolve
        variables = resolve(layers, _magic(host, play), self.templated, self.renders)
        found = parse_ssh_args(variables, host.name, lambda name: origin(layers, name))
        return dataclasses.replace(
            spec, proxy_jump=found.proxy_jump, proxy_command=found.proxy_command
        )

    def _unit_plan(self, play: Play, unit: Unit, use: RoleUse | None) -> _UnitPlan:
        key = (play.id, unit.name, id(use))
        if key not in self._units:
            self._units[key] = _UnitPlan(self, play, unit, use)
        return self._units[key]

    def unit(
        self,
        where: HostPlay,
        unit: Unit,
        use: RoleUse | None,
        made: Mapping[str, str] | None = None,
    ) -> PlannedUnit:
        """Every step of `unit` for the host of `where`, in phase order; `made` names the
        files the play's local_before steps make (path -> what the signature says of them)."""
        shared = self._unit_plan(where.play, unit, use)
        magic = {**where.magic, "role_name": unit.name}
        candidates = shared.templated | where.templated if shared.templated else where.templated
        layers = shared.layers(where)
        variables = resolve(layers, magic, renders=self.renders, candidates=candidates)
        # (the first layer, ansible_host/ansible_port from the Host's own fields, holds none)
        keyed = shared.secret or where.secret
        if keyed:
            variables = SecretVars(variables)
        becomes = None  # the usual case: nobody to become
        if shared.may_become or not variables.keys().isdisjoint(BECOME_VARS):
            becomes = UnitBecomes(self.defaults, where.play, unit, variables, where.conn, layers)
        remote_dir = shared.remote_dir or self._remote_dir(where, unit, variables)
        if shared.subdir:
            remote_dir = posixpath.join(remote_dir, unit.name)
        context = {
            "RORUNNER_HOST": where.host.name,
            "RORUNNER_ADDRESS": where.conn.address,
            "RORUNNER_PORT": str(where.conn.port or 22),
            "RORUNNER_REMOTE_DIR": remote_dir,
            "RORUNNER_FETCH_DIR": where.fetch_dir,
            "RORUNNER_PLAY": where.play.id,
            "RORUNNER_ROLE": unit.name,
            "RORUNNER_PLAYBOOK_DIR": self.directory,
        }
        if unit.is_role:
            context["RORUNNER_ROLE_DIR"] = unit.directory
        env, env_digest = self.envs.env(variables, context)
        conn = where.conn
        place = (conn.address, conn.port, conn.user, conn.connection, remote_dir, where.fetch_dir)
        # repr of strings, ints and None is unambiguous, and cheaper than JSON
        text = DIGEST_FORMAT + env_digest + repr(place).encode()
        if keyed:  # a plain hash of a weak secret could be brute-forced
            digest = hmac.new(self.signing_key(), text, hashlib.sha256).digest()
        else:
            digest = hashlib.sha256(text).digest()
        creates = self._unit_creates(shared, _NOTHING_MADE if made is None else made, variables)
        if becomes is None or becomes.nobody:  # the usual case: one step per entry, as login
            steps = []
            known = shared.shared
            for index, entry in enumerate(unit.steps):
                spec_and_digest = known.get(index) or self._step(
                    shared, index, entry, variables, where, creates
                )
                steps.append((entry, entry.name, conn, *spec_and_digest))
            return PlannedUnit(env, remote_dir, digest, tuple(steps))
        planned = []
        for index, entry in enumerate(unit.steps):
            spec, spec_digest = self._step(shared, index, entry, variables, where, creates)
            for name, step_conn, become_digest in becomes.of(entry):
                planned.append((entry, name, step_conn, spec, spec_digest + become_digest))
        return PlannedUnit(env, remote_dir, digest, tuple(planned))

    def controller(
        self, play: Play, entries: tuple[StepEntry, ...], fetch_root: str
    ) -> PlannedUnit:
        """A play's local_before or local_after steps: they see the play's and the extra
        variables (no host's), RORUNNER_PLAY, RORUNNER_PLAYBOOK_DIR and RORUNNER_FETCH_ROOT
        (the hosts and their outcomes come at run time, outside the signature)."""
        layers = [Layer(play.vars, play.vars_at, play.at)]
        layers.append(Layer(self.extra_vars, {}, EXTRA_VARS_AT))
        magic = {"play_name": play.name, "rorunner_play": play.id}
        variables = resolve(layers, magic, self.templated, self.renders)
        context = {
            "RORUNNER_PLAY": play.id,
            "RORUNNER_PLAYBOOK_DIR": self.playbook.directory,
            "RORUNNER_FETCH_ROOT": fetch_root,
        }
        env, env_digest = self.envs.env(variables, context)
        digest = hashlib.sha256(DIGEST_FORMAT + env_digest + b"controller").digest()
        made = self._controller_creates(entries, variables)
        steps = []
        for entry in entries:
            own = tuple(sorted(path for path, name in made.items() if name == entry.name))
            timeout = entry.timeout if entry.timeout is not None else play.timeout
            spec = StepSpec(
                "local", command=entry.run, creates=own, always=entry.always, timeout=timeout
            )
            digest_of = self._spec_digest(spec, {}, fetch_root)
            steps.append((entry, entry.name, CONTROLLER_CONN, spec, digest_of))
        return PlannedUnit(env, "", digest, tuple(steps))

    def _controller_creates(
        self, entries: tuple[StepEntry, ...], variables: Mapping[str, Any]
    ) -> dict[str, str]:
        """Local files a play's local_before steps promise: absolute path -> step name."""
        promised: dict[str, str] = {}
        for entry in entries:
            for path in entry.creates:
                text = self.renders.string(path, variables, entry.at, "creates")
                promised[os.path.normpath(os.path.join(entry.base, text))] = entry.name
        return promised

    def variables(self, host: Host, play: Play) -> dict[str, Any]:
        """The host's variables in `play` (no role's), for play-level settings."""
        builtin, own = _host_layers(host)
        magic = _magic(host, play)
        play_layer = Layer(play.vars, play.vars_at, play.at)
        layers = [builtin, own, play_layer, Layer(self.extra_vars, {}, EXTRA_VARS_AT)]
        variables = resolve(layers, magic, self.templated, self.renders)
        return SecretVars(variables) if self.secrets.any(layers[1:]) else variables

    def _remote_dir(self, where: HostPlay, unit: Unit, variables: Mapping[str, Any]) -> str:
        """-e remote_dir > role.yml > play > a `remote_dir` variable > the default."""
        play = where.play
        choices: list[tuple[Any, Location]] = [
            (self.extra_vars.get("remote_dir"), EXTRA_VARS_AT),
            (unit.remote_dir, unit.remote_dir_at or unit.at),
            (play.remote_dir, play.remote_dir_at or play.at),
            (variables.get("remote_dir"), play.at),
        ]
        for value, at in choices:
            if value is not None:
                if not isinstance(value, str) or not value.strip():
                    raise InputError("remote_dir must be a non-empty string", at.path, at.line)
                text = self.renders.string(value, variables, at, "remote_dir")
                return _checked_remote_dir(text, at)
        return f"{DEFAULT_REMOTE_ROOT}/{play.id}"

    def _creates(self, unit: Unit, variables: Mapping[str, Any]) -> dict[str, str]:
        """Local files promised by the unit's local_pre steps: absolute path -> step name."""
        promised: dict[str, str] = {}
        for entry in unit.steps:
            for path in entry.creates:
                text = self.renders.string(path, variables, entry.at, "creates")
                promised[os.path.normpath(os.path.join(entry.base, text))] = entry.name
        return promised

    def _unit_creates(
        self, shared: _UnitPlan, made: Mapping[str, str], variables: Mapping[str, Any]
    ) -> dict[str, str]:
        """The play's local_before files and the unit's own promised files (path -> step);
        worked out once per unit when no path of them is rendered per host."""
        if shared.creates_templated:
            return {**made, **self._creates(shared.unit, variables)}
        known = shared.creates
        if known is None or known[0] != id(made) or known[1] != len(made):
            merged = {**made, **self._creates(shared.unit, variables)}
            known = shared.creates = (id(made), len(made), merged)
        return known[2]

    def _step(
        self,
        shared: _UnitPlan,
        index: int,
        entry: StepEntry,
        variables: Mapping[str, Any],
        where: HostPlay,
        creates: dict[str, str],
    ) -> tuple[StepSpec, bytes]:
        """The spec of one step and its digest; shared by every host when nothing in it
        depends on the host."""
        known = shared.shared.get(index)
        if known is not None:
            return known
        recipe = shared.recipes.get(index)
        if recipe is not None:
            return recipe.spec(self.templates, variables, where.fetch_dir)
        spec = self._spec(entry, variables, where, creates)
        digest = shared.digests.get(index)
        if digest is None:
            digest = self._spec_digest(spec, creates, where.fetch_dir)
        if index not in shared.shared:
            same = _host_independent(entry, spec, shared)
            shared.shared[index] = (spec, digest) if same else None
            rendered = any(is_template(f"{i.src}{i.dest or ''}") for i in entry.items)
            shared.digests[index] = digest if spec.kind == "fetch" and not rendered else None
            if not same and not rendered and (spec.kind == "fetch" or not shared.creates_templated):
                shared.recipes[index] = self._recipe(spec, digest, creates, where.fetch_dir)
        return spec, digest

    def _recipe(
        self, spec: StepSpec, digest: bytes, creates: Mapping[str, str], fetch_dir: str
    ) -> _Recipe | None:
        """How every other host gets this step, from what one host got: its paths do not
        depend on the host (only its fetch dir, and the templates shipped, do)."""
        if spec.kind == "fetch":
            cut = len(fetch_dir) + 1
            return _FetchRecipe(tuple((move.src, move.dest[cut:]) for move in spec.files), digest)
        if spec.kind != "ship":
            return None
        slots: list[FileMove | None] = []
        fragments: list[str | tuple[str, str]] = []
        for move in spec.files:
            if move.content is None or move.src in creates:
                fragments.append(_JSON([move.dest, move.mode, self._content(move, creates)]))
            else:  # the digest of the rendered bytes goes between the two parts
                before, after = _JSON([move.dest, move.mode, _MARK]).split(_MARK_JSON[1:-1])
                fragments.append((before, after))
            slots.append(None if move.content is not None else move)
        return _ShipRecipe(spec.files, tuple(slots), tuple(fragments))

    def _spec(
        self,
        entry: StepEntry,
        variables: Mapping[str, Any],
        where: HostPlay,
        creates: dict[str, str],
    ) -> StepSpec:
        kind = _KINDS[entry.phase]
        if kind == "ship":
            files = self._ship(entry, variables, creates)
            return StepSpec(kind, files=files)
        if kind == "fetch":
            return StepSpec(kind, files=self._fetch(entry, variables, where.fetch_dir))
        own = tuple(path for path, name in creates.items() if name == entry.name)
        return StepSpec(
            kind,
            command=entry.run,
            script=entry.script,
            creates=tuple(sorted(own)),
            always=entry.always,
            timeout=entry.timeout if entry.timeout is not None else where.play.timeout,
        )

    def _ship(
        self, entry: StepEntry, variables: Mapping[str, Any], creates: dict[str, str]
    ) -> tuple[FileMove, ...]:
        moves: dict[str, FileMove] = {}
        for item in entry.items:
            for move in self._ship_item(item, entry.base, variables, creates):
                if move.dest in moves:
                    at = item.at
                    message = f"two shipped files land at {move.dest!r}"
                    raise InputError(message, at.path, at.line)
                moves[move.dest] = move
        return tuple(moves.values())

    def _ship_item(
        self, item: PathEntry, base: str, variables: Mapping[str, Any], creates: dict[str, str]
    ) -> list[FileMove]:
        src, dest = item.src, item.dest
        if item.templated:
            src = _non_empty(self.renders.string(src, variables, item.at, "ship src"), item.at)
            dest = self.renders.string(dest, variables, item.at, "ship dest") if dest else None
        local = os.path.normpath(os.path.join(base, src))
        target = dest or default_dest(src)
        promised = local in creates
        # A promised file is made during the run: what exists now is a previous run's output.
        pairs = [(local, target)] if promised else self._pairs(local, target, src, item.at)
        return [self._move(path, to, item, variables, promised) for path, to in pairs]

    def _pairs(self, local: str, target: str, src: str, at: Location) -> list[tuple[str, str]]:
        """(local file, remote dest) for a shipped file or every file of a shipped tree."""
        if local not in self._found:
            self._found[local] = lookup(local)  # a looping link: an error naming it
        found = self._found[local]
        if found is None:
            raise InputError(f"ship: no such file or directory: {src}", at.path, at.line)
        if not found.is_dir:
            return [(local, target)]
        if local not in self._trees:
            self._trees[local] = [(e.path, e.rel) for e in shipped_files(local)]
        return [(path, posixpath.join(target, rel)) for path, rel in self._trees[local]]

    def _move(
        self, path: str, dest: str, item: PathEntry, variables: Mapping[str, Any], promised: bool
    ) -> FileMove:
        dest = _inside("ship dest", dest, item.at)
        secret = item.secret
        if promised:
            return FileMove(path, dest, item.mode, secret=secret)
        mode = item.mode if item.mode is not None else self.files.mode(path)
        if path.endswith(".j2"):
            content = self.templates.render(path, variables)
            digest = "" if secret else bytes_digest(content)
            return FileMove(path, dest.removesuffix(".j2"), mode, content, secret, digest)
        key = (path, dest, mode, secret)
        if key not in self._moves:
            digest = "" if secret else self.files.digest(path)
            self._moves[key] = FileMove(path, dest, mode, secret=secret, digest=digest)
        return self._moves[key]

    def _fetch(
        self, entry: StepEntry, variables: Mapping[str, Any], fetch_dir: str
    ) -> tuple[FileMove, ...]:
        moves: dict[str, FileMove] = {}
        for item in entry.items:
            at = item.at
            src = _non_empty(self.renders.string(item.src, variables, at, "fetch src"), at)
            dest = (
                self.renders.string(item.dest, variables, at, "fetch dest") if item.dest else None
            )
            relative = _inside("fetch dest", dest or src.lstrip("/"), at, absolute_ok=not dest)
            local = os.path.join(fetch_dir, relative)
            if local in moves:
                message = f"two fetched files land at {relative!r}"
                raise InputError(message, item.at.path, item.at.line)
            moves[local] = FileMove(src, local)
        return tuple(moves.values())

    def _spec_digest(self, spec: StepSpec, creates: Mapping[str, str], fetch_dir: str) -> bytes:
        """The digest of what a spec does: kind, command, script and file contents (fetch
        destinations relative to the host's fetch dir, which the unit's digest holds)."""
        files: list[list[Any]]
        if spec.kind == "fetch":
            cut = len(fetch_dir) + 1
            files = [[move.src, move.dest[cut:]] for move in spec.files]
        else:
            files = [[move.dest, move.mode, self._content(move, creates)] for move in spec.files]
        script = (
            [os.path.basename(spec.script), self.files.digest(spec.script)] if spec.script else None
        )
        own = [
            spec.kind,
            spec.command,
            script,
            files,
            list(spec.creates),
            spec.always,
            spec.timeout,
        ]
        return hashlib.sha256(_JSON(own).encode()).digest()

    def _content(self, move: FileMove, creates: Mapping[str, str]) -> str:
        if move.src in creates:
            # Made by a local_pre step during the run: that step's signature stands for it, so
            # the key does not depend on whether a previous run left the file behind.
            return "created-by:" + creates[move.src]
        if move.content is not None:
            return bytes_digest(move.content)
        return self.files.digest(move.src)


def _host_layers(host: Host) -> tuple[Layer, Layer]:
    """A host's built-in variables and its inventory variables."""
    host_at = host.source
    builtin: dict[str, Any] = {"ansible_host": host.address}
    builtin.update({"ansible_port": host.port} if host.port else {})
    return Layer(builtin, {}, host_at), Layer(host.vars, host.origins, host_at)


def _magic(host: Host, play: Play) -> dict[str, Any]:
    return {
        "inventory_hostname": host.name,
        "inventory_hostname_short": host.name.split(".")[0],
        "group_names": [g for g in host.groups if g not in ("all", "ungrouped")],
        "play_name": play.name,
        "rorunner_play": play.id,
    }


def _host_independent(entry: StepEntry, spec: StepSpec, unit: _UnitPlan) -> bool:
    """Whether every host gets this very spec: nothing in it was rendered for the host."""
    if spec.kind == "fetch":
        return False  # it names the host's own fetch dir
    if spec.kind == "ship":
        rendered = any(i.templated and is_template(f"{i.src}{i.dest or ''}") for i in entry.items)
        plain = not rendered and all(move.content is None for move in spec.files)
        return plain and not unit.creates_templated  # which sources are promised files
    return not unit.creates_templated or entry.name not in unit.creating


def _fixed_remote_dir(extra_vars: Mapping[str, Any], play: Play, unit: Unit) -> str | None:
    """The unit's work dir when -e, role.yml or the play sets it without a template (every
    host gets the same); None when it may differ per host (or is bad input, said per host)."""
    for value, at in (
        (extra_vars.get("remote_dir"), EXTRA_VARS_AT),
        (unit.remote_dir, unit.remote_dir_at or unit.at),
        (play.remote_dir, play.remote_dir_at or play.at),
    ):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or is_template(value):
            return None
        try:
            return _checked_remote_dir(value, at)
        except InputError:
            return None
    return None


def _non_empty(path: str, at: Location) -> str:
    if not path.strip():
        raise InputError("path is empty after rendering", at.path, at.line)
    return path


def _checked_remote_dir(text: str, at: Location) -> str:
    """Normalise a remote work dir; `~/x` means x under the login home, as a relative path does."""
    if text == "~" or text.startswith("~/"):
        text = text[2:]
    norm = posixpath.normpath(text) if text.strip() else "."
    if norm in (".", "/") or norm.startswith("~") or norm == ".." or norm.startswith("../"):
        message = f"remote_dir {text!r} must name a directory of its own (it is made private)"
        raise InputError(message, at.path, at.line)
    return norm


def _posix(path: str) -> str:
    return path.replace(os.sep, "/")


def default_dest(src: str) -> str:
    """A relative ship src keeps its path; an absolute or escaping one lands by its base name."""
    norm = posixpath.normpath(_posix(src))
    if posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
        return posixpath.basename(norm)
    return norm


@functools.lru_cache(maxsize=1 << 14)  # the same entry's paths, host after host
def _inside(what: str, path: str, at: Location, absolute_ok: bool = False) -> str:
    """Normalise a relative path and refuse one that is absolute or escapes with '..'."""
    norm = posixpath.normpath(_posix(path))
    if posixpath.isabs(norm) and not absolute_ok:
        raise InputError(f"{what} must be a relative path, not {path!r}", at.path, at.line)
    norm = norm.lstrip("/")
    if norm in ("", ".", "..") or norm.startswith("../"):
        raise InputError(f"{what} {path!r} escapes its directory", at.path, at.line)
    return norm
