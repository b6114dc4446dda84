"""Host-key checking against known_hosts files: strict, accept-new; a changed key is refused."""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import hmac
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import paramiko

from rorunner.errors import HostKeyError
from rorunner.model import HostKeyPolicy

# known_hosts says "ssh-rsa" for RSA keys that are negotiated as rsa-sha2-*.
_NEGOTIATED_TYPES = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}
_write_lock = threading.Lock()


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint: "SHA256:" + base64 without padding."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(hostname: str, port: int) -> str:
    """How known_hosts names a host: `addr` on port 22, `[addr]:port` otherwise."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


@dataclass(frozen=True)
class KnownKey:
    """One key line of a known_hosts file that matches the host."""

    path: str
    line: int
    key: paramiko.PKey
    revoked: bool


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """OpenSSH host patterns know only `*` and `?`; brackets are literal ("[addr]:port")."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts))


def _name_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        try:
            hashed = paramiko.HostKeys.hash_host(name, pattern)
        except (ValueError, AssertionError):
            return False  # a malformed hashed entry matches nothing
        return hmac.compare_digest(hashed.encode(), pattern.encode())
    return _glob(pattern).fullmatch(name) is not None


def _line_matches(names: str, name: str) -> bool:
    patterns = names.split(",")
    if any(p.startswith("!") and _name_matches(p[1:], name) for p in patterns):
        return False
    return any(not p.startswith("!") and _name_matches(p, name) for p in patterns)


def _parse_key(keytype: str, blob: str) -> paramiko.PKey | None:
    try:
        return paramiko.PKey.from_type_string(keytype, base64.b64decode(blob, validate=True))
    except (ValueError, paramiko.SSHException):
        return None  # a key type this paramiko cannot read (e.g. DSS) or a broken line


def read_known_keys(path: str, name: str) -> Iterator[KnownKey]:
    """Keys for `name` in one known_hosts file (hashed, wildcard and negated names handled)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return
    for number, raw in enumerate(lines, 1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if len(fields) < 3 or marker == "@cert-authority" or not _line_matches(fields[0], name):
            continue
        key = _parse_key(fields[1], fields[2])
        if key is not None:
            yield KnownKey(path, number, key, marker == "@revoked")


def append_known_host(path: str, name: str, key: paramiko.PKey) -> None:
    """Add `name key` to `path` once, under a lock, by temp file + rename (other lines kept)."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, mode=0o700, exist_ok=True)
    with _write_lock, open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if any(k.key.asbytes() == key.asbytes() for k in read_known_keys(path, name)):
            return  # another thread or process added it meanwhile
        try:
            with open(path, "rb") as handle:
                old = handle.read()
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            old, mode = b"", 0o600
        if old and not old.endswith(b"\n"):
            old += b"\n"
        line = f"{name} {key.get_name()} {key.get_base64()}\n".encode()
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".known_hosts.rorunner-tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(old + line)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Decides on the server's key; the SSHClient itself holds no host keys, so it always asks."""

    def __init__(self, host: str, files: tuple[str, ...], policy: HostKeyPolicy, name: str) -> None:
        self.host = host  # what messages call the host
        self.files = files
        self.policy = policy
        self.known = [k for path in files for k in read_known_keys(path, name)]

    def preferred_key_types(self, offered: tuple[str, ...]) -> list[str]:
        """Server key algorithms with the types we already know first (as OpenSSH orders them)."""
        first: list[str] = []
        for known in self.known:
            for kind in _NEGOTIATED_TYPES.get(known.key.get_name(), (known.key.get_name(),)):
                if kind in offered and kind not in first:
                    first.append(kind)
        return first + [kind for kind in offered if kind not in first]

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        """Accept a known key; refuse a changed or revoked one; strict/accept-new for new ones."""
        offered = fingerprint(key)
        if any(k.revoked and k.key.asbytes() == key.asbytes() for k in self.known):
            raise HostKeyError(self.host, f"host key {offered} for {hostname} is marked @revoked")
        valid = [k for k in self.known if not k.revoked]
        if any(k.key.asbytes() == key.asbytes() for k in valid):
            return
        if valid:
            known = ", ".join(f"{fingerprint(k.key)} ({k.path}:{k.line})" for k in valid)
            raise HostKeyError(
                self.host,
                f"host key for {hostname} has CHANGED: known {known}, offered {key.get_name()} "
                f"{offered}; refusing to connect (remove the old line if the change is expected)",
            )
        if self.policy != "accept-new" or not self.files:
            raise HostKeyError(
                self.host,
                f"unknown host key for {hostname}: {key.get_name()} {offered} is not in "
                f"{', '.join(self.files) or 'any known_hosts file'} (host key checking is strict; "
                "use accept-new to add it)",
            )
        try:
            append_known_host(self.files[0], hostname, key)
        except OSError as exc:
            raise HostKeyError(
                self.host, f"cannot record host key in {self.files[0]}: {exc}"
            ) from exc


# AEAD ciphers first: paramiko checks a MAC in pure Python per packet (an HMAC object and
# a byte-by-byte compare); AES-GCM authenticates inside the cipher, in C. Both are among
# OpenSSH's defaults; the others stay as fallbacks, nothing is disabled.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def prefer_ciphers(available: tuple[str, ...]) -> tuple[str, ...]:
    """`available` with PREFERRED_CIPHERS (those present) moved to the front."""
    first = tuple(c for c in PREFERRED_CIPHERS if c in available)
    return first + tuple(c for c in available if c not in first)


def transport_factory(policy: KnownHostsPolicy) -> Any:
    """A paramiko Transport factory: host-key types known for this host first, AEAD ciphers
    first."""

    def build(sock: Any, disabled_algorithms: Any = None) -> paramiko.Transport:
        transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
        options = transport.get_security_options()
        options.key_types = policy.preferred_key_types(tuple(options.key_types))
        options.ciphers = prefer_ciphers(tuple(options.ciphers))
        return transport

    return build
