"""Role directories: finding them, reading role.yml and their step folders, dependency checks."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import pairwise
from typing import TYPE_CHECKING

from rorunner.become import BECOME_KEYS
from rorunner.errors import InputError, Location, did_you_mean
from rorunner.model import Phase
from rorunner.playbook._model import PathEntry, StepEntry, Unit
from rorunner.playbook._node import Node
from rorunner.playbook._steps import (
    FILES_STEP,
    SAFE_NAME,
    become_keys,
    fetch_step,
    local_become,
    parse_tags,
)
from rorunner.safe_yaml import load_yaml
from rorunner.walk import TreeEntry, list_dir, lookup, walk_files

if TYPE_CHECKING:
    from rorunner.vault import VaultSecrets

ROLE_FILE = "role.yml"
_ROLE_KEYS = (
    "depends",
    "vars",
    "fetch",
    "remote_dir",
    "timeout",
    "timeouts",
    "scripts",
    "tags",
    *BECOME_KEYS,
    # issue 10: a work dir of its own, and files/ entries that may override
    "work_subdir",
    "override",
    "secret",
)
_SCRIPT_DIRS: tuple[Phase, ...] = ("local_pre", "remote", "local_post")
_MARKS: tuple[str, ...] = ("override", "secret")  # role.yml lists of files/ entries to mark


def role_search_path(playbook_dir: str, extra: Sequence[str]) -> tuple[str, ...]:
    """Role directories searched in order: playbook dir, its parent, then --roles-path."""
    candidates = [
        os.path.join(playbook_dir, "roles"),
        os.path.join(os.path.dirname(playbook_dir), "roles"),
        *(os.path.abspath(path) for path in extra),
    ]
    unique: list[str] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return tuple(unique)


def available_roles(search: Iterable[str]) -> set[str]:
    """Names of every role directory on the search path."""
    names: set[str] = set()
    for base in search:
        if os.path.isdir(base):
            # Only for "did you mean": what does not resolve to a directory is not a role.
            names.update(e.rel for e in list_dir(base, lambda _path, is_dir: is_dir))
    return {name for name in names if SAFE_NAME.fullmatch(name)}


def find_role(name: str, search: Sequence[str], at: Location) -> str:
    """The directory of role `name` (first match on the search path) or an InputError."""
    if SAFE_NAME.fullmatch(name):
        for base in search:
            path = os.path.join(base, name)
            found = lookup(path)  # a looping or broken link is an error naming it
            if found is not None and found.is_dir:
                return path
    hint = did_you_mean(name, available_roles(search))
    where = ", ".join(search)
    raise InputError(f"unknown role {name!r}{hint}; searched {where}", at.path, at.line)


def load_role(name: str, directory: str, vault: VaultSecrets | None = None) -> Unit:
    """Read one role directory into a Unit (its dependencies are names, resolved by the caller)."""
    _check_layout(directory)
    role_file = os.path.join(directory, ROLE_FILE)
    keys: dict[str, Node] = {}
    if lookup(role_file) is not None:
        data = load_yaml(role_file, vault, kind="role files")
        if data is not None:
            keys = Node(data, role_file, 1, f"role {name!r}").mapping(_ROLE_KEYS)
    steps = [*_script_steps(directory, "local_pre")]
    files = _marked(_files_step(directory), keys)
    steps.extend([files] if files.items else [])
    steps.extend(_script_steps(directory, "remote"))
    if "fetch" in keys and keys["fetch"].value is not None:
        fetch = fetch_step(keys["fetch"], directory)
        steps.extend([fetch] if fetch.items else [])
    steps.extend(_script_steps(directory, "local_post"))
    steps = _with_timeouts(steps, keys)
    if "scripts" in keys and keys["scripts"].value is not None:
        steps = _script_become(keys["scripts"], steps)
    depends = keys["depends"].sequence("dependency") if "depends" in keys else []
    defaults = keys.get("vars")
    remote_dir = keys.get("remote_dir")
    return Unit(
        name,
        Location(role_file if os.path.exists(role_file) else directory),
        tuple(steps),
        is_role=True,
        directory=directory,
        depends=tuple(dep.string() for dep in depends),
        depends_at={dep.string(): dep.at for dep in depends},
        defaults=defaults.variables() if defaults else {},
        defaults_at=defaults.variable_lines() if defaults else {},
        remote_dir=remote_dir.string() if remote_dir else None,
        remote_dir_at=remote_dir.at if remote_dir else None,
        become=become_keys(keys),
        tags=parse_tags(keys.get("tags")),
        work_subdir=keys["work_subdir"].boolean() if "work_subdir" in keys else False,
    )


def _marked(files: StepEntry, keys: dict[str, Node]) -> StepEntry:
    """The files/ step with role.yml's `override` and `secret` entries (paths as the files
    land in the work dir, `.j2` dropped) marked on its items; an unknown path is an error."""
    landed = {_landed(item): index for index, item in enumerate(files.items)}
    items = list(files.items)
    for key in _MARKS:
        node = keys.get(key)
        if node is None or node.value is None:
            continue
        for entry in node.sequence(f"{key} entry"):
            path = entry.string()
            if path not in landed:
                hint = did_you_mean(path, tuple(landed))
                entry.fail(f"{entry.what}: {path!r} is not a file of this role's files/{hint}")
            index = landed[path]
            item = items[index]
            items[index] = (
                replace(item, secret=True) if key == "secret" else replace(item, override=True)
            )
    return replace(files, items=tuple(items))


def _landed(item: PathEntry) -> str:
    """Where a files/ entry lands, relative to the work dir."""
    dest = item.dest or ""
    return dest.removesuffix(".j2")


def _with_timeouts(steps: list[StepEntry], keys: dict[str, Node]) -> list[StepEntry]:
    """Scripts get their role.yml `timeouts` entry (by file name), else its `timeout`."""
    default = keys["timeout"].number(minimum=0.001) if "timeout" in keys else None
    scripts = sorted({step.name for step in steps if step.script})
    each: dict[str, float] = {}
    if "timeouts" in keys and keys["timeouts"].value is not None:
        entries = keys["timeouts"].mapping(scripts)
        each = {name: node.number(minimum=0.001) for name, node in entries.items()}
    return [
        replace(step, timeout=each.get(step.name, default)) if step.script else step
        for step in steps
    ]


def _script_become(node: Node, steps: list[StepEntry]) -> list[StepEntry]:
    """Apply `scripts: {10-a.sh: {become: true, become_user: app}, ...}` (by file name, as
    `timeouts`: a name in several folders means all of them) to the role's script steps."""
    names = sorted({step.name for step in steps if step.script})
    settings = {name: entry.mapping(BECOME_KEYS) for name, entry in node.mapping(names).items()}
    result = []
    for step in steps:
        keys = settings.get(step.name) if step.script else None
        if keys is not None:
            local_become(keys, step.phase)
        result.append(replace(step, become=become_keys(keys)) if keys is not None else step)
    return result


