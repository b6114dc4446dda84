"""A host's key is accepted from the lines that carry it: only those have their names hashed,
not every hashed line of the file. A refusal (revoked, changed, unknown) reads every line
naming the host. The verdicts are OpenSSH's: `ssh-keygen -F` finds the lines naming a host,
and a key is revoked by a @revoked line with it, accepted by another line with it, changed
when the host is named with other keys only, unknown when it is not named at all."""

from __future__ import annotations

import base64
import string
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from rorunner.errors import HostKeyError
from rorunner.transport import _ssh_hostkeys
from rorunner.transport._ssh_hostkeys import KnownHostsPolicy, Renegotiate
from tests.test_known_hosts_index import _mixed_file, _openssh_lines

B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


@pytest.fixture(autouse=True)
def _fresh_indexes(_hermetic_environment: Path) -> Iterator[None]:
    """Each policy reads its files as a new process would (no index kept from another test;
    the lookup cache is the test's own, empty)."""
    _ssh_hostkeys._cache.clear()
    yield
    _ssh_hostkeys._cache.clear()


def _key(text: str) -> paramiko.PKey:
    kind, blob = text.split()[-2:]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


def _openssh_verdict(path: Path, name: str, key: paramiko.PKey) -> str:
    rows = path.read_text().splitlines()
    lines = [(_key(rows[n - 1]), revoked) for n, revoked in _openssh_lines(path, name)]
    if any(revoked and k == key for k, revoked in lines):
        return "revoked"
    if any(not revoked and k == key for k, revoked in lines):
        return "ok"
    return "changed" if any(not revoked for _, revoked in lines) else "unknown"


def _our_verdict(path: Path, name: str, key: paramiko.PKey) -> str:
    _ssh_hostkeys._cache.clear()  # a new process: the index made again, nothing looked up
    policy = KnownHostsPolicy("h", (str(path),), "strict", name)
    try:
        policy.missing_host_key(paramiko.SSHClient(), name, key)
    except HostKeyError as exc:
        text = str(exc)
        return "revoked" if "@revoked" in text else "changed" if "CHANGED" in text else "unknown"
    return "ok"


def test_every_verdict_is_openssh_s(tmp_path: Path) -> None:
    path = _mixed_file(tmp_path)
    keys = {_key(line) for line in path.read_text().splitlines() if line and line[0] != "#"}
    keys.add(paramiko.ECDSAKey.generate())  # a key no line has
    names = [f"2001:db8::{i:x}" for i in range(0, 130, 4)] + ["2001:db8::5", "nowhere"]
    names += [f"[2001:db8::{i:x}]:2222" for i in range(0, 130, 9)] + ["[2001:db8::6]:2222"]
    names += [f"web{i}{d}.example.org" for i in range(0, 120, 11) for d in (1, 7)]
    names += [f"db{i}.example.org" for i in range(0, 45, 6)]
    seen = set()
    for name in names:
        for key in sorted(keys, key=lambda k: k.asbytes()):
            verdict = _our_verdict(path, name, key)
            assert verdict == _openssh_verdict(path, name, key), (name, key.get_base64())
            seen.add(verdict)
    assert seen == {"ok", "revoked", "changed", "unknown"}


def _hashed_file(path: Path, host: str, key: paramiko.PKey, filler: int = 2000) -> Path:
    other = paramiko.ECDSAKey.generate()
    lines = [
        f"{paramiko.HostKeys.hash_host(f'2001:db8::{i:x}')} {other.get_name()} {other.get_base64()}"
        for i in range(filler)
    ]
    lines.insert(
        filler // 2, f"{paramiko.HostKeys.hash_host(host)} {key.get_name()} {key.get_base64()}"
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def _counting_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The `|1|` names whose HMAC is keyed from now on (one per hashed name tested)."""
    keyed: list[str] = []
    real = _ssh_hostkeys._hmac_states

    def counted(pattern: str) -> object:
        keyed.append(pattern)
        return real(pattern)

    monkeypatch.setattr(_ssh_hostkeys, "_hmac_states", counted)
    return keyed


def test_an_accepted_key_hashes_only_the_lines_that_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = paramiko.ECDSAKey.generate()
    path = _hashed_file(tmp_path / "known_hosts", "2001:db8:1::7", key)
    keyed = _counting_hashes(monkeypatch)
    assert _our_verdict(path, "2001:db8:1::7", key) == "ok"
    assert len(keyed) == 1
    # a key no line names the host with: every hashed line is tested before the refusal
    assert _our_verdict(path, "2001:db8:1::7", paramiko.ECDSAKey.generate()) == "changed"
    assert len(keyed) == 1 + 2001


def _respelled(key: paramiko.PKey) -> str:
    """`key`'s base64 with the unused low bits of its last character set: the same bytes
    for Python's decoder, another text (an ECDSA P-256 blob ends in one padding `=`)."""
    text = key.get_base64()
    assert text.endswith("=") and not text.endswith("==")
    return text[:-2] + B64[B64.index(text[-2]) ^ 1] + "="


def test_a_key_written_another_way_is_still_found(tmp_path: Path) -> None:
    key = paramiko.ECDSAKey.generate()
    path = tmp_path / "known_hosts"
    name = "web1.example.org"
    path.write_text(
        f"{name} {key.get_name()} {key.get_base64()}\n"
        f"@revoked {name} {key.get_name()} {_respelled(key)}\n"
    )
    assert _our_verdict(path, name, key) == "revoked"  # not accepted by the first line
    hashed = paramiko.HostKeys.hash_host(name)
    path.write_text(f"{hashed} {key.get_name()} {_respelled(key)}\n")
    assert _our_verdict(path, name, key) == "ok"  # found by the scan of every line


def test_a_host_known_by_another_key_type_is_connected_to_again(tmp_path: Path) -> None:
    known = paramiko.ECDSAKey.generate()
    offered = paramiko.RSAKey.generate(1024)
    name = "[2001:db8::9]:2200"
    path = _hashed_file(tmp_path / "known_hosts", name, known, filler=10)
    policy = KnownHostsPolicy("h", (str(path),), "strict", name)
    types = ("ssh-ed25519", "rsa-sha2-512", "ecdsa-sha2-nistp256")
    assert policy.preferred_key_types(types) == list(types)  # hashed: not known before
    with pytest.raises(Renegotiate):
        policy.missing_host_key(paramiko.SSHClient(), name, offered)
    assert policy.preferred_key_types(types)[0] == "ecdsa-sha2-nistp256"
    policy.missing_host_key(paramiko.SSHClient(), name, known)  # the key exchange's 2nd try
    with pytest.raises(HostKeyError, match="CHANGED"):  # no third connection
        policy.missing_host_key(paramiko.SSHClient(), name, offered)
