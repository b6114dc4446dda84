"""Host addresses: the one parser and formatter that inventory, patterns, transport and tasks share.

An address is a DNS name (kept as written), an IPv4 address, or an IPv6
address (compressed, lower-case, unbracketed, its `%scope` kept). The rules are
the inventory's (docs/inventory.md): names use letters, digits, `.`, `-`, `_`
and do not start with `-`; a scope id is 1-15 interface-name characters; a
link-local IPv6 address needs one; brackets are only for a port
(`[2001:db8::1]:2222`); a bare IPv6 address is never split at its colons.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Literal

from rorunner.errors import InputError, Location

Kind = Literal["name", "ipv4", "ipv6"]

_HOSTNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_SCOPE = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")
_IPV4ISH = re.compile(r"[0-9]+(\.[0-9]+){3}\Z")
_BRACKETED = re.compile(r"\[(.+)\]:([^\]]*)\Z", re.S)
_RANGE = re.compile(r"\[[^\]]*\]")
_IP_SHAPED = re.compile(r"[0-9A-Fa-f:.]+\Z")
_MAX_PORT = 65535


@dataclass(frozen=True)
class Address:
    """A validated host address; `text` is its normal form (what connections use)."""

    text: str
    kind: Kind

    def __str__(self) -> str:
        return self.text

    def with_port(self, port: int | None) -> str:
        """For display: the address, `[v6]:port`, or `name:port` / `v4:port`."""
        if port is None:
            return self.text
        return f"[{self.text}]:{port}" if self.kind == "ipv6" else f"{self.text}:{port}"

    @property
    def token(self) -> str:
        """The address as a task-name part: ':' and '%' become '_' (`2001_db8__1`)."""
        return self.text.replace(":", "_").replace("%", "_")


@dataclass(frozen=True)
class Endpoint:
    """An address and the port written with it (None: the port comes from elsewhere)."""

    address: Address
    port: int | None = None

    def __str__(self) -> str:
        return self.address.with_port(self.port)

    @property
    def token(self) -> str:
        """The task-name part: the address token, `_p<port>` added when a port was written."""
        suffix = f"_p{self.port}" if self.port is not None else ""
        return self.address.token + suffix


def _fail(message: str, at: Location | None) -> InputError:
    return InputError(message, at.path, at.line) if at else InputError(message)


def parse_port(value: object, where: str, at: Location | None = None) -> int:
    """A TCP port 1..65535 from an int or a decimal string; `where` is quoted in the message."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, bool) or not (
        isinstance(text, int) or (isinstance(text, str) and text.isascii() and text.isdigit())
    ):
        raise _fail(f"bad port {value!r} in {where!r}: expected 1..{_MAX_PORT}", at)
    port = int(text)
    if not 1 <= port <= _MAX_PORT:
        raise _fail(f"bad port {port} in {where!r}: expected 1..{_MAX_PORT}", at)
    return port


def split_port(token: str, at: Location | None = None) -> tuple[str, int | None]:
    """Split a host token into (host, port or None) without checking the host part.

    `[addr]:port`, `name:port` and `v4:port` carry a port; a bare IPv6 address
    (more than one ':') never does. Range brackets (`web[1:3]:22`,
    `2001:db8::[1:4]`) may stay in the host part; the caller expands them.
    """
    bracketed = _BRACKETED.match(token)
    if bracketed and _is_host_in_brackets(bracketed.group(1)):
        return bracketed.group(1), parse_port(bracketed.group(2), token, at)
    if token.startswith("[") and token.endswith("]") and _is_host_in_brackets(token[1:-1]):
        raise _bracket_error(repr(token), token, at)
    if _RANGE.sub("", token).count(":") == 1:
        name, _, port = token.rpartition(":")
        return name, parse_port(port, token, at)
    return token, None


def _is_host_in_brackets(inner: str) -> bool:
    """`[2001:db8::1]`, `[web1]` hold a host; `[1:3]` is a range."""
    inner = _RANGE.sub("0", inner)  # a range inside the address counts as one part
    return "::" in inner or inner.count(":") >= 3 or ":" not in inner


def _bracket_error(subject: str, token: str, at: Location | None) -> InputError:
    return _fail(
        f"{subject}: brackets around an address are only for a port ([addr]:port); "
        f"write {token[1:-1]!r}",
        at,
    )


def parse_address(text: str, what: str = "", at: Location | None = None) -> Address:
    """Validate and normalise one address (no port); `what` names it in messages."""
    what = what or f"address {text!r}"
    if text.startswith("[") and text.endswith("]"):
        raise _bracket_error(what, text, at)
    if text.startswith("-"):
        raise _fail(f"{what} must not start with '-'", at)
    if ":" in text or "%" in text:
        return _ipv6(text, what, at)
    if _IPV4ISH.match(text):
        try:
            return Address(str(ipaddress.IPv4Address(text)), "ipv4")
        except ValueError:
            raise _fail(f"{what}: invalid IPv4 address {text!r}", at) from None
    if not _HOSTNAME.match(text):
        raise _fail(
            f"{what} is not a valid host name or address ({_bad_chars(text)}; use "
            "letters, digits, '.', '-', '_', or an IP address)",
            at,
        )
    return Address(text, "name")


