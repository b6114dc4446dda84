"""A ConnectionSpec for a bare host argument ("2001:db8::1", "[2001:db8::1]:2222", "name")."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from rorunner.address import Endpoint, parse_endpoint, parse_port
from rorunner.errors import InputError
from rorunner.model import ConnectionSpec, HostKeyPolicy

PROJECT_KNOWN_HOSTS = Path(".rorunner") / "known_hosts"
_POLICIES = ("strict", "accept-new")


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


def spec_for_address(text: str | Endpoint, **overrides: Any) -> ConnectionSpec:
    """Build a ConnectionSpec for a bare address: text, then RORUNNER_* env, then `overrides`.

    The text is parsed by `rorunner.address.parse_endpoint` (an Endpoint is used as is).

    Environment: RORUNNER_USER, RORUNNER_PORT (used when the text has no port),
    RORUNNER_PRIVATE_KEY, RORUNNER_KNOWN_HOSTS (os.pathsep list; `.rorunner/known_hosts`
    in the current directory is added when present), RORUNNER_HOST_KEY_CHECKING,
    RORUNNER_SSH_CONFIG. What stays None is filled from ssh_config at connect time.
    """
    endpoint = parse_endpoint(text) if isinstance(text, str) else text
    settings = _env_settings(os.environ)
    if endpoint.port is not None:
        settings["port"] = endpoint.port
    known = {f.name for f in dataclasses.fields(ConnectionSpec)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown connection setting(s): {', '.join(unknown)}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if "known_hosts" in settings:
        settings["known_hosts"] = tuple(settings["known_hosts"])
    return ConnectionSpec(address=endpoint.address.text, **settings)
