"""known_hosts is read once per process and searched by host name; OpenSSH is the oracle.

`ssh-keygen -F NAME -f FILE` lists the lines OpenSSH itself matches for a name (hashed
entries, wildcards, negations, `[addr]:port`, @revoked and @cert-authority markers); the
index must find exactly those lines (minus @cert-authority, which rorunner does not use).
"""

from __future__ import annotations

import base64
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import paramiko

from rorunner.transport._ssh_hostkeys import (
    append_known_host,
    known_hosts_index,
    read_known_keys,
)

REPO = Path(__file__).resolve().parent.parent
FOUND = re.compile(r"^# Host \S+ found: line (\d+)(?: (REVOKED|CA))?")


def _ssh_keygen(*args: str) -> str:
    return subprocess.run(
        ["ssh-keygen", *args], capture_output=True, text=True, timeout=60, check=False
    ).stdout


def _key_text(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], timeout=60, check=True
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _mixed_file(tmp_path: Path) -> Path:
    """Plain names, lists, ports, wildcards, negations, markers, then lines OpenSSH hashed."""
    keys = [_key_text(tmp_path, f"k{i}") for i in range(4)]
    rng = random.Random(7)
    plain = ["# operators' file", ""]
    for i in range(120):
        key = rng.choice(keys)
        plain.append(
            rng.choice(
                [
                    f"2001:db8::{i:x} {key}",
                    f"web{i}.example.org,2001:db8::{i:x} {key}",
                    f"[2001:db8::{i:x}]:2222 {key}",
                    f"2001:db8::{i:x}* {key}",
                    f"web{i}?.example.org,!web{i}7.example.org {key}",
                    f"@revoked 2001:db8::{i:x} {key}",
                    f"@cert-authority *.example.org {key}",
                    f"\t2001:db8::{i:x}\t{key.replace(' ', chr(9))}",  # tabs, a leading one
                    f"  web{i}.example.org {key}",  # leading blanks
                    f"*{i}1.example.org,2001:db8::{i:x}? {key}",  # by their end, by their start
                ]
            )
        )
    hashed = tmp_path / "hashed"
    hashed.write_text(
        "".join(f"{n} {rng.choice(keys)}\n" for n in ("2001:db8::5", "[2001:db8::6]:2222"))
        + "".join(f"db{i}.example.org {rng.choice(keys)}\n" for i in range(40))
    )
    _ssh_keygen("-H", "-f", str(hashed))  # OpenSSH's own |1|salt|hash lines
    assert all(line.startswith("|1|") for line in hashed.read_text().splitlines())
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(plain) + "\n" + hashed.read_text())
    return path


def _openssh_lines(path: Path, name: str) -> list[tuple[int, bool]]:
    found = (FOUND.match(line) for line in _ssh_keygen("-F", name, "-f", str(path)).splitlines())
    return [(int(m[1]), m[2] == "REVOKED") for m in found if m and m[2] != "CA"]


def test_index_finds_what_openssh_finds(tmp_path: Path) -> None:
    path = _mixed_file(tmp_path)
    names = [f"2001:db8::{i:x}" for i in range(0, 130, 3)]
    names += [f"[2001:db8::{i:x}]:2222" for i in range(0, 130, 5)]
    names += [f"web{i}{d}.example.org" for i in range(0, 120, 7) for d in (1, 7)]
    names += [f"web{i}.example.org" for i in range(0, 120, 4)]
    names += [f"db{i}.example.org" for i in range(0, 45, 4)]
    names += ["2001:db8::5", "[2001:db8::6]:2222", "[2001:db8::5]:22", "nowhere"]
    seen: set[tuple[int, bool]] = set()
    for name in names:
        ours = [(k.line, k.revoked) for k in read_known_keys(str(path), name)]
        assert ours == _openssh_lines(path, name), name
        seen.update(ours)
    # the names do reach plain, revoked and hashed lines (hashed ones come after line 122)
    assert len(seen) > 40
    assert any(revoked for _, revoked in seen)
    assert len([line for line, _ in seen if line > 122]) > 10


