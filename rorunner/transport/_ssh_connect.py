"""Opening one SSH connection: ssh_config, our own socket (IPv6 scope ids), timeouts, auth."""

from __future__ import annotations

import getpass
import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Any, cast

import paramiko

from rorunner.address import is_ip_literal
from rorunner.errors import InputError, TransportError, UnreachableError
from rorunner.model import ConnectionSpec
from rorunner.transport._ssh_alive import DEFAULT_COUNT, DEFAULT_INTERVAL, Keepalive
from rorunner.transport._ssh_hostkeys import (
    KnownHostsPolicy,
    Renegotiate,
    known_hosts_name,
    transport_factory,
)
from rorunner.transport._ssh_route import (
    Endpoint,
    Link,
    Tunnel,
    Tunneled,
    host_config,
    open_link,
)

# paramiko logs failures (with tracebacks) from its own thread; without a handler Python's
# last-resort handler would print them. Only the CLI prints: our errors carry the cause.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
# Connection events (connect, auth, keepalive loss, close) at INFO, with `host` in extra:
# `rorunner play -vv` shows them; nothing is printed without a handler of the reporter's.
EVENTS = logging.getLogger("rorunner.transport")
EVENTS.addHandler(logging.NullHandler())
EVENTS.propagate = False

USER_KNOWN_HOSTS = "~/.ssh/known_hosts"
# OpenSSH's time format: seconds, or a sequence of numbers with units ("1m30s").
_TIME = re.compile(r"(?:[0-9]+[smhdw]?)+", re.IGNORECASE)
_TIME_PART = re.compile(r"([0-9]+)([smhdw]?)", re.IGNORECASE)
_DEFAULT_INTERVAL_TEXT = f"{DEFAULT_INTERVAL:g}"
# What paramiko looks for when no key file is given (look_for_keys).
_DEFAULT_KEYS = tuple(f"~/.ssh/id_{kind}" for kind in ("rsa", "dsa", "ecdsa", "ed25519"))
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Target:
    """Where and as whom to connect, after ssh_config and defaults filled the gaps."""

    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    known_hosts: tuple[str, ...]
    only_keys: bool  # use only key_files: spec.key_file given, or IdentitiesOnly yes
    keepalive: Keepalive  # ServerAliveInterval / ServerAliveCountMax
    tcp_keepalive: bool  # TCPKeepAlive


def _ssh_config(spec: ConnectionSpec) -> dict[str, Any]:
    return dict(host_config(spec).options)  # one parse per file version (_ssh_route)


def resolve_target(spec: ConnectionSpec) -> Target:
    """Fill user/port/identity/hostname from ssh_config where the spec left None, then defaults."""
    config = _ssh_config(spec)
    # An IP literal is used as written: ssh_config token expansion would mangle "%scope".
    hostname = spec.address if is_ip_literal(spec.address) else config.get("hostname", spec.address)
    try:
        port = spec.port or int(config.get("port", 22))
    except ValueError as exc:
        raise InputError(f"bad Port in ssh_config for {spec.address}: {exc}") from exc
    if spec.key_file:
        keys: tuple[str, ...] = (os.path.expanduser(spec.key_file),)
    else:
        found = (os.path.expanduser(p) for p in config.get("identityfile", []))
        keys = tuple(p for p in found if os.path.isfile(p))
    files: list[str] = []
    configured = str(config.get("userknownhostsfile", "")).split()
    for path in (*spec.known_hosts, *configured, USER_KNOWN_HOSTS):
        if os.path.expanduser(path) not in files:
            files.append(os.path.expanduser(path))
    return Target(
        hostname=hostname,
        port=port,
        user=spec.user or config.get("user") or getpass.getuser(),
        key_files=keys,
        known_hosts=tuple(files),
        only_keys=bool(spec.key_file) or str(config.get("identitiesonly", "")).lower() == "yes",
        keepalive=_keepalive(spec.address, config),
        tcp_keepalive=str(config.get("tcpkeepalive", "yes")).lower() != "no",
    )


def _keepalive(address: str, config: dict[str, Any]) -> Keepalive:
    """ServerAliveInterval (OpenSSH time format; 0 = no keepalives) and ServerAliveCountMax."""
    interval = str(config.get("serveraliveinterval", _DEFAULT_INTERVAL_TEXT))
    count = str(config.get("serveralivecountmax", DEFAULT_COUNT))
    if not _TIME.fullmatch(interval):
        raise InputError(f"bad ServerAliveInterval {interval!r} in ssh_config for {address}")
    if not count.isdigit() or int(count) < 1:
        raise InputError(
            f"bad ServerAliveCountMax {count!r} in ssh_config for {address}: "
            "a whole number of at least 1"
        )
    seconds = sum(int(n) * _UNIT[u.lower()] for n, u in _TIME_PART.findall(interval))
    return Keepalive(float(seconds), int(count))


