"""Parse a bare host argument ("2001:db8::1", "[2001:db8::1]:2222", "fe80::1%eth0", "name")."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from rorunner.errors import InputError
from rorunner.model import ConnectionSpec, HostKeyPolicy

_SCOPE = re.compile(r"[A-Za-z0-9_.-]+\Z")
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\Z")
_BRACKETED = re.compile(r"\[(?P<addr>[^\]]+)\](?::(?P<port>[^:]*))?\Z")
PROJECT_KNOWN_HOSTS = Path(".rorunner") / "known_hosts"
_POLICIES = ("strict", "accept-new")


def normalize_address(text: str) -> str:
    """Return an unbracketed, normalised IP literal (scope id kept) or a checked host name."""
    addr, sep, scope = text.partition("%")
    if sep and not _SCOPE.match(scope):
        raise InputError(f"bad scope id {scope!r} in address {text!r}")
    try:
        parsed = ipaddress.ip_address(addr)
    except ValueError:
        parsed = None
    if parsed is not None:
        if sep and parsed.version != 6:
            raise InputError(f"scope id on a non-IPv6 address {text!r}")
        return parsed.compressed + (f"%{scope}" if sep else "")
    if sep or ":" in text or not _HOSTNAME.match(text):
        raise InputError(f"not an IP address or host name: {text!r}")
    return text


def parse_port(text: str, origin: str) -> int:
    """A TCP port 1..65535; `origin` says where it came from for the message."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"bad port {text!r} in {origin}")
    return int(text)


def split_host_port(text: str) -> tuple[str, int | None]:
    """Split "[addr]:port" / "name:port"; a bare IPv6 literal is never split at its colons."""
    text = text.strip()
    if not text:
        raise InputError("empty host address")
    bracketed = _BRACKETED.match(text)
    if bracketed:
        port = bracketed.group("port")
        return normalize_address(bracketed.group("addr")), (
            parse_port(port, text) if port is not None else None
        )
    if text.count(":") == 1 and "%" not in text:
        name, port = text.split(":")
        return normalize_address(name), parse_port(port, text)
    return normalize_address(text), None


def _env_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if environ.get("RORUNNER_USER"):
        settings["user"] = environ["RORUNNER_USER"]
    if environ.get("RORUNNER_PORT"):
        settings["port"] = parse_port(environ["RORUNNER_PORT"], "RORUNNER_PORT")
    if environ.get("RORUNNER_PRIVATE_KEY"):
        settings["key_file"] = environ["RORUNNER_PRIVATE_KEY"]
    if environ.get("RORUNNER_SSH_CONFIG"):
        settings["ssh_config"] = environ["RORUNNER_SSH_CONFIG"]
    policy = environ.get("RORUNNER_HOST_KEY_CHECKING")
    if policy:
        if policy not in _POLICIES:
            raise InputError(
                f"RORUNNER_HOST_KEY_CHECKING must be strict or accept-new, not {policy!r}"
            )
        settings["host_key_policy"] = cast(HostKeyPolicy, policy)
    files = [p for p in environ.get("RORUNNER_KNOWN_HOSTS", "").split(os.pathsep) if p]
    if PROJECT_KNOWN_HOSTS.is_file():
        files.append(str(PROJECT_KNOWN_HOSTS.resolve()))
    if files:
        settings["known_hosts"] = tuple(files)
    return settings


def spec_for_address(text: str, **overrides: Any) -> ConnectionSpec:
    """Build a ConnectionSpec for a bare address: text, then RORUNNER_* env, then `overrides`.

    Environment: RORUNNER_USER, RORUNNER_PORT (used when the text has no port),
    RORUNNER_PRIVATE_KEY, RORUNNER_KNOWN_HOSTS (os.pathsep list; `.rorunner/known_hosts`
    in the current directory is added when present), RORUNNER_HOST_KEY_CHECKING,
    RORUNNER_SSH_CONFIG. What stays None is filled from ssh_config at connect time.
    """
    address, port = split_host_port(text)
    settings = _env_settings(os.environ)
    if port is not None:
        settings["port"] = port
    known = {f.name for f in dataclasses.fields(ConnectionSpec)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown connection setting(s): {', '.join(unknown)}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if "known_hosts" in settings:
        settings["known_hosts"] = tuple(settings["known_hosts"])
    return ConnectionSpec(address=address, **settings)
