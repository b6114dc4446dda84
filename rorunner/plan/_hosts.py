"""Which hosts a play targets: its `hosts:` pattern, checked for typos, then --limit."""

from __future__ import annotations

import re

from rorunner.errors import InputError, Location, did_you_mean
from rorunner.inventory import select_hosts, unmatched_terms
from rorunner.model import Inventory

_LOOSE = re.compile(r"[*?\[~]")  # wildcards and regexes may legitimately match nothing


def check_pattern(inventory: Inventory, pattern: str, at: Location) -> None:
    """Refuse a term naming no host or group (a typo), with a did-you-mean.

    A known but empty group, a wildcard or a regex matching nothing is not a typo:
    the play just has no hosts (a notice, as in Ansible).
    """
    source = at if at.line else Location("")
    names = set(inventory.hosts) | set(inventory.groups) | {"all", "ungrouped"}
    for term in unmatched_terms(inventory, pattern, source):
        if term in names or _LOOSE.search(term):
            continue
        hint = did_you_mean(term, names)
        message = f"host pattern {pattern!r}: no host or group named {term!r}{hint}"
        raise InputError(message, at.path or None, at.line)


def select(inventory: Inventory, pattern: str, at: Location) -> list[str]:
    """Host names matched by `pattern`, in inventory order."""
    source = at if at.line else Location("")
    return [host.name for host in select_hosts(inventory, pattern, source=source)]
