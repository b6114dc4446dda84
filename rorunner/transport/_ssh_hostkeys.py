"""Host-key checking against known_hosts files: strict, accept-new; a changed key is refused."""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import paramiko
from paramiko.pkey import UnknownKeyType

from rorunner.errors import HostKeyError
from rorunner.model import HostKeyPolicy
from rorunner.transport import PREFERRED_CIPHERS
from rorunner.transport._ssh_kh_cache import Earlier, LookupCache, Recorded, lookup_cache
from rorunner.transport._ssh_kh_lines import (
    AnchoredPatterns,
    TextLines,
    first_fields,
    lines_of,
    merge_fields,
)

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


def _glob(pattern: str) -> re.Pattern[str]:
    """OpenSSH host patterns know only `*` and `?`; brackets are literal ("[addr]:port")."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts))


_SHA1_SIZE, _SHA1_BLOCK = 20, 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _hmac_states(pattern: str) -> tuple[Any, Any, bytes] | None:
    """A `|1|salt|hash` name's HMAC-SHA1 states after the key blocks (key ^ ipad, key ^
    opad), and its hash: one name then costs two state copies and two short updates (OpenSSH,
    too, hashes the name once per entry); None for a malformed entry (it matches nothing)."""
    parts = pattern.split("|")  # "", "1", salt, hash
    if len(parts) != 4:
        return None
    try:
        salt = binascii.a2b_base64(parts[2])  # as leniently as paramiko reads it
        digest = binascii.a2b_base64(parts[3])
    except ValueError:
        return None
    if len(salt) != _SHA1_SIZE:
        return None
    block = salt.ljust(_SHA1_BLOCK, b"\0")
    inner = hashlib.sha1(block.translate(_IPAD))  # noqa: S324 - OpenSSH's HashKnownHosts
    outer = hashlib.sha1(block.translate(_OPAD))  # noqa: S324 - OpenSSH's HashKnownHosts
    return inner, outer, digest


def _hmac_matches(states: tuple[Any, Any, bytes], name: bytes) -> bool:
    """HMAC-SHA1(salt, name) == the entry's hash."""
    inner, outer, digest = states
    state = inner.copy()
    state.update(name)
    final = outer.copy()
    final.update(state.digest())
    return hmac.compare_digest(final.digest(), digest)


_Matcher = Callable[[str, bytes], bool]  # (name, name as UTF-8) -> matches


def _matcher(pattern: str) -> _Matcher:
    """How one pattern of a known_hosts line tests a name (regexes only where needed)."""
    if pattern.startswith("|1|"):
        states = _hmac_states(pattern)
        if states is None:
            return lambda name, encoded: False  # a malformed hashed entry matches nothing
        return lambda name, encoded: _hmac_matches(states, encoded)
    if "*" not in pattern and "?" not in pattern:
        return lambda name, encoded: name == pattern
    head, _, tail = pattern.partition("*")
    if "?" not in pattern and "*" not in tail:  # one star: a prefix and a suffix
        size = len(head) + len(tail)
        return lambda name, encoded: (
            len(name) >= size and name.startswith(head) and name.endswith(tail)
        )
    glob = _glob(pattern)
    return lambda name, encoded: glob.fullmatch(name) is not None


@dataclass(frozen=True)
class _Patterns:
    """A line's names with wildcards or negations: no negated pattern may match, one other
    pattern must."""

    positive: tuple[_Matcher, ...]
    negative: tuple[_Matcher, ...]

    @classmethod
    def parse(cls, names: Sequence[str]) -> _Patterns:
        """From the comma-separated names of a line."""
        positive = tuple(_matcher(p) for p in names if not p.startswith("!"))
        return cls(positive, tuple(_matcher(p[1:]) for p in names if p.startswith("!")))

    def matches(self, name: str, encoded: bytes) -> bool:
        """Whether the line names `name`."""
        if any(m(name, encoded) for m in self.negative):
            return False
        return any(m(name, encoded) for m in self.positive)


def _parse_key(keytype: str, blob: str) -> paramiko.PKey | None:
    try:
        return paramiko.PKey.from_type_string(keytype, base64.b64decode(blob, validate=True))
    except (ValueError, OverflowError, paramiko.SSHException, UnknownKeyType):
        return None  # a key type this paramiko cannot read (DSS, sk-...) or a broken key