def _check_layout(directory: str) -> None:
    """Refuse a misspelt step folder or role file, which would otherwise be silently ignored."""
    folders = (*_SCRIPT_DIRS, "files")
    for entry in list_dir(directory, _visible):
        if entry.is_dir and entry.rel not in folders:
            hint = did_you_mean(entry.rel, folders)
            known = ", ".join(f"{f}/" for f in folders)
            message = f"unknown role folder {entry.rel!r}{hint}; a role has {known}"
            raise InputError(message, entry.path)
        misspelt = entry.rel.endswith((".yml", ".yaml")) and entry.rel != ROLE_FILE
        if not entry.is_dir and misspelt and did_you_mean(entry.rel, (ROLE_FILE,)):
            raise InputError(f"role file must be named {ROLE_FILE!r}", entry.path)


def _visible(path: str, is_dir: bool) -> bool:
    # Editor backups and dot-files (.gitkeep) are not steps.
    name = os.path.basename(path)
    return not name.startswith(".") and not name.endswith("~")


def _script_steps(directory: str, phase: Phase) -> list[StepEntry]:
    folder = os.path.join(directory, phase)
    found = lookup(folder)
    if found is None or not found.is_dir:
        return []
    return [_script_step(phase, entry, directory) for entry in list_dir(folder, _visible)]


def _script_step(phase: Phase, entry: TreeEntry, directory: str) -> StepEntry:
    if entry.is_dir:
        raise InputError(f"{phase}/ may hold only script files", entry.path)
    if not SAFE_NAME.fullmatch(entry.rel):
        raise InputError("script names may use only letters, digits and . _ + @ -", entry.path)
    if phase != "remote" and not os.access(entry.path, os.X_OK):
        raise InputError(f"{phase} script is not executable (chmod +x {entry.rel})", entry.path)
    return StepEntry(phase, entry.rel, Location(entry.path), script=entry.path, base=directory)


def _files_step(directory: str) -> StepEntry:
    root = os.path.join(directory, "files")
    found = lookup(root)
    entries = shipped_files(root) if found is not None and found.is_dir else []
    items = tuple(
        PathEntry(e.path, Location(e.path), dest=e.rel, mode=e.mode, templated=False)
        for e in entries
    )
    return StepEntry("ship", FILES_STEP, Location(root), items=items, base=root)


def shipped_files(root: str) -> list[TreeEntry]:
    """Every file under `root` as rorunner.walk reads trees (links followed, loops refused),
    dot-files and dot-dirs skipped, sorted by relative path: the order a role's files/ and a
    shipped directory are both read in."""
    found = walk_files(root, lambda path, _is_dir: not os.path.basename(path).startswith("."))
    return sorted(found, key=lambda entry: entry.rel)


def check_cycles(roles: dict[str, Unit]) -> None:
    """Refuse role dependency cycles: the cycle (a -> b -> a) at its first `depends` entry,
    also naming every other one."""
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in done:
            return
        for dep in roles[name].depends:
            if dep in trail:
                cycle = [*trail[trail.index(dep) :], dep]
                edges = [roles[a].depends_at[b] for a, b in pairwise(cycle)]
                message = "role dependency cycle: " + " -> ".join(cycle)
                raise InputError.at(message, edges[0], edges[1:])
            visit(dep, [*trail, dep])
        done.add(name)

    for name in sorted(roles):
        visit(name, [name])