def _sockaddr_text(sockaddr: Any) -> str:
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    host, port = socket.getnameinfo(sockaddr, flags)  # keeps the %scope of link-local addresses
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_socket(
    name: str, hostname: str, port: int, timeout: float, tcp_keepalive: bool = True
) -> socket.socket:
    """TCP-connect to every address of `hostname` in turn (getaddrinfo keeps %scope ids)."""
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnreachableError(name, f"cannot resolve {hostname}: {exc}") from exc
    problems: list[str] = []
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        # Without it, Nagle holds a channel's small EOF back until the server's delayed ACK
        # of the script before it (about 40 ms per command).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(tcp_keepalive))
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            cause = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            problems.append(f"{_sockaddr_text(sockaddr)}: {cause}")
            continue
        return sock
    raise UnreachableError(name, "cannot connect to " + "; ".join(problems))


def _classify(name: str, target: Target, timeout: float, exc: BaseException) -> TransportError:
    where = known_hosts_name(target.hostname, target.port)
    text = str(exc)
    if isinstance(exc, paramiko.AuthenticationException) or "authentication methods" in text:
        tried = auth_sources(target)
        return UnreachableError(name, f"authentication failed for {target.user}@{where}: {tried}")
    if "protocol banner" in text:
        return UnreachableError(
            name,
            f"no SSH banner from {where} within {timeout:g}s: the port accepts TCP "
            "but does not speak SSH",
        )
    # paramiko's start_client returns quietly when its own deadline passes; the next call
    # then finds "No existing session".
    if isinstance(exc, TimeoutError) or "No existing session" in text:
        limit = 2 * timeout
        return UnreachableError(name, f"SSH negotiation with {where} timed out after {limit:g}s")
    return UnreachableError(name, f"SSH connection to {where} failed: {text or type(exc).__name__}")


def _no_tunnel(bastion: ConnectionSpec, host: str, port: int) -> Tunneled:
    raise UnreachableError(bastion.name, "no pool to reach bastions through")


def auth_sources(target: Target) -> str:
    """Which keys authentication offers, and whether an agent is asked (for messages)."""
    if target.key_files:
        keys = "key files " + ", ".join(target.key_files)
    else:
        found = [p for p in _DEFAULT_KEYS if os.path.isfile(os.path.expanduser(p))]
        keys = "key files " + ", ".join(found) if found else "no key file (none in ~/.ssh)"
    agent_socket = os.environ.get("SSH_AUTH_SOCK")
    if target.only_keys:
        agent = "no agent (only the given keys)"
    elif agent_socket:
        agent = f"the agent at {agent_socket}"
    else:
        agent = "no agent (SSH_AUTH_SOCK unset)"
    return f"tried {keys}; {agent}"


def connect(
    spec: ConnectionSpec, tunnel: Tunnel = _no_tunnel
) -> tuple[paramiko.SSHClient, Target, Link]:
    """Open, verify and authenticate one SSHClient for `spec`, over its route (directly, a
    ProxyCommand, or a `tunnel(bastion, host, port)` channel through a bastion)."""
    target = resolve_target(spec)
    if spec.key_file and not os.path.isfile(target.key_files[0]):
        raise UnreachableError(spec.name, f"private key file not found: {target.key_files[0]}")
    policy = KnownHostsPolicy(
        spec.name,
        target.known_hosts,
        spec.host_key_policy,
        known_hosts_name(target.hostname, target.port),
    )
    try:
        return _connect_once(spec, tunnel, target, policy)
    except Renegotiate:
        # The key exchange chose a key type the host is not known by; the policy now knows
        # the host's key types (it read every line naming it) and offers them first.
        EVENTS.info(
            "connecting again: the host is known by other key types", extra={"host": spec.name}
        )
        return _connect_once(spec, tunnel, target, policy)


def _connect_once(
    spec: ConnectionSpec, tunnel: Tunnel, target: Target, policy: KnownHostsPolicy
) -> tuple[paramiko.SSHClient, Target, Link]:
    timeout = spec.connect_timeout
    link = open_link(
        spec,
        Endpoint(target.hostname, target.port, target.user),
        lambda: open_socket(spec.name, target.hostname, target.port, timeout, target.tcp_keepalive),
        tunnel,
    )
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(policy)
    where = known_hosts_name(target.hostname, target.port)
    EVENTS.info(
        "connected to %s; authenticating as %s", where, target.user, extra={"host": spec.name}
    )
    try:
        client.connect(
            target.hostname,
            port=target.port,
            username=target.user,
            key_filename=cast(Any, list(target.key_files)) or None,  # the stub says str only
            allow_agent=not target.only_keys,
            look_for_keys=not target.key_files,
            sock=link.sock,
            timeout=2 * timeout,  # whole negotiation; the banner has its own, shorter bound
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            transport_factory=transport_factory(policy),
        )
    except (TransportError, Renegotiate):
        client.close()
        link.close()
        raise
    except (paramiko.SSHException, OSError, EOFError, ValueError) as exc:
        client.close()
        failed = _classify(spec.name, target, timeout, exc)
        cause = link.failure(failed.cause)
        link.close()
        raise type(failed)(spec.name, cause) from exc
    EVENTS.info(
        "authenticated as %s; %s", target.user, auth_sources(target), extra={"host": spec.name}
    )
    return client, target, link
