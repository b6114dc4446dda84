"""Loading a playbook file: strict play schema, inline rtas, and every role it reaches."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rorunner.become import BECOME_KEYS
from rorunner.errors import ErrorCollector, InputError, Location
from rorunner.model import Phase
from rorunner.playbook._model import Play, Playbook, RoleUse, StepEntry, Unit
from rorunner.playbook._node import Node
from rorunner.playbook._roles import check_cycles, find_role, load_role, role_search_path
from rorunner.playbook._steps import (
    become_keys,
    check_name,
    command_steps,
    inline_steps,
    parse_tags,
    slug,
)
from rorunner.safe_yaml import kind_of, load_yaml, shown

if TYPE_CHECKING:
    from rorunner.vault import VaultSecrets

_PLAY_KEYS = (
    "name",
    "hosts",
    "vars",
    "roles",
    "rtas",
    "serial",
    "max_fail_percentage",
    "remote_dir",
    "fetch_dir",
    "timeout",
    "pipeline",
    "tags",
    *BECOME_KEYS,
    # issue 10: run-once controller steps
    "local_before",
    "local_after",
)
_RTAS_KEYS = ("name", "local_pre", "ship", "remote", "fetch", "local_post", "tags", *BECOME_KEYS)
_ROLE_USE_KEYS = ("role", "vars", "tags", "work_subdir")


def load_playbook(
    path: str, roles_path: Sequence[str] = (), vault: VaultSecrets | None = None
) -> Playbook:
    """Load and check a playbook and the roles it uses; mistakes are InputErrors with file:line.

    `!vault` values (in playbook and role.yml vars) are decrypted with `vault`."""
    path = os.path.abspath(path)
    data = load_yaml(path, vault, kind="playbooks")
    top = Node(data, path, 1, "playbook")
    if data is None:
        top.fail("playbook is empty; expected a list of plays")
    if not isinstance(data, list):
        top.fail(f"a playbook is a list of plays, not {kind_of(data)}")
    base = os.path.dirname(path)
    # Every mistake found in one pass: per play, per inline rtas and per role (the first of
    # each), reported together in line order (errors.InputErrors).
    errors = ErrorCollector()
    found: list[Play] = []
    for index, node in enumerate(top.sequence("play"), 1):
        with errors.gather():
            found.append(_play(node, index, base, errors))
    plays = tuple(found)
    search = role_search_path(base, roles_path)
    roles = _load_roles(plays, search, vault, errors)
    errors.raise_any()
    return Playbook(path, plays, roles, search)


def _play(node: Node, index: int, base: str, errors: ErrorCollector) -> Play:
    title = node.value.get("name") if isinstance(node.value, Mapping) else None
    if isinstance(title, str) and title.strip():
        node = Node(node.value, node.path, node.line, f"play {title!r}")
    keys = node.mapping(_PLAY_KEYS, required=("hosts",))
    name = keys["name"].string() if "name" in keys else keys["hosts"].string()
    vars_node = keys.get("vars")
    remote_dir, fetch_dir = keys.get("remote_dir"), keys.get("fetch_dir")
    return Play(
        index=index,
        id=f"{index:02d}-{slug(name)}",
        name=name,
        hosts=keys["hosts"].string(),
        at=node.at,
        hosts_at=keys["hosts"].at,
        vars=vars_node.variables() if vars_node else {},
        vars_at=vars_node.variable_lines() if vars_node else {},
        roles=_role_uses(keys["roles"]) if "roles" in keys else (),
        rtas=_inline_units(keys["rtas"], base, errors) if "rtas" in keys else (),
        serial=_serial(keys["serial"]) if "serial" in keys else (),
        max_fail_percentage=(
            keys["max_fail_percentage"].number(0, 100) if "max_fail_percentage" in keys else None
        ),
        remote_dir=remote_dir.string() if remote_dir else None,
        remote_dir_at=remote_dir.at if remote_dir else None,
        fetch_dir=fetch_dir.string() if fetch_dir else None,
        fetch_dir_at=fetch_dir.at if fetch_dir else None,
        become=become_keys(keys),
        timeout=keys["timeout"].number(minimum=0.001) if "timeout" in keys else None,
        pipeline=keys["pipeline"].boolean() if "pipeline" in keys else False,
        tags=parse_tags(keys.get("tags")),
        local_before=_controller_steps(keys, "local_before", base),
        local_after=_controller_steps(keys, "local_after", base),
    )


def _controller_steps(keys: Mapping[str, Node], phase: Phase, base: str) -> tuple[StepEntry, ...]:
    """A play's local_before or local_after entries (the syntax of local_pre)."""
    node = keys.get(phase)
    return command_steps(node, phase, base) if node is not None and node.value is not None else ()


