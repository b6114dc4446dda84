"""Ansible host patterns: `:`/`,` unions, `&`, `!`, wildcards, `~regex`, `@file`, IPv6 literals."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence

from rorunner.address import is_ip_literal, looks_like_address, parse_address, parse_endpoint
from rorunner.errors import InputError, Location
from rorunner.inventory._ranges import expand_range
from rorunner.model import Host, Inventory
from rorunner.safe_yaml import read_text

Pattern = str | Sequence[str]
_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SPECIAL = (".", "?", "*", "[")
_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+):([0-9]*))\]\Z")
NOWHERE = Location("")  # a pattern given on the command line: errors name no file


def pattern_terms(pattern: Pattern) -> list[str]:
    """Split a pattern into terms like Ansible; a lone IPv6 literal is never split at colons."""
    if not isinstance(pattern, str):
        return [term for part in pattern for term in pattern_terms(part)]
    if "," in pattern:
        parts = pattern.split(",")
    elif _is_one_term(pattern.strip().lstrip("!&")):
        parts = [pattern]
    else:
        parts = [
            term
            for part in _colon_terms(pattern)
            for term in ([part] if ":" in part else _TERM.findall(part))
        ]
    return [part.strip() for part in parts if part.strip()]


def _colon_terms(pattern: str) -> list[str]:
    """Split at ':' outside brackets, keeping IPv6 literals whole (`web:!2001:db8::1`)."""
    pieces, depth, start = [], 0, 0
    for index, char in enumerate(pattern):
        depth += (char == "[") - (char == "]")
        if char == ":" and depth == 0:
            pieces.append(pattern[start:index])
            start = index + 1
    pieces.append(pattern[start:])
    terms, i = [], 0
    while i < len(pieces):
        end = next((j for j in range(len(pieces), i + 1, -1) if _joins_to_ipv6(pieces[i:j])), i + 1)
        if end < len(pieces) and pieces[i].strip().endswith("]") and pieces[end].isdigit():
            end += 1  # "[addr]:port" is one term
        terms.append(":".join(pieces[i:end]))
        i = end
    return terms


def _joins_to_ipv6(pieces: list[str]) -> bool:
    candidate = ":".join(pieces).strip().lstrip("!&")
    # Only '::' forms or all eight groups: "ab:cd" stays two group names, as in Ansible.
    return ("::" in candidate or len(pieces) == 8) and _is_ipv6_pattern(candidate)


def _is_one_term(text: str) -> bool:
    """An address (valid or not, `[addr]:port` too) or an IPv6 pattern: never split at ':'."""
    return looks_like_address(text) or _is_ipv6_pattern(text)


def _is_ipv6_pattern(text: str) -> bool:
    """An IPv6 address, possibly with wildcards or ranges in it (`2001:db8::[1:4]`)."""
    if text.count(":") < 2:
        return False
    if re.fullmatch(r"[0-9A-Fa-f:.*?%\[\]A-Za-z0-9_-]+", text) is None:
        return False
    return is_ip_literal(re.sub(r"\[[^\]]*\]|[*?]", "0", text))


def select_hosts(
    inventory: Inventory, pattern: Pattern, limit: Pattern | None = None, source: Location = NOWHERE
) -> tuple[Host, ...]:
    """Hosts matched by `pattern` (and by `limit` if given), in inventory order.

    Terms apply in Ansible's order: plain terms (union), then `&` terms
    (intersection), then `!` terms (exclusion). Unknown names match nothing;
    ask `unmatched_terms` to warn about them. `source` (where the pattern was
    written) locates errors such as a bad regex or a missing @file.
    """
    chosen = _evaluate(inventory, pattern_terms(pattern), source)
    if limit is not None:
        chosen &= _evaluate(inventory, pattern_terms(limit), source)
    return tuple(host for name, host in inventory.hosts.items() if name in chosen)


def unmatched_terms(
    inventory: Inventory, pattern: Pattern, source: Location = NOWHERE
) -> tuple[str, ...]:
    """The terms of `pattern` (without their `!`/`&`) that match no group and no host."""
    missing: list[str] = []
    for term in pattern_terms(pattern):
        bare = term.lstrip("!&")
        if bare.startswith("@"):
            missing.extend(unmatched_terms(inventory, _file_terms(bare[1:], source), source))
        elif bare not in ("all", "*") and not _match(inventory, bare, source):
            missing.append(bare)
    return tuple(missing)


def _evaluate(inventory: Inventory, terms: list[str], source: Location) -> set[str]:
    regular = [t for t in terms if t[0] not in "!&"]
    both = [t[1:] for t in terms if t[0] == "&"]
    excluded = [t[1:] for t in terms if t[0] == "!"]
    chosen: set[str] = set()
    for term in regular or ["all"]:
        chosen |= _match(inventory, term, source)
    for term in both:
        chosen &= _match(inventory, term, source)
    for term in excluded:
        chosen -= _match(inventory, term, source)
    return chosen


def _match(inventory: Inventory, term: str, source: Location) -> set[str]:
    if not term:
        raise InputError.at("empty term in host pattern", source)
    if term.startswith("@"):
        return _evaluate(inventory, _file_terms(term[1:], source), source)
    if _is_address_term(inventory, term):
        return _endpoint_match(inventory, term, source)
    subscript = _SUBSCRIPT.match(term) if term[0] != "~" else None
    if subscript:
        return _subscripted(inventory, subscript, term, source)
    return _plain_match(inventory, term, source)


def _subscripted(
    inventory: Inventory, match: re.Match[str], term: str, source: Location
) -> set[str]:
    """`group[0]`, `group[-1]`, `group[1:3]` (inclusive), `group[2:]`, in Ansible's order.

    When the part before the brackets matches nothing, the term is read as a host
    range instead (`2001:db8::[1:3]`), which Ansible's patterns cannot express.
    """
    base, index, start, end = match.groups()
    ordered = _ordered_matches(inventory, base, source)
    if not ordered:
        return _as_range(inventory, term)
    if index is not None:
        position = int(index)
        return {ordered[position]} if -len(ordered) <= position < len(ordered) else set()
    last = int(end) if end else len(ordered) - 1
    return set(ordered[int(start) : last + 1])


def _ordered_matches(inventory: Inventory, term: str, source: Location) -> list[str]:
    """What a term matches, in order: each matched group's hosts, then matched host names."""
    test = _compile(term, source)
    groups = [name for name in inventory.groups if test(name)]
    found: dict[str, None] = {}
    for group in groups:
        found.update(dict.fromkeys(_group_hosts_in_order(inventory, group)))
    if not groups or term[0] == "~" or any(c in term for c in _SPECIAL):
        found.update((name, None) for name in inventory.hosts if test(name))
    by_address = _by_address(inventory, term)
    found.update((name, None) for name in inventory.hosts if name in by_address)
    return list(found)