def test_index_is_parsed_once_and_follows_changes(tmp_path: Path) -> None:
    one, two = _key_text(tmp_path, "one"), _key_text(tmp_path, "two")
    path = tmp_path / "known_hosts"
    path.write_text(f"2001:db8::1 {one}\n")
    index = known_hosts_index(str(path))
    assert [k.key.get_base64() for k in index.lookup("2001:db8::1")] == [one.split()[1]]
    assert known_hosts_index(str(path)) is index  # unchanged: the same parsed index

    path.write_text(f"2001:db8::1 {two}\n")  # same size, same inode, at once
    fresh = known_hosts_index(str(path))
    assert fresh is not index
    assert [k.key.get_base64() for k in fresh.lookup("2001:db8::1")] == [two.split()[1]]

    old = time.time() - 3600  # an old file is trusted by its stat alone
    os.utime(path, (old, old))
    settled = known_hosts_index(str(path))
    assert known_hosts_index(str(path)) is settled
    path.unlink()
    assert list(read_known_keys(str(path), "2001:db8::1")) == []


def test_accept_new_updates_the_index_in_place(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        "# team\n" + "".join(f"h{i} {_key_text(tmp_path, f'k{i}')}\n" for i in range(3))
    )
    old = time.time() - 3600
    os.utime(path, (old, old))
    index = known_hosts_index(str(path))
    key = paramiko.ECDSAKey.generate()
    append_known_host(str(path), "[2001:db8::9]:2200", key)
    assert known_hosts_index(str(path)) is index  # taken in, not parsed again
    found = list(read_known_keys(str(path), "[2001:db8::9]:2200"))
    assert [(k.line, k.key.asbytes()) for k in found] == [(5, key.asbytes())]
    assert path.read_text().splitlines()[4] == f"[2001:db8::9]:2200 {key.get_name()} " + (
        key.get_base64()
    )
    assert _openssh_lines(path, "[2001:db8::9]:2200") == [(5, False)]


def test_index_sees_a_key_another_process_added(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("# team\n")
    assert list(read_known_keys(str(path), "[2001:db8::1]:2222")) == []
    key = paramiko.ECDSAKey.generate()
    code = (
        "import base64, sys, paramiko\n"
        "from rorunner.transport._ssh_hostkeys import append_known_host\n"
        "key = paramiko.PKey.from_type_string(sys.argv[2], base64.b64decode(sys.argv[3]))\n"
        "append_known_host(sys.argv[1], '[2001:db8::1]:2222', key)\n"
    )
    argv = [sys.executable, "-c", code, str(path), key.get_name(), key.get_base64()]
    subprocess.run(argv, cwd=REPO, timeout=60, check=True)
    found = list(read_known_keys(str(path), "[2001:db8::1]:2222"))
    assert [(k.line, k.key.asbytes()) for k in found] == [(2, key.asbytes())]


def test_keys_paramiko_cannot_read_are_skipped_not_raised(tmp_path: Path) -> None:
    good = _key_text(tmp_path, "good")
    negative = paramiko.Message()  # an RSA key with a negative exponent and modulus
    negative.add_string("ssh-rsa")
    negative.add_mpint(-65537)
    negative.add_mpint(-(1 << 1023) - 12345)
    unknown = paramiko.Message()  # a well-formed key of a type paramiko does not know
    unknown.add_string("sk-ssh-ed25519@openssh.com")
    unknown.add_string(bytes(32))
    unknown.add_string("ssh:")
    path = tmp_path / "known_hosts"
    path.write_text(
        f"2001:db8::1 ssh-rsa {base64.b64encode(negative.asbytes()).decode()}\n"
        f"2001:db8::1 sk-ssh-ed25519@openssh.com {base64.b64encode(unknown.asbytes()).decode()}\n"
        f"2001:db8::1 {good}\n"
    )
    found = list(read_known_keys(str(path), "2001:db8::1"))
    assert [(k.line, k.key.get_base64()) for k in found] == [(3, good.split()[1])]
