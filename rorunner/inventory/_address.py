"""Host tokens (`name`, `name:port`, `[addr]:port`, IPv6 literals) and address checks."""

from __future__ import annotations

import ipaddress
import re

from rorunner.errors import InputError

_HOSTNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_GROUPNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_SCOPE = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")
_IPV4ISH = re.compile(r"[0-9]+(\.[0-9]+){3}\Z")
_BRACKETED = re.compile(r"\[(.+)\]:([^\]]*)\Z", re.S)


def split_host_port(token: str, path: str, line: int) -> tuple[str, int | None]:
    """Split an inventory host token into (name pattern, port or None)."""
    bracketed = _BRACKETED.match(token)
    if bracketed and _is_address_in_brackets(bracketed.group(1)):
        return bracketed.group(1), parse_port(bracketed.group(2), token, path, line)
    if token.startswith("[") and token.endswith("]") and _is_address_in_brackets(token[1:-1]):
        raise InputError(
            f"{token!r}: brackets around an address are only for a port "
            f"([addr]:port); write {token[1:-1]!r}",
            path,
            line,
        )
    outside = re.sub(r"\[[^\]]*\]", "", token)
    if outside.count(":") == 1:
        name, _, port = token.rpartition(":")
        return name, parse_port(port, token, path, line)
    return token, None


def _is_address_in_brackets(inner: str) -> bool:
    inner = re.sub(r"\[[^\]]*\]", "0", inner)  # a range inside the address counts as one part
    return "::" in inner or inner.count(":") >= 3 or ":" not in inner


def parse_port(text: object, where: str, path: str, line: int) -> int:
    """A TCP port 1..65535 from an int or a decimal string."""
    value = text.strip() if isinstance(text, str) else text
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.isdigit())
    ):
        raise InputError(f"bad port {text!r} in {where!r}: expected 1..65535", path, line)
    port = int(value)
    if not 1 <= port <= 65535:
        raise InputError(f"bad port {port} in {where!r}: expected 1..65535", path, line)
    return port


def check_host_name(name: str, path: str, line: int) -> str:
    """Validate an inventory host name; return its normalised connection address."""
    if name.startswith("-"):
        raise InputError(f"host name {name!r} must not start with '-'", path, line)
    return normalise_address(name, f"host name {name!r}", path, line)


def normalise_address(text: str, what: str, path: str, line: int) -> str:
    """IPv6 compressed (scope id kept), IPv4 as is, DNS names as written; else InputError."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text or "%" in text:
        return _ipv6(text, what, path, line)
    if _IPV4ISH.match(text):
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise InputError(f"{what}: invalid IPv4 address {text!r}", path, line) from None
    if not _HOSTNAME.match(text):
        bad = sorted({c for c in text if not (c.isascii() and (c.isalnum() or c in "_.-"))})
        detail = f"characters {''.join(bad)!r} are not allowed" if bad else "must not start with"
        if not bad:
            detail += f" {text[:1]!r}"
        raise InputError(
            f"{what} is not a valid host name or address ({detail}; use letters, digits, "
            "'.', '-', '_', or an IP address)",
            path,
            line,
        )
    return text


def _ipv6(text: str, what: str, path: str, line: int) -> str:
    addr, sep, scope = text.partition("%")
    if sep and not _SCOPE.match(scope):
        raise InputError(
            f"{what}: bad scope id {scope!r} (interface names are 1-15 of A-Z a-z 0-9 . _ -)",
            path,
            line,
        )
    try:
        parsed = ipaddress.IPv6Address(addr)
    except ValueError as exc:
        raise InputError(f"{what}: invalid IPv6 address {addr!r} ({exc})", path, line) from None
    return f"{parsed}%{scope}" if sep else str(parsed)


def check_group_name(name: str, path: str, line: int) -> str:
    """Group names: letters, digits, '_', '.', '-' (no shell or pattern metacharacters)."""
    if not _GROUPNAME.match(name):
        raise InputError(
            f"group name {name!r} is not allowed (use letters, digits, '_', '.', '-')", path, line
        )
    return name
