"""The user's cache of known_hosts lookups: a hit answers from the recorded lines, never
across a change of the file, never from a log someone else could have written."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import paramiko
import pytest

from rorunner.errors import HostKeyError
from rorunner.transport import _ssh_kh_cache
from rorunner.transport._ssh_hostkeys import (
    KnownHostsIndex,
    KnownHostsPolicy,
    append_known_host,
    known_hosts_index,
)
from rorunner.transport._ssh_kh_cache import LookupCache, lookup_cache

REPO = Path(__file__).resolve().parent.parent
KEYS = [paramiko.ECDSAKey.generate() for _ in range(4)]


def _text(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def _known_hosts(path: Path, filler: int = 300) -> Path:
    """Filler (plain, hashed, wildcard, negated) around the lines the tests look up: web1
    plain, web2 hashed, web3 by a wildcard, web4 with a @revoked key, db1 under a CA."""
    lines = []
    for i in range(filler):
        names = [
            f"host{i}.example.org",
            paramiko.HostKeys.hash_host(f"2001:db8::{i:x}"),
            f"*.zone{i}.example.net",
            f"x{i}?.example.org,!x{i}7.example.org",
        ][i % 4]
        lines.append(f"{names} {_text(KEYS[i % 2])}")
    lines[40:40] = [f"web1.example.org {_text(KEYS[0])}"]
    lines[90:90] = [f"{paramiko.HostKeys.hash_host('web2.example.org')} {_text(KEYS[1])}"]
    lines[150:150] = [f"web3*.example.org,!web3x.example.org {_text(KEYS[2])}"]
    lines[200:200] = [f"web4.example.org {_text(KEYS[2])}"]
    lines[201:201] = [f"@revoked web4.example.org {_text(KEYS[3])}"]
    lines[260:260] = [f"@cert-authority db1.example.org {_text(KEYS[3])}"]
    path.write_text("\n".join(lines) + "\n")
    return path


NAMES = ["web1.example.org", "web2.example.org", "web3.example.org", "web4.example.org"]
NAMES += ["web3x.example.org", "db1.example.org", "x57.example.org", "nowhere"]


def _fresh(path: Path) -> KnownHostsIndex:
    """The file's index as a new process builds it (with the cache the environment names)."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).digest()
    return KnownHostsIndex(str(path), data.decode(), digest, lookup_cache(os.environ), data)


def _answers(index: KnownHostsIndex, names: list[str]) -> dict[str, list[tuple[int, bool]]]:
    return {n: [(k.line, k.revoked) for k in index.lookup(n)] for n in names}


def _log(home: Path, path: Path) -> Path:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return home / ".cache" / "rorunner" / "known_hosts" / digest


@pytest.fixture
def home(_hermetic_environment: Path) -> Path:
    return _hermetic_environment


def test_a_second_process_answers_from_the_cache_without_building_the_index(
    tmp_path: Path, home: Path
) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    first = _fresh(path)
    scanned = _answers(first, NAMES)
    assert first.built
    assert scanned["web1.example.org"] == [(41, False)]
    assert scanned["web4.example.org"] == [(201, False), (202, True)]
    assert scanned["db1.example.org"] == [] and scanned["web3x.example.org"] == []
    log = _log(home, path)
    assert len(log.read_text().splitlines()) == 1 + len(NAMES)  # a header, one record a name
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert oct(log.parent.stat().st_mode & 0o777) == "0o700"

    second = _fresh(path)
    assert _answers(second, NAMES) == scanned
    assert not second.built  # every name from its recorded lines
    assert len(log.read_text().splitlines()) == 1 + len(NAMES)

    third = _fresh(path)  # a name not recorded yet: scanned, then recorded
    assert _answers(third, ["host4.example.org"]) == {"host4.example.org": [(5, False)]}
    assert third.built
    assert len(log.read_text().splitlines()) == 2 + len(NAMES)


