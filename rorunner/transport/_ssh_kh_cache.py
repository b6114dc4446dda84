"""The user's cache of known_hosts lookups: which lines of one file content name a host.

A lookup in a long known_hosts file costs a scan (one HMAC per hashed line and host); the
cache remembers its answer, the line numbers, so that the next run re-reads only those lines
(and checks that each does name the host). It is keyed by the sha256 of the file's bytes:
any change to the file (an edit, a new @revoked line, an accept-new append) is another
content, with no answer recorded yet. Each content has one log of records, appended under a
lock; a record holds a hash of the name (not the name), the line numbers, and a check over
both and the content digest: a record that fails its check (torn by a crash, edited) is
never used. Only a directory and files owned by the user, with no access for group or
others, are read or written: anything else could hide a line (a @revoked key) from a lookup.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass

ENV = "RORUNNER_KNOWN_HOSTS_CACHE"  # a directory, or "off"
OFF = "off"
FORMAT = "rorunner known_hosts lookups 1"  # a new number when what a name matches changes
MAX_LOG_BYTES = 4 << 20  # a log this long takes no more records
MAX_LOGS = 64  # contents remembered; the least recently used log goes first
_EVENTS = logging.getLogger("rorunner.transport")  # see _ssh_connect.EVENTS

Lines = tuple[int, ...]


def lookup_cache(environ: Mapping[str, str]) -> LookupCache | None:
    """The cache `environ` asks for: $RORUNNER_KNOWN_HOSTS_CACHE (a directory, or "off"),
    else $XDG_CACHE_HOME/rorunner/known_hosts, else ~/.cache/rorunner/known_hosts."""
    value = environ.get(ENV, "")
    if value == OFF:
        return None
    if value:
        return LookupCache(os.path.abspath(value))
    xdg = environ.get("XDG_CACHE_HOME", "")
    home = environ.get("HOME") or os.path.expanduser("~")
    base = xdg if os.path.isabs(xdg) else os.path.join(home, ".cache")
    return LookupCache(os.path.join(base, "rorunner", "known_hosts"))


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & 0o077


def _name_key(digest: bytes, name: str) -> str:
    return hashlib.sha256(digest + b"\0" + name.encode()).hexdigest()[:32]


def _check(digest: bytes, key: str, lines: str) -> str:
    return hashlib.sha256(f"{digest.hex()} {key} {lines}".encode()).hexdigest()[:32]


def _record(digest: bytes, name: str, lines: Lines) -> str:
    key = _name_key(digest, name)
    text = ",".join(map(str, lines)) or "-"
    return f"{key} {text} {_check(digest, key, text)}\n"


def _parse(digest: bytes, body: list[str]) -> tuple[dict[str, Lines], int]:
    """Records by name key, and how many failed their check (a last, unfinished one aside)."""
    found: dict[str, Lines] = {}
    bad = 0
    for text in body:
        fields = text.split(" ")
        if len(fields) != 3 or _check(digest, fields[0], fields[1]) != fields[2]:
            bad += 1
            continue
        try:
            found[fields[0]] = () if fields[1] == "-" else tuple(map(int, fields[1].split(",")))
        except ValueError:
            bad += 1
    return found, bad


@dataclass(frozen=True)
class Recorded:
    """The records of one content: lines by name (None: nothing recorded for that name)."""

    digest: bytes
    by_key: Mapping[str, Lines]

    def get(self, name: str) -> Lines | None:
        """The recorded lines naming `name`, or None."""
        return self.by_key.get(_name_key(self.digest, name)) if self.by_key else None


@dataclass(frozen=True)
class Earlier:
    """What is recorded for a content the file's bytes begin with (the file only grew, as
    when ssh adds a host): good for its lines; the lines after them are scanned."""

    recorded: Recorded
    lines: int


def _hint_name(path: str) -> str:
    return "path-" + hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class LookupCache:
    """A directory of logs, one per known_hosts content (named by its sha256)."""

    directory: str

    def _open_dir(self, create: bool) -> int | None:
        try:
            if create:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return None  # no cache (none yet, or not creatable): lookups scan the file
        if _private(os.fstat(fd)):
            return fd
        os.close(fd)
        _EVENTS.warning(
            "known_hosts cache %s not used: it must be a directory of this user with no "
            "access for others (mode 0700)",
            self.directory,
        )
        return None

    def _refused(self, name: str, why: str) -> None:
        _EVENTS.warning("known_hosts cache %s/%s not used: %s", self.directory, name, why)

    def load(self, digest: bytes) -> Recorded:
        """What is recorded for the content with this sha256 (nothing when the log is
        missing, not the user's own, open to others, or not for this content)."""
        name = digest.hex()
        body = self._read(name)
        if not body or body[0] != f"{FORMAT} {name}":
            return Recorded(digest, {})
        found, bad = _parse(digest, body[1:])
        if bad:
            self._refused(name, f"{bad} record(s) failed their check (those names are scanned)")
        return Recorded(digest, found)

    def earlier(self, path: str, data: bytes) -> Earlier | None:
        """The records of the content `path` last had, when `data` begins with it (its
        sha256 checked) and goes on after its last newline, by at most a quarter of it (or
        8 KiB); None otherwise."""
        hint = self._read(_hint_name(path))
        fields = hint[0].split(" ") if len(hint) == 1 else []
        try:
            size, digest = int(fields[0]), bytes.fromhex(fields[1])
        except (ValueError, IndexError):
            return None
        if not 0 < size < len(data) or data[size - 1 : size] != b"\n":
            return None
        if len(data) - size > max(size // 4, 8192):
            return None  # matching each later line alone would cost more than a lookup
        if hashlib.sha256(data[:size]).digest() != digest:
            return None
        recorded = self.load(digest)
        if not recorded.by_key:
            return None
        return Earlier(recorded, len(data[:size].decode("utf-8", errors="replace").splitlines()))

    def remember(self, path: str, size: int, digest: bytes) -> None:
        """Note that `path` now holds `size` bytes with sha256 `digest` (for `earlier`)."""
        directory = self._open_dir(create=True)
        if directory is None:
            return
        name = _hint_name(path)
        temp = f".{name}.{os.getpid()}.{threading.get_ident()}"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(temp, flags, 0o600, dir_fd=directory)
            try:
                os.write(fd, f"{size} {digest.hex()}\n".encode())
            finally:
                os.close(fd)
            os.replace(temp, name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError as exc:
            self._refused(name, f"cannot write: {exc}")
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=directory)
        finally:
            os.close(directory)

    def _read(self, name: str) -> list[str]:
        """The complete lines of one log ([] when absent or refused)."""
        directory = self._open_dir(create=False)
        if directory is None:
            return []
        try:
            # O_NONBLOCK: a FIFO in a log's place would wait for a writer (the fstat refuses it)
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
        except OSError:
            return []
        finally:
            os.close(directory)
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or not _private(st):
                self._refused(name, "not a file of this user with mode 0600")
                return []
            try:
                data = handle.read(MAX_LOG_BYTES + 1)
                os.utime(fd)  # recently used: evicted last
            except OSError:
                return []
        text = data.decode("ascii", errors="replace")
        return text.split("\n")[:-1]  # an unfinished last line (a crash) is left out

    def add(self, digest: bytes, found: Mapping[str, Lines]) -> None:
        """Append records `name -> lines` to the content's log, under its lock."""
        if not found:
            return
        payload = "".join(_record(digest, n, lines) for n, lines in found.items()).encode()
        directory = self._open_dir(create=True)
        if directory is None:
            return
        try:
            self._append(directory, digest.hex(), payload)
        except OSError as exc:
            self._refused(digest.hex(), f"cannot write: {exc}")
        finally:
            os.close(directory)

    def _append(self, directory: int, name: str, payload: bytes) -> None:
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
        fd = os.open(name, flags, 0o600, dir_fd=directory)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or not _private(st):
                self._refused(name, "not a file of this user with mode 0600")
                return
            if st.st_size == 0:
                payload = f"{FORMAT} {name}\n".encode() + payload
                _evict(directory, keep=name)
            elif st.st_size + len(payload) > MAX_LOG_BYTES:
                return  # full: further names of this content are scanned each run
            elif os.pread(fd, 1, st.st_size - 1) != b"\n":
                payload = b"\n" + payload  # after a torn record (a crash mid-write)
            os.write(fd, payload)
        finally:
            os.close(fd)

    def forget(self, digest: bytes) -> None:
        """Remove the log of a content that is gone (the file was appended to)."""
        directory = self._open_dir(create=False)
        if directory is None:
            return
        try:
            os.unlink(digest.hex(), dir_fd=directory)
        except OSError:
            pass  # already gone
        finally:
            os.close(directory)


def _is_entry(name: str) -> bool:
    """A log (a content's sha256) or a path's hint."""
    digest = name.removeprefix("path-")
    size = 40 if len(digest) < len(name) else 64
    return len(digest) == size and all(c in "0123456789abcdef" for c in digest)


def _evict(directory: int, keep: str) -> None:
    """Remove the least recently used logs and hints beyond MAX_LOGS - 1 (a new log is being
    started)."""
    ages: list[tuple[int, str]] = []
    for name in os.listdir(directory):
        if _is_entry(name) and name != keep:
            try:
                ages.append((os.stat(name, dir_fd=directory).st_mtime_ns, name))
            except OSError:
                continue
    for _, name in sorted(ages)[: max(len(ages) - (MAX_LOGS - 1), 0)]:
        try:
            os.unlink(name, dir_fd=directory)
        except OSError:
            continue