@dataclass(frozen=True)
class _Entry:
    """One key line as written; its key is decoded only when a host matches it."""

    line: int
    keytype: str
    blob: str
    revoked: bool


def _entry(number: int, raw: str) -> tuple[list[str], _Entry] | None:
    """A line's names and key, or None for a comment, a blank, a short or a CA line."""
    fields = raw.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = fields.pop(0) if fields[0].startswith("@") else ""
    if len(fields) < 3 or marker == "@cert-authority":
        return None
    return fields[0].split(","), _Entry(number, fields[1], fields[2], marker == "@revoked")


def _negated(names: str) -> bool:
    """Whether a line's comma-separated names negate a pattern."""
    return names.startswith("!") or ",!" in names


def _key_fields(raw: str) -> list[str] | None:
    """A key line's fields (names, key type, key, the rest); None for a comment, a marked
    line (@revoked, @cert-authority) or a line too short to hold a key."""
    fields = raw.split(None, 3)
    return fields if len(fields) >= 3 and fields[0][0] not in "#@" else None


def _plain(pattern: str) -> bool:
    """A name matched as itself: not hashed, no wildcard."""
    return not pattern.startswith("|1|") and "*" not in pattern and "?" not in pattern


class KnownHostsIndex:
    """One known_hosts file content, searched for a host's lines when a lookup needs them.

    A plain name's lines come from a dict of every line's first-field names, made once; a
    key's lines are found by searching the text for its base64 (`TextLines`), and the lines
    with a wildcard, a negation (`!`) or a marker (`@revoked`) by those characters, once,
    their patterns filed by their literal ends (`AnchoredPatterns`): only the lines found
    are parsed and a name is tested only against the patterns that could match it, so a
    lookup hardly depends on the file's length. Hashed (`|1|`) names can only be tested by
    hashing the name with each entry's salt: those are scanned, once per distinct name
    (lookups are remembered); names other threads are waiting for share the same scan.
    With the user's lookup cache (`_ssh_kh_cache`), a name recorded for this very content is
    answered from its line numbers alone, each line re-checked against the name: a run whose
    hosts are all recorded searches nothing; what a scan finds is recorded.
    @cert-authority lines are skipped (no certificate checking; such a host is not known).
    """

    def __init__(
        self,
        path: str,
        text: str,
        digest: bytes = b"",
        cache: LookupCache | None = None,
        data: bytes = b"",
    ) -> None:
        self.path = path
        self._text = TextLines(text)
        self._digest = digest  # sha256 of the file's bytes (`data`): the cache's key
        self._cache = cache if digest else None
        self._data = data
        self._size = len(data)
        self._recorded: Recorded | None = None  # loaded on the first lookup
        self._earlier: Earlier | None = None  # when nothing is, for a content it grew from
        self._remembered = False  # the cache noted this content as the path's
        self._searched = False
        # line numbers only: a line's key and marker are read again when a name matches it
        self._hashed_names: list[tuple[str, int]] | None = None  # `|1|` names, their lines
        self._hashed: list[tuple[Any, Any, bytes, int]] | None = None  # their HMAC states
        self._names: dict[str, int | list[int]] | None = None  # plain names: their lines
        self._patterned = False  # the lines below were found
        self._positive = AnchoredPatterns[tuple[str, int]]()  # wildcards, a "!" line's others
        self._negative: dict[int, list[str]] = {}  # a "!" line's negated patterns
        self._matchers: dict[str, _Matcher] = {}  # the patterns tested so far
        self._revoked: list[int] = []  # @revoked lines: their keys are compared decoded
        self._lines_of: dict[str, tuple[int, ...]] = {}  # every name answered: its lines
        self._found: dict[str, tuple[KnownKey, ...]] = {}
        self._keys: dict[int, paramiko.PKey | None] = {}
        self._lock = threading.Lock()
        self._waiting: set[str] = set()  # names threads wait to look up (for one scan)
        self._waiting_lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether a lookup had to search the text (some name was not in the cache)."""
        return self._searched

    def _patterns(self) -> None:
        """Find the lines with a wildcard, a negation or a marker, once."""
        self._searched = True
        if not self._patterned:
            self._patterned = True
            found = {n for mark in "*?!@" for n in self._text.holding(mark)}
            for number in sorted(found):
                self._add_patterned(number, self._text.row(number))

    def _add_patterned(self, number: int, raw: str) -> None:
        """Keep a line's wildcard patterns, a negated line's patterns, a @revoked line."""
        fields = raw.split(None, 3)
        if not fields or fields[0][0] == "#":
            return
        if fields[0][0] == "@":
            self._add_marked(number, raw)
            return
        names = fields[0]
        if len(fields) < 3:
            return
        if _negated(names):
            self._add_negated(number, names.split(","))
            return
        for pattern in names.split(","):
            if not pattern.startswith("|1|") and ("*" in pattern or "?" in pattern):
                self._positive.add(pattern, (pattern, number))

    def _lines_naming(self, name: str) -> list[int]:
        """The lines that have `name` itself among their names (not as a pattern): a dict
        lookup, the names of every line's first field listed once."""
        self._searched = True
        if self._names is None:
            self._names = first_fields(self._text.rows())
        found = []
        for number in lines_of(self._names, name):
            fields = _key_fields(self._text.row(number))
            if fields is None or _negated(fields[0]):
                continue  # (a negated line's names are matched with its negations)
            if any(p == name and _plain(p) for p in fields[0].split(",")):
                found.append(number)
        return found

    def _lines_with_blob(self, blob: str) -> list[int]:
        """The lines, not marked, whose key is written as `blob`."""
        self._searched = True
        found = []
        for number in self._text.holding(blob):
            fields = _key_fields(self._text.row(number))
            if fields is not None and fields[2] == blob:
                found.append(number)
        return found

    def _add_marked(self, number: int, raw: str) -> None:
        parsed = _entry(number, raw)  # @revoked, or a line skipped (@cert-authority)
        if parsed is not None:
            self._revoked.append(number)
            self._add_negated(number, parsed[0])

    def _add_negated(self, number: int, patterns: Sequence[str]) -> None:
        """A line matched as a whole: no negated pattern may match, one other must."""
        negative = [p[1:] for p in patterns if p.startswith("!")]
        if negative:
            self._negative[number] = negative
        for pattern in patterns:
            if not pattern.startswith("!"):
                filed = None if pattern.startswith("|1|") else pattern  # hashed: test always
                self._positive.add(filed, (pattern, number))

    def first_look(self, name: str) -> tuple[tuple[KnownKey, ...], bool]:
        """The keys of the lines naming `name` that are found without hashing it, and
        whether they are all of them: all when answered before or recorded in the lookup
        cache; else those of plain names and patterns, hashed lines left out."""
        with self._lock:
            found = self._found.get(name)
            if found is not None:
                return found, True
            entries = self._recorded_entries(name)
            if entries is not None:
                self._answered(name, entries)
                return self._found[name], True
            self._patterns()
            lines = self._with_patterns(name, name.encode(), set(self._lines_naming(name)))
            entries = [e for n in sorted(lines) if (e := self._entry_at(n))]
            return tuple(self._keys_of(entries)), False

    def revoking(self, name: str, key: paramiko.PKey) -> KnownKey | None:
        """An @revoked line naming `name` with `key` (every such line is read: their keys
        are compared decoded, however their base64 is written)."""
        with self._lock:
            self._patterns()
            return self._naming(name, key, self._revoked)

    def naming_with(self, name: str, key: paramiko.PKey) -> KnownKey | None:
        """A line, not @revoked, that names `name` with `key` as its base64 is written
        canonically; only the lines carrying that base64 have their names tested."""
        with self._lock:
            return self._naming(name, key, self._lines_with_blob(key.get_base64()))

    def _naming(self, name: str, key: paramiko.PKey, lines: Sequence[int]) -> KnownKey | None:
        encoded, blob = name.encode(), key.asbytes()
        for number in lines:
            parsed = _entry(number, self._text.row(number))
            if parsed is None or not _Patterns.parse(parsed[0]).matches(name, encoded):
                continue
            for known in self._keys_of([parsed[1]]):
                if known.key.asbytes() == blob:
                    return known
        return None

    def lookup(self, name: str) -> tuple[KnownKey, ...]:
        """The readable keys of every line naming `name`, in file order."""
        with self._waiting_lock:
            if name not in self._found:
                self._waiting.add(name)
        with self._lock:
            found = self._found.get(name)
            if found is None:
                self._answer(name)
                found = self._found[name]
            return found

    def _answer(self, name: str) -> None:
        """Answer `name` and the names other threads wait for, from the cache or one scan."""
        with self._waiting_lock:
            names = [name, *sorted(self._waiting.difference(self._found, (name,)))]
        scan = []
        for one in names:
            entries = self._recorded_entries(one)
            if entries is None:
                scan.append(one)
            else:
                self._answered(one, entries)
        if scan:
            self._patterns()
            lines = self._matching(scan)
            self._record(lines)
            for one in scan:
                self._answered(one, [e for n in lines[one] if (e := self._entry_at(n))])
        with self._waiting_lock:
            self._waiting.difference_update(names)

    def _answered(self, name: str, entries: list[_Entry]) -> None:
        self._lines_of[name] = tuple(e.line for e in entries)
        self._found[name] = tuple(self._keys_of(entries))

    def _recorded_entries(self, name: str) -> list[_Entry] | None:
        """The entries the cache recorded for `name`, each checked to name it; None when
        nothing is recorded or a recorded line does not name it (then the file is scanned)."""
        if self._cache is None:
            return None
        if self._recorded is None:
            self._recorded = self._cache.load(self._digest)
            if not self._recorded.by_key and self._data:
                self._earlier = self._cache.earlier(self.path, self._data)
            self._data = b""
        lines = self._recorded.get(name)
        earlier = self._earlier if lines is None else None
        if earlier is not None:
            lines = earlier.recorded.get(name)
        if lines is None:
            return None
        entries = []
        encoded = name.encode()
        for number in lines:
            parsed = _entry(number, self._text.row(number))
            if parsed is None or not _Patterns.parse(parsed[0]).matches(name, encoded):
                return None
            entries.append(parsed[1])
        if earlier is not None:  # its lines hold; the lines added since are scanned
            if any(number > earlier.lines for number in lines):
                return None
            entries += [
                e for n in self._later_lines(earlier.lines, name) if (e := self._entry_at(n))
            ]
            self._record({name: tuple(e.line for e in entries)})
        return entries

    def _later_lines(self, after: int, name: str) -> tuple[int, ...]:
        """The lines after line `after` that name `name` (each parsed and matched)."""
        encoded = name.encode()
        found = []
        for number in range(after + 1, self._text.count() + 1):
            parsed = _entry(number, self._text.row(number))
            if parsed is not None and _Patterns.parse(parsed[0]).matches(name, encoded):
                found.append(number)
        return tuple(found)

    def _record(self, found: dict[str, tuple[int, ...]]) -> None:
        if self._cache is None:
            return
        self._cache.add(self._digest, found)
        if not self._remembered:
            self._remembered = True
            self._cache.remember(self.path, self._size, self._digest)

    def _matching(self, names: list[str]) -> dict[str, tuple[int, ...]]:
        """The lines naming each of `names`, in file order: one pass over the hashed lines."""
        wanted = [(name, name.encode(), set(self._lines_naming(name))) for name in names]
        for inner, outer, digest, number in self._hashed_states():  # _hmac_matches, inlined: the
            for _, encoded, found in wanted:  # loop that dominates a scan
                state = inner.copy()
                state.update(encoded)
                final = outer.copy()
                final.update(state.digest())
                if final.digest() == digest:
                    found.add(number)
        return {
            name: tuple(sorted(self._with_patterns(name, encoded, found)))
            for name, encoded, found in wanted
        }

    def _with_patterns(self, name: str, encoded: bytes, lines: set[int]) -> set[int]:
        """`lines` and the lines whose patterns match `name`, less those that a negation of
        theirs excludes; only the patterns filed where `name` could match are tested."""
        lines.update(n for p, n in self._positive.candidates(name) if self._test(p, name, encoded))
        negated = self._negative
        return {
            n for n in lines if not any(self._test(p, name, encoded) for p in negated.get(n, ()))
        }

    def _test(self, pattern: str, name: str, encoded: bytes) -> bool:
        matcher = self._matchers.get(pattern)
        if matcher is None:  # made when first tested: most patterns never are
            matcher = self._matchers[pattern] = _matcher(pattern)
        return matcher(name, encoded)

    def _hashed_states(self) -> list[tuple[Any, Any, bytes, int]]:
        """The hashed names' HMAC states, made at the first scan (a run whose hosts are all
        known by their keys makes none); a malformed name matches nothing."""
        if self._hashed is None:
            names = self._hashed_lines()
            self._hashed = []
            for pattern, number in names:
                states = _hmac_states(pattern)
                if states is not None:
                    self._hashed.append((*states, number))
        return self._hashed

    def _hashed_lines(self) -> list[tuple[str, int]]:
        """The `|1|` names of the lines not negated (those are matched whole), found once."""
        if self._hashed_names is None:
            self._hashed_names = []
            for number in self._text.holding("|1|"):
                self._add_hashed(number, self._text.row(number))
        return self._hashed_names

    def _add_hashed(self, number: int, raw: str) -> None:
        assert self._hashed_names is not None
        fields = _key_fields(raw)
        if fields is None or _negated(fields[0]):
            return
        found = [(p, number) for p in fields[0].split(",") if p.startswith("|1|")]
        if found:
            self._hashed_names += found
            self._hashed = None  # (a line appended after a scan)

    def _keys_of(self, entries: list[_Entry]) -> Iterator[KnownKey]:
        for entry in entries:
            if entry.line not in self._keys:
                self._keys[entry.line] = _parse_key(entry.keytype, entry.blob)
            key = self._keys[entry.line]
            if key is not None:
                yield KnownKey(self.path, entry.line, key, entry.revoked)

    def appended(self, name: str, key: paramiko.PKey, digest: bytes) -> None:
        """Take in the line `name key` just written after the last line (the text ended
        with a newline); `digest` is the new content's sha256. Names already answered are
        updated, and recorded in the cache for the new content (the old content's go)."""
        raw = f"{name} {key.get_name()} {key.get_base64()}"
        with self._lock:
            number = self._text.append(raw)
            self._size += len(raw.encode()) + 1
            if self._patterned:
                self._add_patterned(number, raw)
            if self._hashed_names is not None:
                self._add_hashed(number, raw)
            if self._names is not None:
                merge_fields(self._names, first_fields([raw], number))
            names = _Patterns.parse(name.split(","))
            for known, lines in self._lines_of.items():
                if names.matches(known, known.encode()):
                    self._lines_of[known] = (*lines, number)
                    entries = [e for n in self._lines_of[known] if (e := self._entry_at(n))]
                    self._found[known] = tuple(self._keys_of(entries))
            if self._cache is not None:
                self._cache.forget(self._digest)
            self._digest = digest
            self._recorded = Recorded(digest, {})
            self._earlier = None
            self._remembered = False
            self._record(dict(self._lines_of))

    def _entry_at(self, number: int) -> _Entry | None:
        parsed = _entry(number, self._text.row(number))
        return None if parsed is None else parsed[1]