def test_one_scan_answers_and_records_the_names_other_threads_wait_for(
    tmp_path: Path, home: Path
) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    alone = _answers(KnownHostsIndex(str(path), path.read_text()), NAMES)  # one by one
    index = _fresh(path)
    index._waiting.update(NAMES[1:])  # as threads blocked on the index's lock leave them
    assert _answers(index, NAMES[:1]) == {NAMES[0]: alone[NAMES[0]]}
    log = _log(home, path)
    assert len(log.read_text().splitlines()) == 1 + len(NAMES)  # all recorded by that scan
    digest = hashlib.sha256(path.read_bytes()).digest()
    recorded = LookupCache(str(log.parent)).load(digest)
    assert {n: recorded.get(n) for n in NAMES} == {
        n: tuple(line for line, _ in found) for n, found in alone.items()
    }
    assert _answers(index, NAMES) == alone
    assert len(log.read_text().splitlines()) == 1 + len(NAMES)  # nothing scanned again


def test_lookups_from_many_threads_find_what_one_thread_finds(tmp_path: Path, home: Path) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    alone = _answers(KnownHostsIndex(str(path), path.read_text()), NAMES)
    index = _fresh(path)
    start = threading.Barrier(len(NAMES) * 2)
    answers: list[dict[str, list[tuple[int, bool]]]] = []

    def look(name: str) -> None:
        start.wait()
        answers.append(_answers(index, [name]))

    threads = [threading.Thread(target=look, args=(n,)) for n in NAMES * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers, key=str) == sorted(({n: alone[n]} for n in NAMES * 2), key=str)
    assert len(_log(home, path).read_text().splitlines()) == 1 + len(NAMES)


def test_revoked_is_honoured_on_a_hit(tmp_path: Path, home: Path) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    _answers(_fresh(path), ["web4.example.org"])
    index = _fresh(path)
    known = [(k.line, k.revoked, k.key.asbytes()) for k in index.lookup("web4.example.org")]
    assert not index.built
    assert known == [(201, False, KEYS[2].asbytes()), (202, True, KEYS[3].asbytes())]


def test_a_changed_file_is_another_content(tmp_path: Path, home: Path) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    assert _answers(_fresh(path), ["web1.example.org"])["web1.example.org"] == [(41, False)]
    revoke = f"@revoked web1.example.org {_text(KEYS[0])}\n"  # the operator revokes web1's key
    path.write_text(revoke + path.read_text())
    index = _fresh(path)
    assert _answers(index, ["web1.example.org"])["web1.example.org"] == [(1, True), (42, False)]
    assert index.built
    policy = KnownHostsPolicy("web1", (str(path),), "strict", "web1.example.org")
    with pytest.raises(HostKeyError, match="revoked"):
        policy.missing_host_key(paramiko.SSHClient(), "web1.example.org", KEYS[0])


def _hide_revoked(log: Path, path: Path, recompute: bool) -> None:
    """Make web4's record say line 201 only (hiding the @revoked line 202)."""
    digest = hashlib.sha256(path.read_bytes()).digest()
    forged = _ssh_kh_cache._record(digest, "web4.example.org", (201,)).split()
    lines = log.read_text().splitlines()
    record = next(i for i, line in enumerate(lines) if line.split()[0] == forged[0])
    old = lines[record].split()
    lines[record] = " ".join(forged if recompute else [old[0], forged[1], old[2]])
    log.write_text("\n".join(lines) + "\n")


def test_an_edited_record_is_never_used(tmp_path: Path, home: Path) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    _answers(_fresh(path), NAMES)
    _hide_revoked(_log(home, path), path, recompute=False)
    index = _fresh(path)
    assert _answers(index, ["web4.example.org"])["web4.example.org"] == [(201, False), (202, True)]
    assert index.built  # scanned: the record failed its check
    assert _answers(index, ["web1.example.org"])["web1.example.org"] == [(41, False)]


def test_a_record_whose_line_does_not_name_the_host_is_not_used(tmp_path: Path, home: Path) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    _answers(_fresh(path), NAMES)
    log = _log(home, path)
    digest = hashlib.sha256(path.read_bytes()).digest()
    with log.open("a") as handle:  # a valid check, but line 41 is web1's, not nowhere's
        handle.write(_ssh_kh_cache._record(digest, "nowhere", (41,)))
    index = _fresh(path)
    assert _answers(index, ["nowhere"]) == {"nowhere": []}
    assert index.built


