"""Turning one unit (role or inline rtas) of one play into PlanSteps for one host."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rorunner.errors import InputError, Location
from rorunner.model import ConnectionSpec, FileMove, Host, PlanStep, StepKind, StepSpec
from rorunner.plan._files import FileCache, bytes_digest
from rorunner.plan._jinja import TemplateFiles, render_string
from rorunner.plan._vars import Layer, resolve, step_env
from rorunner.playbook import PathEntry, Play, Playbook, RoleUse, StepEntry, Unit, shipped_files
from rorunner.walk import lookup

DEFAULT_REMOTE_ROOT = ".rorunner/work"
_KINDS: dict[str, StepKind] = {
    "local_pre": "local",
    "ship": "ship",
    "remote": "remote",
    "fetch": "fetch",
    "local_post": "local",
}


@dataclass(frozen=True)
class HostPlay:
    """One host in one play: how to reach it and where its fetched files go."""

    host: Host
    play: Play
    conn: ConnectionSpec
    fetch_dir: str  # absolute, this host's own directory


@dataclass(frozen=True)
class Planned:
    """A planned step and the digest of its own inputs (predecessors not yet folded in)."""

    step: PlanStep
    digest: str


class Expander:
    """Expands units per host; shares file hashes and compiled templates across the plan."""

    def __init__(self, playbook: Playbook, extra_vars: Mapping[str, Any]) -> None:
        self.playbook = playbook
        self.extra_vars = dict(extra_vars)
        self.files = FileCache()
        self.templates = TemplateFiles()

    def unit(self, where: HostPlay, unit: Unit, use: RoleUse | None) -> list[Planned]:
        """Every step of `unit` for the host of `where`, in phase order."""
        variables = self.variables(where.host, where.play, unit, use)
        remote_dir = self._remote_dir(where, unit, variables)
        context = {
            "RORUNNER_HOST": where.host.name,
            "RORUNNER_ADDRESS": where.conn.address,
            "RORUNNER_PORT": str(where.conn.port or 22),
            "RORUNNER_REMOTE_DIR": remote_dir,
            "RORUNNER_FETCH_DIR": where.fetch_dir,
            "RORUNNER_PLAY": where.play.id,
            "RORUNNER_ROLE": unit.name,
            "RORUNNER_PLAYBOOK_DIR": self.playbook.directory,
        }
        if unit.is_role:
            context["RORUNNER_ROLE_DIR"] = unit.directory
        env = step_env(variables, context)
        creates = self._creates(unit, variables)
        planned = []
        for entry in unit.steps:
            spec = self._spec(entry, variables, where, creates)
            step = PlanStep(
                host=where.host.name,
                play=where.play.id,
                role=unit.name,
                phase=entry.phase,
                name=entry.name,
                spec=spec,
                conn=where.conn,
                env=env,
                remote_dir=remote_dir,
                fetch_dir=where.fetch_dir,
            )
            planned.append(Planned(step, self._digest(step, creates)))
        return planned

    def variables(
        self, host: Host, play: Play, unit: Unit | None = None, use: RoleUse | None = None
    ) -> dict[str, Any]:
        """The host's variables in `play` (and in `unit`, with its defaults and parameters)."""
        host_at = host_location(host)
        builtin: dict[str, Any] = {"ansible_host": host.address}
        builtin.update({"ansible_port": host.port} if host.port else {})
        layers = [Layer(builtin, {}, host_at)]
        if unit is not None:
            layers.append(Layer(unit.defaults, unit.defaults_at, unit.at))
        layers += [Layer(host.vars, {}, host_at), Layer(play.vars, play.vars_at, play.at)]
        if unit is not None and use is not None:
            layers.append(Layer(use.params, use.params_at, unit.at))
        layers.append(Layer(self.extra_vars, {}, Location("--extra-vars")))
        magic = {
            "inventory_hostname": host.name,
            "inventory_hostname_short": host.name.split(".")[0],
            "group_names": [g for g in host.groups if g not in ("all", "ungrouped")],
            "play_name": play.name,
            "rorunner_play": play.id,
        }
        if unit is not None:
            magic["role_name"] = unit.name
        return resolve(layers, magic)

    def _remote_dir(self, where: HostPlay, unit: Unit, variables: Mapping[str, Any]) -> str:
        """-e remote_dir > role.yml > play > a `remote_dir` variable > the default."""
        play = where.play
        choices: list[tuple[Any, Location]] = [
            (self.extra_vars.get("remote_dir"), Location("--extra-vars")),
            (unit.remote_dir, unit.remote_dir_at or unit.at),
            (play.remote_dir, play.remote_dir_at or play.at),
            (variables.get("remote_dir"), play.at),
        ]
        for value, at in choices:
            if value is not None:
                if not isinstance(value, str) or not value.strip():
                    raise InputError("remote_dir must be a non-empty string", at.path, at.line)
                return _checked_remote_dir(render_string(value, variables, at, "remote_dir"), at)
        return f"{DEFAULT_REMOTE_ROOT}/{play.id}"

    def _creates(self, unit: Unit, variables: Mapping[str, Any]) -> dict[str, str]:
        """Local files promised by the unit's local_pre steps: absolute path -> step name."""
        promised: dict[str, str] = {}
        for entry in unit.steps:
            for path in entry.creates:
                text = render_string(path, variables, entry.at, "creates")
                promised[os.path.normpath(os.path.join(entry.base, text))] = entry.name
        return promised

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
            src = _non_empty(render_string(src, variables, item.at, "ship src"), item.at)
            dest = render_string(dest, variables, item.at, "ship dest") if dest else None
        local = os.path.normpath(os.path.join(base, src))
        target = dest or _default_dest(src)
        found = None if local in creates else lookup(local)  # a looping link: an error naming it
        if local in creates:  # made during the run: what exists now is a previous run's output
            pairs = [(local, target)]
        elif found is not None and found.is_dir:
            pairs = [(e.path, posixpath.join(target, e.rel)) for e in shipped_files(local)]
        elif found is not None:
            pairs = [(local, target)]
        else:
            raise InputError(f"ship: no such file or directory: {src}", item.at.path, item.at.line)
        return [self._move(path, to, item, variables, local in creates) for path, to in pairs]

    def _move(
        self, path: str, dest: str, item: PathEntry, variables: Mapping[str, Any], promised: bool
    ) -> FileMove:
        dest = _inside("ship dest", dest, item.at)
        if promised:
            return FileMove(path, dest, item.mode)
        mode = item.mode if item.mode is not None else self.files.mode(path)
        if path.endswith(".j2"):
            content = self.templates.render(path, variables)
            return FileMove(path, dest.removesuffix(".j2"), mode, content)
        return FileMove(path, dest, mode)

    def _fetch(
        self, entry: StepEntry, variables: Mapping[str, Any], fetch_dir: str
    ) -> tuple[FileMove, ...]:
        moves: dict[str, FileMove] = {}
        for item in entry.items:
            src = _non_empty(render_string(item.src, variables, item.at, "fetch src"), item.at)
            dest = render_string(item.dest, variables, item.at, "fetch dest") if item.dest else None
            relative = _inside("fetch dest", dest or src.lstrip("/"), item.at, absolute_ok=not dest)
            local = os.path.join(fetch_dir, relative)
            if local in moves:
                message = f"two fetched files land at {relative!r}"
                raise InputError(message, item.at.path, item.at.line)
            moves[local] = FileMove(src, local)
        return tuple(moves.values())

    def _digest(self, step: PlanStep, creates: Mapping[str, str]) -> str:
        spec = step.spec
        files: list[list[Any]]
        if spec.kind == "fetch":
            files = [[move.src, move.dest] for move in spec.files]
        else:
            files = [[move.dest, move.mode, self._content(move, creates)] for move in spec.files]
        own = {
            "kind": spec.kind,
            "command": spec.command,
            "script": [os.path.basename(spec.script), self.files.digest(spec.script)]
            if spec.script
            else None,
            "files": files,
            "creates": list(spec.creates),
            "always": spec.always,
            "timeout": spec.timeout,
            "env": step.env,
            "target": [step.conn.address, step.conn.port, step.conn.user, step.conn.connection],
            "remote_dir": step.remote_dir,
            "fetch_dir": step.fetch_dir,
        }
        text = json.dumps(own, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def _content(self, move: FileMove, creates: Mapping[str, str]) -> str:
        if move.src in creates:
            # Made by a local_pre step during the run: that step's signature stands for it, so
            # the key does not depend on whether a previous run left the file behind.
            return "created-by:" + creates[move.src]
        if move.content is not None:
            return bytes_digest(move.content)
        return self.files.digest(move.src)


def host_location(host: Host) -> Location:
    """Where an inventory host was defined ("file:line" in Host.source)."""
    path, _, line = host.source.rpartition(":")
    if path and line.isdigit():
        return Location(path, int(line))
    return Location(host.source or "inventory")


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


def _default_dest(src: str) -> str:
    """A relative ship src keeps its path; an absolute or escaping one lands by its base name."""
    norm = posixpath.normpath(_posix(src))
    if posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
        return posixpath.basename(norm)
    return norm


def _inside(what: str, path: str, at: Location, absolute_ok: bool = False) -> str:
    """Normalise a relative path and refuse one that is absolute or escapes with '..'."""
    norm = posixpath.normpath(_posix(path))
    if posixpath.isabs(norm) and not absolute_ok:
        raise InputError(f"{what} must be a relative path, not {path!r}", at.path, at.line)
    norm = norm.lstrip("/")
    if norm in ("", ".", "..") or norm.startswith("../"):
        raise InputError(f"{what} {path!r} escapes its directory", at.path, at.line)
    return norm
