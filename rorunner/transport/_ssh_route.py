"""How a connection reaches its host: directly, through ProxyJump bastions or a ProxyCommand.

The route of a host comes from its ansible_ssh_*args (ConnectionSpec.proxy_jump /
proxy_command), which override ssh_config; in ssh_config, ProxyJump and ProxyCommand
compete as in OpenSSH (the first one the lookup meets wins; `none` means directly).

- ProxyJump `[user@]host[:port],...`: the last hop is a bastion reached by its own route (the
  hops before it, or else its own ssh_config), and the host is reached through a
  `direct-tcpip` channel of that bastion's pooled connection: one connection per bastion
  for every host behind it. A bastion is an SSH host like any other: its ssh_config applies
  (HostName, User, Port, IdentityFile; the host's key file when it has none) and its host key
  is checked against the same known_hosts files and policy.
- ProxyCommand: `%h` (host name or address), `%p`, `%r` (the final port and user),
  `%n` (the name as looked up) and `%%` are expanded (other tokens are refused), then the
  command runs as `sh -c 'exec COMMAND'` in a session of its own with one end of a socket
  pair as its stdin and stdout; the SSH session runs over the other end. It is stopped by PID
  when the connection closes.

`check_routes(specs)` reads the ssh_config of every host and every hop before anything
connects and refuses what rorunner cannot honour (rorunner.sshopts), naming the option, the
host and the file:line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import getpass
import os
import re
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import paramiko

from rorunner.address import is_ip_literal
from rorunner.errors import InputError, Location, TransportError, UnreachableError
from rorunner.model import ConnectionSpec
from rorunner.scheduling import started_policy
from rorunner.sshopts import check_config, parse_proxy_jump
from rorunner.transport._check import USER_SSH_CONFIG, PoolKey

MAX_HOPS = 8  # bastions behind bastions; a longer chain is a loop in all but name
_TOKEN = re.compile(r"%(.?)")
# What a %-token may put into a shell command line: addresses, names, ports, user names.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9._:%@+-]+\Z")
_PROXY_STOP_GRACE = 2.0
_STDERR_TAIL = 2000


class _RawConfig(paramiko.SSHConfig):
    """paramiko's SSHConfig, with ProxyCommand and ProxyJump left as written: their tokens
    are expanded here with the final host, port and user (paramiko's would use ssh_config's
    own, not the inventory's)."""

    def _allowed_tokens(self, key: str) -> list[str]:
        if key in ("proxycommand", "proxyjump"):
            return []
        return list(paramiko.SSHConfig.TOKENS_BY_CONFIG_KEY.get(key, []))


@dataclass(frozen=True)
class HostConfig:
    """A host's ssh_config lookup and where each keyword was first written in the file."""

    options: Mapping[str, Any]
    path: str = ""  # "" when there is no ssh_config file
    lines: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # key -> (line, value)

    def at(self, key: str) -> Location:
        """The file:line of `key` (the file alone when unknown)."""
        return Location(self.path, self.lines.get(key.lower(), (0, ""))[0])


def config_path(spec: ConnectionSpec) -> str | None:
    """The ssh_config file of `spec` (None: the default one does not exist)."""
    path = os.path.expanduser(spec.ssh_config or USER_SSH_CONFIG)
    if os.path.isfile(path):
        return path
    if spec.ssh_config:
        raise InputError("ssh_config file not found", spec.ssh_config)
    return None


_MATCH_EXEC = re.compile(r"^\s*match\b.*\bexec\b", re.IGNORECASE | re.MULTILINE)


def load_invoke() -> None:
    """Give paramiko invoke, which runs `Match exec` (_ssh_paramiko imported it without)."""
    config: Any = paramiko.config
    if config.invoke is None:
        try:
            import invoke  # noqa: PLC0415 - only for a config that needs it
        except ImportError:
            return  # paramiko says so when it meets the Match exec
        config.invoke = invoke


@functools.lru_cache(maxsize=16)
def _parsed(path: str, mtime_ns: int, size: int) -> tuple[_RawConfig, dict[str, tuple[int, str]]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        if _MATCH_EXEC.search(text):
            load_invoke()
        config = _RawConfig.from_text(text)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise InputError(f"cannot read ssh_config: {exc}", path) from None
    lines: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        word, *value = re.split(r"\s*=\s*|\s+", line.strip(), maxsplit=1)
        if word and not word.startswith("#"):
            lines.setdefault(word.lower(), (number, value[0] if value else ""))
    return config, lines


def host_config(spec: ConnectionSpec) -> HostConfig:
    """The ssh_config options that apply to `spec.address` (read once per file version)."""
    path = config_path(spec)
    if path is None:
        return HostConfig({})
    stat = os.stat(path)
    config, lines = _parsed(path, stat.st_mtime_ns, stat.st_size)
    try:
        with started_policy():  # a `Match exec` command runs as rorunner's own commands do
            options = dict(config.lookup(spec.address))
    except Exception as exc:  # paramiko's Match and canonicalisation raise what they meet
        if "canonicalizehostname" in lines:  # it fails without CanonicalDomains
            line, value = lines["canonicalizehostname"]
            options = {"canonicalizehostname": value}
            check_config(options, spec.name, lambda key: Location(path, line))
        raise InputError(f"ssh_config lookup of {spec.address}: {exc!r}", path) from None
    return HostConfig(options, path, lines)


@dataclass(frozen=True)
class Endpoint:
    """Where the SSH session of a host goes: host name or address, port, login user."""

    hostname: str
    port: int
    user: str


def endpoint(spec: ConnectionSpec, config: HostConfig) -> Endpoint:
    """The host's own settings over ssh_config's (HostName, Port, User) over the defaults."""
    options = config.options
    hostname = spec.address if is_ip_literal(spec.address) else options.get("hostname")
    try:
        port = spec.port or int(options.get("port", 22))
    except ValueError:
        raise InputError.at(f"bad Port for {spec.address}", config.at("port")) from None
    user = spec.user or options.get("user") or getpass.getuser()
    return Endpoint(str(hostname or spec.address), port, str(user))


@dataclass(frozen=True)
class Route:
    """Directly (both None), through the bastion `bastion`, or through a ProxyCommand."""

    bastion: ConnectionSpec | None = None  # the last hop; it has a route of its own
    command: str | None = None  # expanded

    def __str__(self) -> str:
        if self.bastion is not None:
            return f"through bastion {self.bastion.name}"
        if self.command is not None:
            return f"through ProxyCommand {self.command!r}"
        return "directly"


def route_for(spec: ConnectionSpec, config: HostConfig, end: Endpoint) -> Route:
    """The route of `spec`: its own jump settings, else ssh_config's (first one wins)."""
    if spec.proxy_command is not None:
        return Route(command=expand_command(spec.proxy_command, spec, end, Location("")))
    if spec.proxy_jump is not None:
        return _jump(spec, spec.proxy_jump, Location(""))
    for key, value in config.options.items():
        if key == "proxycommand":
            if value is None or str(value).strip().lower() == "none":
                return Route()
            return Route(command=expand_command(str(value), spec, end, config.at(key)))
        if key == "proxyjump":
            return _jump(spec, str(value), config.at(key))
    return Route()


def _jump(spec: ConnectionSpec, text: str, where: Location) -> Route:
    hops = parse_proxy_jump(text, where)
    if not hops:
        return Route()
    last, earlier = hops[-1], ",".join(str(hop) for hop in hops[:-1])
    bastion = ConnectionSpec(
        address=last.host,
        port=last.port,
        user=last.user,
        label=str(last),
        known_hosts=spec.known_hosts,
        host_key_policy=spec.host_key_policy,
        connect_timeout=spec.connect_timeout,
        ssh_config=spec.ssh_config,
        proxy_jump=earlier or None,  # the hops before it; none: its own ssh_config decides
    )
    if spec.key_file and not host_config(bastion).options.get("identityfile"):
        bastion = dataclasses.replace(bastion, key_file=spec.key_file)
    return Route(bastion=bastion)


def expand_command(template: str, spec: ConnectionSpec, end: Endpoint, where: Location) -> str:
    """A ProxyCommand with %h %p %r %n %% expanded; other tokens and unsafe values refused."""
    values = {"h": end.hostname, "p": str(end.port), "r": end.user, "n": spec.address, "%": "%"}

    def token(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise InputError.at(
                f"ProxyCommand of host {spec.name!r}: token %{key} is not supported "
                "(rorunner expands %h %p %r %n %%)",
                where,
            )
        value = values[key]
        if key != "%" and not _SAFE_VALUE.match(value):
            raise InputError.at(
                f"ProxyCommand of host {spec.name!r}: %{key} would be {value!r}, which is not "
                "safe in a shell command",
                where,
            )
        return value

    return _TOKEN.sub(token, template)


def check_routes(specs: Iterable[ConnectionSpec]) -> None:
    """Before anything connects: every host's and every hop's ssh_config is one rorunner
    can honour, and every route is well-formed and loop-free (InputError otherwise)."""
    done: set[tuple[Any, ...]] = set()
    for spec in specs:
        if spec.connection == "ssh":
            _check(spec, done, ())


def _check(spec: ConnectionSpec, done: set[tuple[Any, ...]], chain: tuple[str, ...]) -> None:
    key = (*spec.pool_key, spec.ssh_config, spec.key_file)
    if key in done:
        return
    if spec.name in chain or len(chain) >= MAX_HOPS:
        trail = " -> ".join((*chain, spec.name))
        raise InputError(f"ProxyJump loop or chain longer than {MAX_HOPS} hops: {trail}")
    config = host_config(spec)
    check_config(config.options, spec.name, config.at)
    route = route_for(spec, config, endpoint(spec, config))
    if route.bastion is not None:
        _check(route.bastion, done, (*chain, spec.name))
    done.add(key)


def bastion_keys(specs: Iterable[ConnectionSpec]) -> frozenset[PoolKey]:
    """The pool keys of every hop on the routes of `specs` (at most MAX_HOPS per route)."""
    found: set[PoolKey] = set()
    for spec in specs:
        hop: ConnectionSpec | None = spec
        for _ in range(MAX_HOPS):
            if hop is None:
                break
            config = host_config(hop)
            hop = route_for(hop, config, endpoint(hop, config)).bastion
            if hop is not None:
                found.add(hop.pool_key)
    return frozenset(found)


# --- connecting ------------------------------------------------------------------------


class ProxyProcess:
    """A ProxyCommand whose stdin and stdout are one end of a socket pair (`sock` is ours)."""

    def __init__(self, command: str, name: str) -> None:
        self.command = command
        ours, theirs = socket.socketpair()
        # Lives as long as the process: read for error messages, closed by stop().
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            with started_policy():
                self.process = subprocess.Popen(
                    ["/bin/sh", "-c", f"exec {command}"],
                    stdin=theirs.fileno(),
                    stdout=theirs.fileno(),
                    stderr=self.stderr,
                    start_new_session=True,  # a Ctrl-C at the terminal reaches rorunner, not it
                )
        except OSError as exc:
            ours.close()
            self.stderr.close()
            raise UnreachableError(name, f"cannot run ProxyCommand {command!r}: {exc}") from exc
        finally:
            theirs.close()
        self.sock = ours

    def failure(self) -> str:
        """What the process said, for an error message (its exit status and stderr tail)."""
        status = self.process.poll()
        try:
            self.stderr.seek(0)
            said = self.stderr.read().decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        except (OSError, ValueError):
            said = ""
        state = "still running" if status is None else f"exited with status {status}"
        return f"ProxyCommand {self.command!r} {state}" + (f": {said}" if said else "")

    def stop(self) -> None:
        """Close our end, then stop the process by its PID (TERM, a grace, KILL) and reap it."""
        self.sock.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_PROXY_STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(_PROXY_STOP_GRACE)
        self.stderr.close()


Channel = paramiko.Channel  # a bastion's direct-tcpip channel, for modules without paramiko


@dataclass(frozen=True)
class Tunneled:
    """A bastion's direct-tcpip channel, and how to learn why the bastion's connection died."""

    channel: Channel
    why_dead: Callable[[], str | None]


Tunnel = Callable[[ConnectionSpec, str, int], Tunneled]


class _TunnelSocket:
    """A bastion's channel as the socket of the session through it. paramiko closes a
    session's socket in the session's own thread, and the bastion's connection may be closed
    first (the pool closing everything, a dead bastion): closing the channel then fails to
    send its close message, which is not this session's failure, so it is not raised there."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def close(self) -> None:
        """Close the channel; a bastion connection already gone is no error."""
        with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
            self._channel.close()


@dataclass
class Link:
    """What one SSH session runs over: a TCP socket, a bastion's channel or a proxy's socket."""

    sock: Any
    route: Route
    proxy: ProxyProcess | None = None
    bastion_dead: Callable[[], str | None] | None = None  # why the bastion's connection died

    def why_dead(self) -> str | None:
        """Why the link died, when its bastion's connection was found dead (keepalives)."""
        reason = self.bastion_dead() if self.bastion_dead is not None else None
        return f"{self.route}: {reason}" if reason else None

    def shutdown(self) -> None:
        """End a socket's stream now (a FIN at once): closing alone leaves the socket open
        until paramiko's reader thread leaves its recv on it, up to 0.1 s later."""
        if isinstance(self.sock, socket.socket):
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the link (and stop its ProxyCommand)."""
        if self.proxy is not None:
            self.proxy.stop()
        else:
            self.sock.close()

    def failure(self, cause: str) -> str:
        """`cause`, with what the route says about it."""
        if self.proxy is not None:
            return f"{cause} ({self.proxy.failure()})"
        if self.route.bastion is not None:
            return f"{cause} ({self.route})"
        return cause


def open_link(
    spec: ConnectionSpec,
    end: Endpoint,
    direct: Callable[[], socket.socket],
    tunnel: Tunnel,
) -> Link:
    """Open the link of `spec`'s session: `direct()` opens a TCP socket, `tunnel(bastion,
    host, port)` a direct-tcpip channel through the bastion's pooled connection."""
    route = route_for(spec, host_config(spec), end)
    if route.command is not None:
        proxy = ProxyProcess(route.command, spec.name)
        return Link(proxy.sock, route, proxy)
    if route.bastion is not None:
        try:
            tunneled = tunnel(route.bastion, end.hostname, end.port)
            return Link(_TunnelSocket(tunneled.channel), route, bastion_dead=tunneled.why_dead)
        except TransportError as exc:  # the bastion's own failure, told as this host's
            if exc.host == spec.name:
                raise
            raise type(exc)(spec.name, f"through bastion {exc.host}: {exc.cause}") from exc
    return Link(direct(), route)


def tunnel_through(
    transport: paramiko.Transport, name: str, bastion: str, host: str, port: int, timeout: float
) -> paramiko.Channel:
    """A direct-tcpip channel to host:port opened by the bastion's sshd."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        return transport.open_channel(
            "direct-tcpip", dest_addr=(host, port), src_addr=("::1", 0), timeout=timeout
        )
    except paramiko.ChannelException as exc:
        raise UnreachableError(
            name, f"bastion {bastion} could not open a tunnel to {where}: {exc.text}"
        ) from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise UnreachableError(
            name, f"bastion {bastion} could not open a tunnel to {where}: {exc or 'closed'}"
        ) from exc
