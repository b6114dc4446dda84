"""Inventory: Ansible-compatible INI and YAML, resolved once into frozen hosts and groups.

inv = load_inventory(["hosts.ini", "more/"])        # -> model.Inventory (InputError on bad input)
hosts = select_hosts(inv, "web:&prod:!web03", limit="2001:db8::1")
missing = unmatched_terms(inv, "web,typo")          # ("typo",) for did-you-mean messages
to_ansible_list(inv) / to_ansible_graph(inv) / host_view(inv, name) -> ansible-inventory output
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rorunner.inventory._builder import Builder
from rorunner.inventory._patterns import pattern_terms, select_hosts, unmatched_terms
from rorunner.inventory._resolve import resolve
from rorunner.inventory._sources import (
    inventory_files,
    is_host_list,
    read_host_list,
    read_source,
)
from rorunner.inventory._varsdirs import base_dirs, load_vars_layers
from rorunner.inventory._views import host_view, to_ansible_graph, to_ansible_list, to_json
from rorunner.model import Inventory

if TYPE_CHECKING:
    from rorunner.vault import VaultSecrets

__all__ = [
    "host_view",
    "inventory_files",
    "load_inventory",
    "pattern_terms",
    "select_hosts",
    "to_ansible_graph",
    "to_ansible_list",
    "to_json",
    "unmatched_terms",
]


def load_inventory(paths: str | Iterable[str], vault: VaultSecrets | None = None) -> Inventory:
    """Read every inventory source in order and resolve the result.

    A source is a file, a directory (its inventory files, recursively) or a
    comma-separated host list such as `"web1,[2001:db8::1]:2222,"`. The
    `group_vars/` and `host_vars/` beside each file source (inside a directory
    source) are read too, as Ansible's host_group_vars plugin does. Vault-encrypted vars
    files and `!vault` values are decrypted with `vault` (their values become Secrets).
    """
    paths = [paths] if isinstance(paths, str) else [str(p) for p in paths]
    builder = Builder()
    sources: list[str] = []
    for path in paths:
        if is_host_list(str(path)):
            read_host_list(str(path), builder)
            sources.append(str(path))
            continue
        for file in inventory_files(str(path)):
            read_source(file, builder, vault)
            sources.append(file)
    layers = load_vars_layers(
        base_dirs(paths), builder.groups, builder.hosts, builder.notices, vault
    )
    return resolve(builder, tuple(sources), layers)