def _bad_chars(text: str) -> str:
    bad = sorted({c for c in text if not (c.isascii() and (c.isalnum() or c in "_.-"))})
    if bad:
        return f"characters {''.join(bad)!r} are not allowed"
    return "it is empty" if not text else f"must not start with {text[:1]!r}"


def _ipv6(text: str, what: str, at: Location | None) -> Address:
    addr, sep, scope = text.partition("%")
    if sep and not _SCOPE.match(scope):
        raise _fail(
            f"{what}: bad scope id {scope!r} (interface names are 1-15 of A-Z a-z 0-9 . _ -)", at
        )
    if sep and _IPV4ISH.match(addr):
        raise _fail(f"{what}: a scope id (%{scope}) applies only to IPv6 addresses", at)
    fast = _ipv6_text(addr)
    if fast is not None:
        if not sep and fast[1]:
            raise _fail(
                f"{what}: the link-local address {fast[0]} needs a scope id, e.g. "
                f"{fast[0]}%eth0 (nothing can connect to it without one)",
                at,
            )
        return Address(f"{fast[0]}%{scope}" if sep else fast[0], "ipv6")
    try:
        parsed = ipaddress.IPv6Address(addr)
    except ValueError as exc:
        raise _fail(f"{what}: invalid IPv6 address {addr!r} ({exc})", at) from None
    if parsed.is_link_local and not sep:
        raise _fail(
            f"{what}: the link-local address {parsed} needs a scope id, e.g. {parsed}%eth0 "
            "(nothing can connect to it without one)",
            at,
        )
    return Address(f"{parsed}%{scope}" if sep else str(parsed), "ipv6")


def _ipv6_text(addr: str) -> tuple[str, bool] | None:
    """The compressed form of a valid IPv6 address and whether it is link-local, by the C
    library (an inventory of 100,000 hosts parses as many); None when it is not valid, or
    embeds IPv4 in a form that the C library writes differently from `ipaddress` (which
    then judges and words it)."""
    try:
        packed = socket.inet_pton(socket.AF_INET6, addr)
    except (OSError, ValueError):  # ValueError: a NUL in the text
        return None
    text = socket.inet_ntop(socket.AF_INET6, packed)
    if "." in text:  # ::ffff:1.2.3.4: ipaddress writes ::ffff:102:304
        return None
    return text, packed[0] == 0xFE and packed[1] & 0xC0 == 0x80  # fe80::/10


def parse_endpoint(text: str, what: str = "", at: Location | None = None) -> Endpoint:
    """Parse `addr`, `[addr]:port`, `name:port` or `v4:port` into a checked Endpoint."""
    token = text.strip()
    if not token:
        raise _fail("empty host address", at)
    host, port = split_port(token, at)
    return Endpoint(parse_address(host, what or f"address {token!r}", at), port)


def is_ip_literal(text: str) -> bool:
    """True when `text` is an IPv4 or IPv6 literal (a `%scope` allowed), never raising."""
    try:
        ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return False
    return True


def looks_like_address(text: str) -> bool:
    """True when `text` is written as an address, valid or not: `[host]:port`, a bracketed
    IP, or only hex digits, dots and colons with `::`, 7+ colons or four dotted numbers.

    Host patterns parse such a term as an address instead of reading it as group names.
    """
    bracketed = _BRACKETED.match(text)
    if bracketed and bracketed.group(2).isdigit():
        return True
    core = text[1:].partition("]")[0] if text.startswith("[") and "]" in text else text
    core = core.partition("%")[0]
    if text.startswith("["):
        return core.count(":") >= 2 or bool(_IPV4ISH.match(core))
    if not _IP_SHAPED.match(core):
        return False
    return "::" in core or core.count(":") >= 7 or bool(_IPV4ISH.match(core))


def port_hint(text: str) -> str | None:
    """`[2001:db8::1]:2222` for a bare `2001:db8::1:2222` that reads like address:port, else None.

    The text is a valid IPv6 address, so it stays one; the hint is for a warning. It applies
    when the last group is a 2-5 digit decimal port and the rest is itself a `::` address.
    """
    head, sep, last = text.rpartition(":")
    if not sep or "%" in text or "::" not in head or not (2 <= len(last) <= 5):
        return None
    if not (last.isascii() and last.isdigit()) or not 1 <= int(last) <= _MAX_PORT:
        return None
    if head.endswith(":") or not is_ip_literal(head) or ":" not in head:
        return None
    return Address(head, "ipv6").with_port(int(last))