# A file whose mtime is this close to when it was read may have been written again within
# the same timestamp tick: its content, not its stat, says whether it changed ("racy git").
_RACY_NS = 2_000_000_000


@dataclass
class _Cached:
    stamp: tuple[int, ...]
    read_at: int  # time.time_ns() when read
    digest: bytes
    index: KnownHostsIndex


_cache: dict[str, _Cached] = {}
_cache_lock = threading.RLock()


def _stamp(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def known_hosts_index(path: str) -> KnownHostsIndex:
    """The index of `path`, read once per process while the file stays unchanged."""
    with _cache_lock:
        stamp = _stamp(path)
        cached = _cache.get(path)
        if cached is not None and cached.stamp == stamp and stamp is not None:
            if stamp[3] < cached.read_at - _RACY_NS:
                return cached.index
            data = _read(path)
            if data is not None and hashlib.sha256(data).digest() == cached.digest:
                return cached.index
        read_at = time.time_ns()
        data = _read(path)
        if data is None:
            return KnownHostsIndex(path, "")
        digest = hashlib.sha256(data).digest()
        text = data.decode("utf-8", errors="replace")
        index = KnownHostsIndex(path, text, digest, lookup_cache(os.environ), data)
        if stamp is not None:
            _cache[path] = _Cached(stamp, read_at, digest, index)
        return index


def read_known_keys(path: str, name: str) -> Iterator[KnownKey]:
    """Keys for `name` in one known_hosts file (hashed, wildcard and negated names handled)."""
    yield from known_hosts_index(path).lookup(name)


def append_known_host(path: str, name: str, key: paramiko.PKey) -> tuple[KnownKey, ...]:
    """Add `name key` to `path` once, under a lock, by temp file + rename (other lines kept);
    the process's index of the file takes the new line in. When the file names `name` with
    a key that is not revoked, or with this key, by now (another run added it meanwhile),
    nothing is added: those keys are returned, for the caller to decide on."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, mode=0o700, exist_ok=True)
    with _write_lock, open(f"{path}.lock", "a") as lock, _cache_lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = known_hosts_index(path).lookup(name)
        if any(not k.revoked or k.key.asbytes() == key.asbytes() for k in known):
            return known  # another thread or process added a key meanwhile
        try:
            with open(path, "rb") as handle:
                original = handle.read()
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            original, mode = b"", 0o600
        old = original if not original or original.endswith(b"\n") else original + b"\n"
        line = f"{name} {key.get_name()} {key.get_base64()}\n".encode()
        written_at = time.time_ns()
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".known_hosts.rorunner-tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(old + line)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        _remember_appended(path, original, old + line, written_at, name, key)
    return ()


def _remember_appended(
    path: str, original: bytes, new: bytes, written_at: int, name: str, key: paramiko.PKey
) -> None:
    """Keep the cached index, one line longer, when it was built from exactly `original`
    (which ended with a newline); otherwise the next lookup parses the file again."""
    cached = _cache.pop(path, None)
    stamp = _stamp(path)
    if cached is None or stamp is None or hashlib.sha256(original).digest() != cached.digest:
        return
    if original and not original.endswith(b"\n"):
        return
    digest = hashlib.sha256(new).digest()
    cached.index.appended(name, key, digest)
    _cache[path] = _Cached(stamp, written_at, digest, cached.index)


class Renegotiate(Exception):
    """The host's known key types were learnt after key exchange chose another one: connect
    again, the policy now offering them first."""


class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Decides on the server's key; the SSHClient itself holds no host keys, so it always asks.

    A key is accepted as soon as a line naming the host with it is found, as OpenSSH accepts
    it: only the lines carrying the offered key have their names hashed, not every hashed
    line of the file (an HMAC per line per host). A key is refused (changed, unknown, or
    accept-new's decision) only after every line naming the host was read."""

    def __init__(self, host: str, files: tuple[str, ...], policy: HostKeyPolicy, name: str) -> None:
        self.host = host  # what messages call the host
        self.files = files
        self.policy = policy
        self.name = name
        self._indexes = [known_hosts_index(path) for path in files]
        looks = [index.first_look(name) for index in self._indexes]
        self.known = [k for keys, _ in looks for k in keys]  # all of them when `complete`
        self.complete = all(whole for _, whole in looks)

    def _known_by_key(self, hostname: str, key: paramiko.PKey) -> bool:
        """Whether a line names the host with `key` (and none revokes it); when not, every
        line naming the host is read, and the connection is made again if they name key
        types the key exchange was not told of (Renegotiate)."""
        for index in self._indexes:
            if index.revoking(self.name, key) is not None:
                raise self._revoked(hostname, key)
        if any(index.naming_with(self.name, key) is not None for index in self._indexes):
            return True
        hinted = {k.key.get_name() for k in self.known if not k.revoked}
        self.known = [k for index in self._indexes for k in index.lookup(self.name)]
        self.complete = True
        valid = [k for k in self.known if not k.revoked]
        if any(k.key.asbytes() == key.asbytes() for k in valid):
            return True  # a line that writes the key's base64 its own way
        types = {k.key.get_name() for k in valid}
        if key.get_name() not in types and not types <= hinted:
            raise Renegotiate(self.host)  # offering these types first may get a known key
        return False

    def _revoked(self, hostname: str, key: paramiko.PKey) -> HostKeyError:
        return HostKeyError(
            self.host, f"host key {fingerprint(key)} for {hostname} is marked @revoked"
        )

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
        if not self.complete and self._known_by_key(hostname, key):
            return
        offered = fingerprint(key)
        if any(k.revoked and k.key.asbytes() == key.asbytes() for k in self.known):
            raise self._revoked(hostname, key)
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
            recorded = append_known_host(self.files[0], hostname, key)
        except OSError as exc:
            raise HostKeyError(
                self.host, f"cannot record host key in {self.files[0]}: {exc}"
            ) from exc
        if recorded:  # another run recorded this host meanwhile: its key decides, as known
            self.known = [*self.known, *recorded]
            self.missing_host_key(client, hostname, key)


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
