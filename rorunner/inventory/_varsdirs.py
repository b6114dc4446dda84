"""`group_vars/` and `host_vars/` beside each inventory source (Ansible's host_group_vars).

For every `-i` source (a host list has none) the base directory is the source itself when it
is a directory, else its parent. Each group or host name is looked up as `<dir>/<name>`, then
`<name>.yml`, `.yaml`, `.json`: the first that exists wins; a directory stands for its files,
recursively in sorted order (hidden and `~` files skipped; files without extension or with one
of those three; sub-directories without a dot). Later files override earlier ones. A file may
be vault-encrypted as a whole (its values are then secrets) or hold `!vault` values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rorunner.errors import InputError, Location
from rorunner.safe_yaml import describe, line_of, load_yaml, plain
from rorunner.walk import walk_files

if TYPE_CHECKING:
    from rorunner.vault import VaultSecrets

VARS_EXTENSIONS = (".yml", ".yaml", ".json")
_CANDIDATE_SUFFIXES = ("", *VARS_EXTENSIONS)


@dataclass(frozen=True)
class FileVars:
    """The merged vars of one entity's files in one base directory, with each var's file:line."""

    values: dict[str, Any]
    origins: dict[str, Location]


@dataclass(frozen=True)
class VarsLayer:
    """What one base directory gives: group name -> vars, host name -> vars."""

    groups: dict[str, FileVars] = field(default_factory=dict)
    hosts: dict[str, FileVars] = field(default_factory=dict)


def base_dirs(paths: Iterable[str]) -> list[str]:
    """The directory whose group_vars/host_vars each source gets, in source order."""
    found = []
    for path in paths:
        if "," in path and not os.path.exists(path):  # a host list
            continue
        found.append(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    return found


def load_vars_layers(
    dirs: Iterable[str],
    groups: Iterable[str],
    hosts: Iterable[str],
    notices: list[str],
    vault: VaultSecrets | None = None,
) -> list[VarsLayer]:
    """One layer per base directory (repeats included, as Ansible applies them again)."""
    group_names, host_names = list(groups), list(hosts)
    cache: dict[str, VarsLayer] = {}
    layers = []
    for base in dirs:
        if base not in cache:
            group_dir, host_dir = os.path.join(base, "group_vars"), os.path.join(base, "host_vars")
            cache[base] = VarsLayer(
                groups=_entity_vars(group_dir, group_names, notices, vault),
                hosts=_entity_vars(host_dir, host_names, notices, vault),
            )
        layers.append(cache[base])
    return layers


def _entity_vars(
    vars_dir: str, names: list[str], notices: list[str], vault: VaultSecrets | None
) -> dict[str, FileVars]:
    if not os.path.exists(vars_dir):
        return {}
    if not os.path.isdir(vars_dir):
        notices.append(f"{vars_dir} is not a directory, skipped")
        return {}
    try:
        entries = set(os.listdir(vars_dir))
    except OSError as exc:
        raise InputError(f"cannot read directory: {exc.strerror or exc}", vars_dir) from None
    found: dict[str, FileVars] = {}
    for name in names:
        files = _files_for(vars_dir, name, entries)
        if files:
            found[name] = _merge(files, vault)
    return found


def _files_for(vars_dir: str, name: str, entries: set[str]) -> list[str]:
    """The files for one name: the first candidate that exists (a directory: its files)."""
    for suffix in _CANDIDATE_SUFFIXES:
        candidate = name + suffix
        path = os.path.join(vars_dir, candidate)
        if candidate in entries and os.path.exists(path):
            if os.path.isdir(path):
                return [entry.path for entry in walk_files(path, _is_vars_entry)]
            return [path]
    return []


def _is_vars_entry(path: str, is_dir: bool) -> bool:
    name = os.path.basename(path)
    if name.startswith(".") or name.endswith("~"):
        return False
    ext = os.path.splitext(name)[1]
    if is_dir:
        return not ext
    return not ext or ext in VARS_EXTENSIONS


def _merge(files: list[str], vault: VaultSecrets | None) -> FileVars:
    values: dict[str, Any] = {}
    origins: dict[str, Location] = {}
    for path in files:
        data = _load(path, vault)
        for key in data:
            values[key] = plain(data[key])
            origins[key] = Location(path, line_of(data, key))
    return FileVars(values, origins)


def _load(path: str, vault: VaultSecrets | None) -> Mapping[str, Any]:
    """One vars file: a mapping of names (empty files count as no vars, as in Ansible)."""
    data = load_yaml(path, vault, encrypted_ok=True)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InputError(
            f"a vars file must be a mapping of variable names, got {describe(data)}",
            path,
            line_of(data) or 1,
        )
    for key in data:
        if not isinstance(key, str):
            raise InputError(
                f"variable name must be a string, got {describe(key)}",
                path,
                line_of(data, key),
            )
    return data
