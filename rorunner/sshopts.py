"""OpenSSH client options: which ones rorunner honours, ignores or refuses; jump host specs.

Every ssh_config keyword of OpenSSH 9 is classified (docs/connections.md lists them):

- honoured: HostName, Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile,
  ProxyJump, ProxyCommand, ServerAliveInterval, ServerAliveCountMax, TCPKeepAlive (and
  Host/Match blocks);
- refused when they would change which machine we reach, through what, or which host keys
  are trusted, and rorunner cannot do it (an InputError naming the option and the host);
- ignored otherwise (algorithms, forwarding, terminal and multiplexing settings, ...).

An unknown keyword is refused as OpenSSH refuses it, unless the config lists it in
`IgnoreUnknown`. In `ansible_ssh_common_args`/`ansible_ssh_extra_args`/`ansible_ssh_args`
only the jump options are honoured (`-J`, `-o ProxyJump=`, `-o ProxyCommand=`); the other
options that ssh_config honours must be given there (or as inventory variables) instead.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rorunner.address import parse_endpoint
from rorunner.errors import InputError, Location

HONOURED = (
    "host",
    "match",
    "hostname",
    "port",
    "user",
    "identityfile",
    "identitiesonly",
    "userknownhostsfile",
    "proxyjump",
    "proxycommand",
    "serveraliveinterval",
    "serveralivecountmax",
    "tcpkeepalive",
)
# Refused whatever the value (rorunner cannot do what they ask).
_REFUSED = {
    "include": "rorunner reads one ssh_config file (paramiko's reader has no Include)",
    "hostkeyalias": "host keys are looked up by the address connected to",
    "knownhostscommand": "host keys come only from known_hosts files",
    "revokedhostkeys": "rorunner does not read revoked-key lists (use @revoked in known_hosts)",
    "bindaddress": "rorunner does not choose the local address",
    "bindinterface": "rorunner does not choose the local interface",
    "remotecommand": "rorunner runs its own commands",
}
_NO = ("no", "none", "false")


def _refuse_unless(*allowed: str) -> Callable[[str], bool]:
    return lambda value: value.strip().lower() not in allowed


# Refused for some values only: (is the value refused?, why).
_REFUSED_IF: dict[str, tuple[Callable[[str], bool], str]] = {
    "proxyusefdpass": (_refuse_unless(*_NO), "rorunner cannot take a passed file descriptor"),
    "tunnel": (_refuse_unless(*_NO), "rorunner opens no tun/tap tunnel"),
    "addressfamily": (_refuse_unless("any"), "rorunner tries every address of a host"),
    "canonicalizehostname": (_refuse_unless(*_NO), "rorunner does not canonicalise names"),
    "stricthostkeychecking": (
        lambda value: value.strip().lower() in ("no", "off", "false"),
        "rorunner always checks host keys (--host-key-checking strict|accept-new decides)",
    ),
    "globalknownhostsfile": (
        lambda value: value.strip() not in ("/dev/null", "none"),
        "rorunner reads --known-hosts, UserKnownHostsFile and ~/.ssh/known_hosts only",
    ),
}
IGNORED = (
    "addkeystoagent",
    "batchmode",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "certificatefile",
    "challengeresponseauthentication",
    "channeltimeout",
    "checkhostip",
    "cipher",
    "ciphers",
    "clearallforwardings",
    "compression",
    "compressionlevel",
    "connectionattempts",
    "connecttimeout",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "gssapiauthentication",
    "gssapiclientidentity",
    "gssapidelegatecredentials",
    "gssapikexalgorithms",
    "gssapikeyexchange",
    "gssapirenewalforcesrekey",
    "gssapiserveridentity",
    "gssapitrustdns",
    "hashknownhosts",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostbasedkeytypes",
    "hostkeyalgorithms",
    "identityagent",
    "ignoreunknown",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "kexalgorithms",
    "localcommand",  # runs only with PermitLocalCommand yes, which is refused
    "localforward",
    "loglevel",
    "logverbose",
    "macs",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "obscurekeystroketiming",
    "passwordauthentication",
    "permitremoteopen",
    "pkcs11provider",
    "preferredauthentications",
    "protocol",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "pubkeyauthentication",
    "rekeylimit",
    "remoteforward",
    "requesttty",
    "requiredrsasize",
    "rhostsrsaauthentication",
    "rsaauthentication",
    "securitykeyprovider",
    "sendenv",
    "sessiontype",
    "setenv",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "syslogfacility",
    "tag",
    "tunneldevice",
    "updatehostkeys",
    "usekeychain",
    "useprivilegedport",
    "useroaming",
    "verifyhostkeydns",
    "visualhostkey",
    "xauthlocation",
)
_REFUSED_IF["permitlocalcommand"] = (
    _refuse_unless(*_NO),
    "rorunner runs no LocalCommand",
)
_IGNORED = frozenset(IGNORED)
# How OpenSSH spells the keywords rorunner names in messages.
_SPELLING = {
    "proxyjump": "ProxyJump",
    "proxycommand": "ProxyCommand",
    "proxyusefdpass": "ProxyUseFdpass",
    "hostkeyalias": "HostKeyAlias",
    "knownhostscommand": "KnownHostsCommand",
    "revokedhostkeys": "RevokedHostKeys",
    "bindaddress": "BindAddress",
    "bindinterface": "BindInterface",
    "remotecommand": "RemoteCommand",
    "tunnel": "Tunnel",
    "addressfamily": "AddressFamily",
    "canonicalizehostname": "CanonicalizeHostname",
    "stricthostkeychecking": "StrictHostKeyChecking",
    "globalknownhostsfile": "GlobalKnownHostsFile",
    "permitlocalcommand": "PermitLocalCommand",
    "include": "Include",
    "hostname": "HostName",
    "port": "Port",
    "user": "User",
    "identityfile": "IdentityFile",
    "identitiesonly": "IdentitiesOnly",
    "userknownhostsfile": "UserKnownHostsFile",
}


def spelling(key: str) -> str:
    """The keyword as OpenSSH's manual spells it (lower case when unknown)."""
    return _SPELLING.get(key.lower(), key)


