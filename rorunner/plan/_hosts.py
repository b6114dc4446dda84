"""Which hosts a play targets: its `hosts:` pattern, checked for typos, then --limit."""

from __future__ import annotations

import fnmatch
import ipaddress
import re

from rorunner.errors import InputError, Location, did_you_mean
from rorunner.model import Inventory

_WILDCARD = re.compile(r"[*?\[]")


def pattern_terms(pattern: str) -> list[str]:
    """Split a host pattern into its terms (',' always; ':' unless the term is an IPv6 address)."""
    text = pattern.strip()
    if "," in text:
        return [t.strip() for t in text.split(",") if t.strip()]
    if _is_address(text.lstrip("!&")):
        return [text]
    return [t.strip() for t in text.split(":") if t.strip()]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def _normal_address(text: str) -> str:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return text
    scope = text.strip("[]").partition("%")[2]
    return address.compressed + (f"%{scope}" if scope else "")


def check_pattern(inventory: Inventory, pattern: str, at: Location) -> None:
    """Refuse a pattern term that names no host, group or address (a typo), with a did-you-mean."""
    names = set(inventory.hosts) | set(inventory.groups) | {"all", "ungrouped"}
    addresses = {h.address for h in inventory.hosts.values()}
    for raw in pattern_terms(pattern):
        term = raw.lstrip("!&")
        if not term or term == "*" or term[0] in "~@" or _WILDCARD.search(term):
            continue
        if term in names or _normal_address(term) in addresses:
            continue
        hint = did_you_mean(term, names)
        message = f"host pattern {pattern!r}: no host or group named {term!r}{hint}"
        raise InputError(message, at.path or None, at.line)


def select(inventory: Inventory, pattern: str) -> list[str]:
    """Host names matched by `pattern`, in inventory order."""
    try:
        from rorunner.inventory import select_hosts  # noqa: PLC0415
    except ImportError:
        return _fallback_select(inventory, pattern)
    chosen = {host.name for host in select_hosts(inventory, pattern)}
    return [name for name in inventory.hosts if name in chosen]


def _fallback_select(inventory: Inventory, pattern: str) -> list[str]:
    selected: list[str] = []
    for raw in pattern_terms(pattern):
        term = raw.lstrip("!&")
        matched = set(_match(inventory, term))
        if raw.startswith("!"):
            selected = [n for n in selected if n not in matched]
        elif raw.startswith("&"):
            selected = [n for n in selected if n in matched]
        else:
            selected.extend(n for n in inventory.hosts if n in matched and n not in selected)
    return [name for name in inventory.hosts if name in selected]


def _match(inventory: Inventory, term: str) -> list[str]:
    if term in ("all", "*"):
        return list(inventory.hosts)
    found = [n for n, h in inventory.hosts.items() if term in h.groups]
    found += [
        n for n, h in inventory.hosts.items() if n == term or h.address == _normal_address(term)
    ]
    if _WILDCARD.search(term):
        found += [n for n in inventory.hosts if fnmatch.fnmatchcase(n, term)]
    return found