def _group_hosts_in_order(inventory: Inventory, group: str) -> list[str]:
    """The group's own hosts, then its descendants' level by level (Ansible's get_hosts)."""
    levels, seen, frontier = [group], {group}, [group]
    while frontier:
        frontier = [c for g in frontier for c in inventory.groups[g].children if c not in seen]
        frontier = list(dict.fromkeys(frontier))
        seen.update(frontier)
        levels += frontier
    hosts: dict[str, None] = {}
    for name in levels:
        hosts.update(dict.fromkeys(inventory.groups[name].hosts))
    return list(hosts)


def _as_range(inventory: Inventory, term: str) -> set[str]:
    try:
        names = expand_range(term, "", 0)
    except InputError:
        return set()
    return {name for name in names if name in inventory.hosts}


def _plain_match(inventory: Inventory, term: str, source: Location) -> set[str]:
    test = _compile(term, source)
    groups = {name for name in inventory.groups if test(name)}
    found = {h.name for h in inventory.hosts.values() if groups.intersection(h.groups)}
    if not groups or term[0] == "~" or any(c in term for c in _SPECIAL):
        found.update(name for name in inventory.hosts if test(name))
    found.update(_by_address(inventory, term))
    return found


def _compile(term: str, source: Location) -> Callable[[str], bool]:
    try:
        regex = re.compile(term[1:] if term[0] == "~" else fnmatch.translate(term))
    except re.error as exc:
        raise InputError.at(f"bad host pattern {term!r}: {exc}", source) from None
    return lambda name: regex.match(name) is not None


def _is_address_term(inventory: Inventory, term: str) -> bool:
    """A term written as an address (no wildcard, range or regex) that names no host or group."""
    literal = not any(c in term for c in "*?~") and ("[" not in term or term.startswith("["))
    known = term in inventory.hosts or term in inventory.groups
    return literal and not known and looks_like_address(term)


def _endpoint_match(inventory: Inventory, term: str, source: Location) -> set[str]:
    """Hosts at that address (and port, for `[addr]:port`); a bad address is an InputError."""
    at = source if source.path else None
    endpoint = parse_endpoint(term, f"host pattern term {term!r}", at)
    address, port = endpoint.address.text, endpoint.port
    return {
        h.name
        for h in inventory.hosts.values()
        if h.address == address and (port is None or (h.port or 22) == port)
    }


def _by_address(inventory: Inventory, term: str) -> set[str]:
    """An IP literal also matches hosts whose connection address is that address."""
    if not is_ip_literal(term):
        return set()
    try:
        address = parse_address(term).text
    except InputError:
        return set()
    return {h.name for h in inventory.hosts.values() if h.address == address}


def _file_terms(path: str, source: Location) -> list[str]:
    try:
        text = read_text(path)
    except InputError as exc:
        message = f"host pattern file @{path}: {exc.message}"
        raise InputError.at(message, source) from None
    return [term for line in text.splitlines() for term in pattern_terms(line)]