def refusal(key: str, value: str, ignore_unknown: str = "") -> str | None:
    """Why rorunner refuses the option `key value` (None: honoured or harmless)."""
    name = key.lower()
    if name in _REFUSED:
        return _REFUSED[name]
    if name in _REFUSED_IF:
        refused, why = _REFUSED_IF[name]
        return why if refused(str(value)) else None
    if name in HONOURED or name in _IGNORED:
        return None
    patterns = [p for p in ignore_unknown.replace(",", " ").split() if p]
    if any(fnmatch.fnmatchcase(name, p.lower()) for p in patterns):
        return None
    return "unknown option (OpenSSH refuses it too; name it in IgnoreUnknown to skip it)"


def check_config(options: Mapping[str, Any], host: str, where: Callable[[str], Location]) -> None:
    """Refuse the first option of a host's ssh_config lookup that rorunner cannot honour;
    `where(key)` is the file:line of an option."""
    ignore = str(options.get("ignoreunknown", ""))
    for key, value in options.items():
        values = value if isinstance(value, list) else [value]
        for one in values:
            why = refusal(key, "none" if one is None else str(one), ignore)
            if why is not None:
                raise InputError.at(
                    f"ssh_config option {spelling(key)} {one} for host {host!r} is not "
                    f"supported: {why}",
                    where(key),
                )


# --- jump hosts -------------------------------------------------------------------------