@pytest.mark.parametrize(
    "unsafe", ["log mode", "log owner", "log symlink", "dir mode", "dir owner", "dir symlink"]
)
def test_a_log_others_could_write_is_refused(tmp_path: Path, home: Path, unsafe: str) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    _answers(_fresh(path), NAMES)
    log = _log(home, path)
    _hide_revoked(log, path, recompute=True)  # what only a writer of the log can do
    hidden = _fresh(path)  # the user's own log is trusted: the forged record is used
    assert _answers(hidden, ["web4.example.org"])["web4.example.org"] == [(201, False)]
    target = log if unsafe.startswith("log") else log.parent
    if unsafe.endswith("mode"):
        target.chmod(0o664 if target == log else 0o775)
    elif unsafe.endswith("owner"):
        os.chown(target, 65534, 65534)
    else:  # the same private file or directory, reached through a symlink
        target.rename(target.with_name("real"))
        target.symlink_to(target.with_name("real"))
    index = _fresh(path)
    assert _answers(index, ["web4.example.org"])["web4.example.org"] == [(201, False), (202, True)]
    assert index.built


def test_concurrent_writers_lose_no_record(tmp_path: Path, home: Path) -> None:
    path = _known_hosts(tmp_path / "known_hosts", filler=2000)
    code = (
        "import hashlib, os, sys\n"
        "from rorunner.transport._ssh_hostkeys import KnownHostsIndex\n"
        "from rorunner.transport._ssh_kh_cache import lookup_cache\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "index = KnownHostsIndex(sys.argv[1], data.decode(), hashlib.sha256(data).digest(),\n"
        "                        lookup_cache(os.environ))\n"
        "for i in range(int(sys.argv[2]), 2000, 6):\n"
        "    index.lookup(f'host{i}.example.org')\n"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(k)], cwd=REPO)
        for k in range(6)
    ]
    assert [w.wait(timeout=300) for w in writers] == [0] * 6
    records = _log(home, path).read_text().splitlines()
    assert len(records) == 1 + 2000
    digest = hashlib.sha256(path.read_bytes()).digest()
    recorded, bad = _ssh_kh_cache._parse(digest, records[1:])
    assert bad == 0 and len(recorded) == 2000
    index = _fresh(path)
    assert [k.line for k in index.lookup("host1996.example.org")] == [
        2003
    ]  # 6 lines inserted before
    assert not index.built


def test_accept_new_records_the_new_content(tmp_path: Path, home: Path) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    old_log = _log(home, path)
    index = known_hosts_index(str(path))
    _answers(index, ["web1.example.org", "new.example.org"])
    assert old_log.exists()
    key = paramiko.ECDSAKey.generate()
    append_known_host(str(path), "new.example.org", key)
    assert not old_log.exists()  # that content is gone
    new_log = _log(home, path)
    assert len(new_log.read_text().splitlines()) == 3  # both names, for the new content
    fresh = _fresh(path)
    found = [(k.line, k.key.asbytes()) for k in fresh.lookup("new.example.org")]
    assert found == [(307, key.asbytes())]
    assert [k.line for k in fresh.lookup("web1.example.org")] == [41]
    assert not fresh.built


