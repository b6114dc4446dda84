"""Which files an `-i` path names (Ansible's directory rules) and which reader each gets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rorunner.errors import InputError, Location
from rorunner.inventory._builder import Builder
from rorunner.inventory._ini import read_ini
from rorunner.inventory._yamlinv import read_yaml
from rorunner.safe_yaml import (
    TEXT_LIMIT,
    VAULT_HEADER,
    YAML_LIMIT,
    decode_utf8,
    parse_yaml,
    read_bytes,
)
from rorunner.walk import lookup, walk_files

if TYPE_CHECKING:
    from rorunner.vault import VaultSecrets

YAML_EXTENSIONS = (".yaml", ".yml", ".json")
# Ansible's defaults: hidden files, vars dirs, and these extensions are skipped in a directory.
_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
    r"(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$"
)


def is_host_list(source: str) -> bool:
    """`-i 'web1,2001:db8::1,'`: a comma-separated host list (Ansible's host_list), not a path."""
    return "," in source and not os.path.exists(source)


def read_host_list(source: str, builder: Builder) -> None:
    """Add each host of a comma-separated list to ungrouped (`[addr]:port` allowed)."""
    label = Location("<host list>")
    for token in (t.strip() for t in source.split(",")):
        if token:
            names, port = builder.host_names(token, label, ranges=False)
            builder.add_host(names[0], "ungrouped", port, label)


def inventory_files(path: str) -> list[str]:
    """The files an inventory path stands for: itself, or a directory's files, recursively."""
    found = lookup(path)  # a broken or looping link is an error naming it
    if found is None:
        raise InputError("inventory path does not exist", path)
    if not found.is_dir:
        return [path]
    return [entry.path for entry in walk_files(path, _is_inventory_entry)]


def _is_inventory_entry(path: str, is_dir: bool) -> bool:
    return not _IGNORED.search(os.path.basename(path))


def read_source(path: str, builder: Builder, vault: VaultSecrets | None = None) -> None:
    """Parse one inventory file into `builder`, as YAML or INI by extension (sniffed if none);
    `!vault` values of a YAML inventory are decrypted with `vault`."""
    ext = Path(path).suffix.lower()
    data = read_bytes(path, YAML_LIMIT if ext in YAML_EXTENSIONS else TEXT_LIMIT)
    text = decode_utf8(data, path)
    if text.startswith("#!") and os.access(path, os.X_OK):
        raise InputError("dynamic inventory scripts are not supported", path, 1)
    if text.startswith(VAULT_HEADER):
        raise InputError(
            "vault-encrypted inventory files are not supported: encrypt group_vars/host_vars "
            "files or single values (!vault)",
            path,
            1,
        )
    if ext in YAML_EXTENSIONS:
        read_yaml(parse_yaml(text, path, vault), path, builder)
        return
    # Only a file within the YAML limit can be YAML; a larger one is read as INI.
    small = len(data) <= YAML_LIMIT.max_bytes
    mapping = _yaml_mapping(text, path, vault) if not ext and small else None
    if mapping is not None:
        read_yaml(mapping, path, builder)
    else:
        read_ini(text, path, builder)


def _yaml_mapping(text: str, path: str, vault: VaultSecrets | None) -> dict[str, Any] | None:
    """An extensionless file is YAML when it parses to a mapping, as Ansible's plugin order
    does: the parsed mapping then (parsed once), else None (read as INI)."""
    try:
        data = parse_yaml(text, path, vault)
    except InputError:
        return None
    return data if isinstance(data, dict) else None