def _role_uses(node: Node) -> tuple[RoleUse, ...]:
    uses = []
    for item in node.sequence("role"):
        if isinstance(item.value, str):
            uses.append(RoleUse(item.string(), item.at))
            continue
        keys = item.mapping(_ROLE_USE_KEYS, required=("role",))
        params = keys.get("vars")
        subdir = keys.get("work_subdir")
        uses.append(
            RoleUse(
                keys["role"].string(),
                item.at,
                params=params.variables() if params else {},
                params_at=params.variable_lines() if params else {},
                tags=parse_tags(keys.get("tags")),
                work_subdir=subdir.boolean() if subdir else None,
            )
        )
    return tuple(uses)


def _inline_units(node: Node, base: str, errors: ErrorCollector) -> tuple[Unit, ...]:
    units: dict[str, Unit] = {}
    for item in node.sequence("rtas"):
        with errors.gather():
            keys = item.mapping(_RTAS_KEYS, required=("name",))
            name = check_name(keys["name"], keys["name"].string())
            if name in units:
                raise InputError.at(
                    f"duplicate rtas name {name!r} in this play", keys["name"].at, [units[name].at]
                )
            units[name] = Unit(
                name,
                item.at,
                inline_steps(keys, base),
                become=become_keys(keys),
                tags=parse_tags(keys.get("tags")),
            )
    return tuple(units.values())


def _serial(node: Node) -> tuple[int | str, ...]:
    items = node.sequence("serial entry") if isinstance(node.value, list) else [node]
    values: list[int | str] = []
    for item in items:
        value = item.value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            values.append(value)
        elif isinstance(value, str) and value.endswith("%") and value[:-1].strip().isdigit():
            percent = int(value[:-1])
            if not 0 < percent <= 100:
                item.fail(f"{item.what} must be between 1% and 100%, not {value}")
            values.append(f"{percent}%")
        else:
            item.fail(
                f"{item.what} must be a host count or a percentage like '30%', not {shown(value)}"
            )
    return tuple(values)


def _load_roles(
    plays: tuple[Play, ...],
    search: tuple[str, ...],
    vault: VaultSecrets | None,
    errors: ErrorCollector,
) -> dict[str, Unit]:
    roles: dict[str, Unit] = {}
    failed: set[str] = set()
    pending: list[tuple[str, Location]] = [(use.name, use.at) for p in plays for use in p.roles]
    while pending:
        name, at = pending.pop(0)
        if name in roles or name in failed:
            continue
        with errors.gather():
            try:
                roles[name] = load_role(name, find_role(name, search, at), vault)
            except InputError:
                failed.add(name)
                raise
            pending.extend((dep, roles[name].depends_at[dep]) for dep in roles[name].depends)
    if not failed:  # cycles are looked for once every role loads
        with errors.gather():
            check_cycles(roles)
    for play in plays:
        uses = {use.name: use for use in reversed(play.roles)}  # the first use of each role
        clash = next((unit for unit in play.rtas if unit.name in uses), None)
        if clash:
            message = f"rtas name {clash.name!r} is also a role of this play"
            errors.add(InputError.at(message, clash.at, [uses[clash.name].at]))
    return roles