def test_where_the_cache_lives_and_how_to_turn_it_off(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _known_hosts(tmp_path / "known_hosts", filler=10)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _answers(_fresh(path), ["web1.example.org"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "xdg" / "rorunner" / "known_hosts" / digest).is_file()
    monkeypatch.setenv("RORUNNER_KNOWN_HOSTS_CACHE", str(tmp_path / "mine"))
    _answers(_fresh(path), ["web1.example.org"])
    assert (tmp_path / "mine" / digest).is_file()
    monkeypatch.setenv("RORUNNER_KNOWN_HOSTS_CACHE", "off")
    index = _fresh(path)
    _answers(index, ["web1.example.org"])
    assert index.built
    assert lookup_cache(os.environ) is None
    assert not (home / ".cache").exists()


def test_the_home_of_the_environment_given_is_used(tmp_path: Path) -> None:
    cache = lookup_cache({"HOME": str(tmp_path / "elsewhere"), "XDG_CACHE_HOME": "relative"})
    assert cache is not None
    assert cache.directory == str(tmp_path / "elsewhere" / ".cache" / "rorunner" / "known_hosts")


def test_the_cache_is_bounded(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ssh_kh_cache, "MAX_LOGS", 3)
    cache = LookupCache(str(tmp_path / "cache"))
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(6)]
    for i, digest in enumerate(digests):
        cache.add(digest, {"h": (i + 1,)})
        os.utime(tmp_path / "cache" / digest.hex(), ns=(i * 10**9, i * 10**9))
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        d.hex() for d in digests[3:]
    )
    monkeypatch.setattr(_ssh_kh_cache, "MAX_LOG_BYTES", 300)
    for i in range(20):
        cache.add(digests[5], {f"host{i}": (i,)})
    log = tmp_path / "cache" / digests[5].hex()
    assert 0 < log.stat().st_size <= 300
    assert cache.load(digests[5]).get("host0") == (0,)
    assert cache.load(digests[5]).get("host19") is None


def test_a_file_that_grew_reuses_its_records_and_scans_only_the_new_lines(
    tmp_path: Path, home: Path
) -> None:
    path = _known_hosts(tmp_path / "known_hosts")
    _answers(_fresh(path), NAMES)
    with path.open("a") as handle:  # as ssh adds hosts, and an operator revokes web1's key
        handle.write(f"{paramiko.HostKeys.hash_host('new.example.org')} {_text(KEYS[1])}\n")
        handle.write(f"@revoked web1.example.org {_text(KEYS[0])}\n")
    index = _fresh(path)
    answers = _answers(index, NAMES)
    assert not index.built  # the recorded names: their lines, then lines 307-308 scanned
    assert answers["web1.example.org"] == [(41, False), (308, True)]
    assert answers["web4.example.org"] == [(201, False), (202, True)]
    assert answers["nowhere"] == []
    assert _answers(index, ["new.example.org"]) == {"new.example.org": [(307, False)]}
    assert index.built  # not recorded before: a scan
    again = _fresh(path)  # the grown content has records of its own now
    assert _answers(again, [*NAMES, "new.example.org"]) == {
        **answers,
        **_answers(index, ["new.example.org"]),
    }
    assert not again.built

    grown = path.read_text()
    filler = f"host0.example.org {_text(KEYS[0])}\n"
    path.write_text(grown + filler * (len(grown) // 4 // len(filler) + 1))
    doubled = _fresh(path)  # grew by more than a quarter: a full lookup
    assert _answers(doubled, ["web1.example.org"])["web1.example.org"] == [(41, False), (308, True)]
    assert doubled.built

    path.write_text(grown)
    lines = path.read_text().splitlines()  # an edit before the end: nothing to reuse
    lines[0] = "# edited"
    path.write_text("\n".join(lines) + "\n")
    edited = _fresh(path)
    assert _answers(edited, ["web1.example.org"])["web1.example.org"] == [(41, False), (308, True)]
    assert edited.built


def test_a_fifo_in_place_of_a_log_is_refused_without_waiting(tmp_path: Path, home: Path) -> None:
    # Opening a FIFO for reading waits for a writer: a lookup would hang for ever.
    path = _known_hosts(tmp_path / "known_hosts", filler=8)
    log = _log(home, path)
    log.parent.mkdir(parents=True, mode=0o700)
    os.mkfifo(log, 0o600)
    answers: list[dict[str, list[tuple[int, bool]]]] = []
    looking = threading.Thread(target=lambda: answers.append(_answers(_fresh(path), NAMES[:1])))
    looking.start()
    looking.join(30)
    hung = looking.is_alive()
    if hung:  # let the stuck open return, so that the thread ends
        os.close(os.open(log, os.O_WRONLY | os.O_NONBLOCK))
        looking.join(30)
    assert not hung
    assert answers == [{"web1.example.org": [(9, False)]}]