@dataclass(frozen=True)
class JumpHop:
    """One ProxyJump hop: `[user@]host[:port]` (host may be an ssh_config alias)."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host and self.port else self.host
        return f"{user}{host}" + (f":{self.port}" if self.port else "")


def parse_proxy_jump(text: str, where: Location) -> tuple[JumpHop, ...]:
    """ProxyJump hops, first to last (`none`: no hop); `ssh://` URIs and `[v6]:port` allowed."""
    if text.strip().lower() == "none":
        return ()
    hops = []
    for item in text.split(","):
        word = item.strip().removeprefix("ssh://").rstrip("/")
        if not word:
            raise InputError.at(f"ProxyJump {text!r}: an empty hop", where)
        user, at, rest = word.rpartition("@")
        if at and not user:
            raise InputError.at(f"ProxyJump {text!r}: an empty user in {word!r}", where)
        if not rest:
            raise InputError.at(f"ProxyJump {text!r}: no host in {word!r}", where)
        endpoint = parse_endpoint(rest, f"ProxyJump hop {word!r}", where)
        hops.append(JumpHop(endpoint.address.text, user or None, endpoint.port))
    return tuple(hops)


# --- ansible_ssh_*_args ------------------------------------------------------------------

ARG_VARS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
# Flags that change nothing about where or through what: compression, verbosity, tty,
# forwarding, multiplexing (rorunner keeps one connection per host anyway).
_FLAGS_IGNORED = frozenset("ACGKMNTVXYafgknqstvxy")
_FLAGS_WITH_VALUE = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
_ARG_HINTS = {
    "F": "ssh_config comes from --ssh-config",
    "p": "use ansible_port",
    "l": "use ansible_user",
    "i": "use ansible_ssh_private_key_file",
    "4": "rorunner tries every address of a host",
    "6": "rorunner tries every address of a host",
}


@dataclass(frozen=True)
class SshArgs:
    """The jump settings found in the ssh argument variables (first one wins, as in ssh)."""

    proxy_jump: str | None = None
    proxy_command: str | None = None

    def with_option(self, key: str, value: str) -> SshArgs:
        """Add `-o key=value` (ProxyJump or ProxyCommand) unless one was given before."""
        if self.proxy_jump is not None or self.proxy_command is not None:
            return self
        if key == "proxyjump":
            return SshArgs(proxy_jump=value)
        return SshArgs(proxy_command=value)


def parse_ssh_args(
    variables: Mapping[str, Any], host: str, origin: Callable[[str], Location]
) -> SshArgs:
    """The ProxyJump/ProxyCommand of a host's `ansible_ssh_*args` (in ssh's order), refusing
    every other option that would change where or through what rorunner connects."""
    found = SshArgs()
    for name in ARG_VARS:
        value = variables.get(name)
        if value is None or value == "":
            continue
        where = origin(name)
        if not isinstance(value, str):
            raise InputError.at(f"{name} of host {host!r} must be a string", where)
        found = _parse_words(_split(value, name, host, where), found, name, host, where)
    return found


def _split(text: str, name: str, host: str, where: Location) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InputError.at(f"{name} of host {host!r}: {exc}", where) from None


def _parse_words(
    words: list[str], found: SshArgs, name: str, host: str, where: Location
) -> SshArgs:
    words = list(words)
    while words:
        word = words.pop(0)
        if not word.startswith("-") or len(word) < 2:
            raise InputError.at(f"{name} of host {host!r}: unexpected argument {word!r}", where)
        flag, attached = word[1], word[2:]
        if flag in _FLAGS_WITH_VALUE:
            if not attached:
                if not words:
                    raise InputError.at(f"{name} of host {host!r}: {word} needs a value", where)
                attached = words.pop(0)
            found = _flag_value(flag, attached, found, name, host, where)
        elif flag in _FLAGS_IGNORED:
            # Several flags may share one word ("-Cq").
            for extra in attached:
                if extra not in _FLAGS_IGNORED:
                    _refuse_flag(extra, name, host, where)
        else:
            _refuse_flag(flag, name, host, where)
    return found


def _flag_value(
    flag: str, value: str, found: SshArgs, name: str, host: str, where: Location
) -> SshArgs:
    if flag == "J":
        _check_jump(value, name, host, where)
        return found.with_option("proxyjump", value)
    if flag != "o":
        _refuse_flag(flag, name, host, where)
    key, sep, option = value.partition("=")
    if not sep:
        key, _, option = value.strip().partition(" ")
    key, option = key.strip().lower(), option.strip()
    if key in ("proxyjump", "proxycommand"):
        if key == "proxyjump":
            _check_jump(option, name, host, where)
        return found.with_option(key, option)
    why = refusal(key, option)
    if why is None and key in HONOURED:
        why = (
            "in ssh arguments rorunner honours only ProxyJump and ProxyCommand (-J, -o); "
            "set it in ssh_config or as an inventory variable"
        )
    if why is not None:
        raise InputError.at(
            f"{name} of host {host!r}: -o {spelling(key)}={option} is not supported: {why}", where
        )
    return found


def _check_jump(value: str, name: str, host: str, where: Location) -> None:
    """A bad ProxyJump hop is bad input at the variable."""
    try:
        parse_proxy_jump(value, where)
    except InputError as exc:
        raise InputError.at(f"{name} of host {host!r}: {exc.message}", where) from None


def _refuse_flag(flag: str, name: str, host: str, where: Location) -> None:
    hint = _ARG_HINTS.get(flag, "it would change where or through what rorunner connects")
    raise InputError.at(
        f"{name} of host {host!r}: ssh option -{flag} is not supported: {hint}", where
    )
