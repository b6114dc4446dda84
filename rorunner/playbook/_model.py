"""Frozen data the playbook loader produces: plays, units of work (roles and inline rtas), steps."""

from __future__ import annotations

import os.path
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rorunner.become import BecomeKeys
from rorunner.errors import Location
from rorunner.model import Phase


@dataclass(frozen=True)
class PathEntry:
    """A ship or fetch item as written: `src` and `dest` may hold Jinja2 (inline entries)."""

    src: str
    at: Location
    dest: str | None = None
    mode: int | None = None
    templated: bool = True  # False for role files/: their names are taken literally
    # Issue 10: removed from the host after the play, content never shown or stored
    secret: bool = False
    # Issue 10: may replace a file an earlier step of the run shipped to the same path
    override: bool = False


@dataclass(frozen=True)
class StepEntry:
    """One step as written, before it is planned for a host."""

    phase: Phase
    name: str
    at: Location
    run: str | None = None  # a shell command (never templated)
    script: str | None = None  # absolute path of a role script
    items: tuple[PathEntry, ...] = ()  # ship / fetch
    creates: tuple[str, ...] = ()  # local paths as written (relative to `base`)
    always: bool = False
    timeout: float | None = None
    base: str = ""  # directory that relative local paths are resolved against
    become: BecomeKeys = field(default_factory=BecomeKeys)  # its own keys (remote steps)
    tags: tuple[str, ...] = ()  # its own `tags:` (a command mapping's)


@dataclass(frozen=True)
class Unit:
    """A unit of work (an RTAS): a role directory or an inline `rtas` entry of a play."""

    name: str
    at: Location
    steps: tuple[StepEntry, ...]  # in phase order
    is_role: bool = False
    directory: str = ""  # a role's directory
    depends: tuple[str, ...] = ()
    depends_at: Mapping[str, Location] = field(default_factory=dict, compare=False)
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False)  # role.yml vars
    defaults_at: Mapping[str, Location] = field(default_factory=dict, compare=False)
    remote_dir: str | None = None
    remote_dir_at: Location | None = None
    become: BecomeKeys = field(default_factory=BecomeKeys)  # role.yml or the rtas entry
    tags: tuple[str, ...] = ()  # role.yml `tags` (its own steps), or the inline rtas' `tags`
    work_subdir: bool = False  # issue 10 (role.yml): work in <work dir>/<role name>


@dataclass(frozen=True)
class RoleUse:
    """A role named in a play's `roles`, with its parameters."""

    name: str
    at: Location
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)
    params_at: Mapping[str, Location] = field(default_factory=dict, compare=False)
    tags: tuple[str, ...] = ()  # `{role: NAME, tags: [...]}`: the role and its dependencies
    work_subdir: bool | None = None  # issue 10: overrides the role.yml key when given


@dataclass(frozen=True)
class Play:
    """One play of a playbook."""

    index: int  # 1-based
    id: str  # "01-site": index + slug of the name, stable and safe for task names
    name: str
    hosts: str
    at: Location
    hosts_at: Location
    vars: Mapping[str, Any] = field(default_factory=dict, compare=False)
    vars_at: Mapping[str, Location] = field(default_factory=dict, compare=False)
    roles: tuple[RoleUse, ...] = ()
    rtas: tuple[Unit, ...] = ()
    serial: tuple[int | str, ...] = ()  # counts or "N%"; the last repeats (as in Ansible)
    max_fail_percentage: float | None = None
    remote_dir: str | None = None
    remote_dir_at: Location | None = None
    fetch_dir: str | None = None
    fetch_dir_at: Location | None = None
    become: BecomeKeys = field(default_factory=BecomeKeys)
    timeout: float | None = None  # default for command steps without one of their own
    # True: each host enters the play when it has finished the previous one; False (default):
    # the play starts after all earlier work has ended on every host (a barrier, as Ansible)
    pipeline: bool = False
    tags: tuple[str, ...] = ()  # every step of the play carries them
    # Issue 10: run-once controller steps, before any host starts the play and after every
    # host has finished it
    local_before: tuple[StepEntry, ...] = ()
    local_after: tuple[StepEntry, ...] = ()


@dataclass(frozen=True)
class Playbook:
    """A loaded playbook with every role it uses (dependencies included), checked."""

    path: str  # absolute
    plays: tuple[Play, ...]
    roles: Mapping[str, Unit]  # by name, every role reachable from a play
    roles_path: tuple[str, ...] = ()  # directories searched, in order

    @property
    def directory(self) -> str:
        """The directory holding the playbook (project-relative paths start here)."""
        return os.path.dirname(self.path)

    def run_list(self, play: Play) -> tuple[tuple[str, RoleUse | None], ...]:
        """Roles of `play` in run order, each once: dependencies first, then the role.

        A role also listed in the play itself gets the params of its first listing,
        even when it first runs as another role's dependency.
        """
        explicit: dict[str, RoleUse] = {}
        for use in play.roles:
            explicit.setdefault(use.name, use)  # a role listed twice keeps its first params
        order: list[tuple[str, RoleUse | None]] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for dep in self.roles[name].depends:
                visit(dep)
            order.append((name, explicit.get(name)))

        for use in play.roles:
            visit(use.name)
        return tuple(order)
