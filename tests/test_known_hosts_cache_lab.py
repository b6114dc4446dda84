"""known_hosts through the CLI, against the lab: a big file's hosts are found by their keys
(nothing to record), a host the file does not name is recorded by the scan that found no
line and answered from that record next time, a line added to the file (a @revoked key) is
honoured at once, and a host known by another key type than the one first negotiated is
connected to again."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import paramiko

from tests.lab import Lab, start_lab
from tests.play_project import REPO, remote_dir_for

BOOK = """\
- name: hello
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: hello
      remote:
        - echo hello
"""


def _big_known_hosts(lab: Lab, path: Path, filler: int = 3000) -> Path:
    """The lab's lines (every other one hashed) spread among filler lines, half hashed."""
    key = paramiko.ECDSAKey.generate()
    lines = [
        f"{paramiko.HostKeys.hash_host(f'2001:db8::{i:x}') if i % 2 else f'n{i}.example.org'} "
        f"{key.get_name()} {key.get_base64()}"
        for i in range(filler)
    ]
    for i, line in enumerate(lab.known_hosts.read_text().splitlines()):
        names, rest = line.split(" ", 1)
        own = f"{paramiko.HostKeys.hash_host(names)} {rest}" if i % 2 else line
        lines.insert((i + 1) * filler // (len(lab.hosts) + 1), own)
    path.write_text("\n".join(lines) + "\n")
    return path


def _play(
    tmp_path: Path, lab: Lab, run: str, known_hosts: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    project = tmp_path / run
    project.mkdir()
    (project / "site.yml").write_text(
        BOOK.format(remote_dir=remote_dir_for(f"{tmp_path.name}-{run}"))
    )
    argv = [sys.executable, "-m", "rorunner", "play", str(project / "site.yml")]
    argv += ["-i", str(lab.inventory_ini), "--known-hosts", str(known_hosts)]
    argv += ["--private-key", str(lab.client_key), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=project, timeout=240)


def _log(home: Path, known_hosts: Path) -> Path:
    digest = hashlib.sha256(known_hosts.read_bytes()).hexdigest()
    return home / ".cache" / "rorunner" / "known_hosts" / digest


def _lines_of(lab: Lab, name: str) -> list[str]:
    host = lab.host(name)
    names = (host.address, f"[{host.address}]:{host.port}")
    return [line for line in lab.known_hosts.read_text().splitlines() if line.split()[0] in names]


def test_a_big_known_hosts_finds_hosts_by_their_keys_and_records_what_it_scanned(
    tmp_path: Path, lab: Lab, _hermetic_environment: Path
) -> None:
    home = _hermetic_environment
    known_hosts = _big_known_hosts(lab, tmp_path / "known_hosts")
    first = _play(tmp_path, lab, "first", known_hosts)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("changed     [h") == len(lab.hosts)
    assert not _log(home, known_hosts).exists()  # each host found by its key: no scan

    (h2_line,) = _lines_of(lab, "h2")
    h2_key = h2_line.split()[-1]  # its line in the big file is hashed
    kept = [line for line in known_hosts.read_text().splitlines() if h2_key not in line]
    known_hosts.write_text("".join(f"{line}\n" for line in kept))
    unknown = _play(tmp_path, lab, "unknown", known_hosts)
    assert unknown.returncode != 0
    assert "unreachable [h2]" in unknown.stdout and "unknown host key" in unknown.stdout
    assert unknown.stdout.count("changed     [h") == len(lab.hosts) - 1
    log = _log(home, known_hosts)
    recorded = log.read_bytes()
    assert len(recorded.splitlines()) == 2  # a header, h2's record (no line names it)
    again = _play(tmp_path, lab, "again", known_hosts)
    assert "unreachable [h2]" in again.stdout and "unknown host key" in again.stdout
    assert log.read_bytes() == recorded  # h2 answered from its record

    (h1_line,) = _lines_of(lab, "h1")
    with known_hosts.open("a") as handle:
        handle.write(f"@revoked {h1_line}\n")
    revoked = _play(tmp_path, lab, "revoked", known_hosts)
    assert revoked.returncode != 0
    assert "unreachable [h1]" in revoked.stdout and "is marked @revoked" in revoked.stdout
    assert revoked.stdout.count("changed     [h") == len(lab.hosts) - 2

    _log(home, known_hosts).parent.chmod(0o755)  # others could now read which hosts we use
    refused = _play(tmp_path, lab, "refused", known_hosts, "-vv")
    assert "known_hosts cache" in refused.stdout and "not used" in refused.stdout
    assert refused.stdout.count("changed     [h") == len(lab.hosts) - 2


def _second_host_key(lab: Lab) -> str:
    """Give h1's sshd an ECDSA host key beside its ed25519 one; its public key text."""
    host = lab.host("h1")
    key = host.config.parent / "ssh_host_ecdsa_key"
    argv = ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(key)]
    subprocess.run(argv, capture_output=True, timeout=60, check=True)
    config = host.config.read_text().splitlines()
    at = next(i for i, line in enumerate(config) if line.startswith("HostKey ")) + 1
    host.config.write_text("\n".join([*config[:at], f"HostKey {key}", *config[at:]]) + "\n")
    host.stop_sshd()
    host.start_sshd()
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


def test_a_host_known_by_another_key_type_is_connected_to_again(
    tmp_path: Path, lab: Lab, _hermetic_environment: Path
) -> None:
    own = start_lab(1, mode=lab.mode, name=f"{lab.name}kt")
    try:
        ecdsa = _second_host_key(own)
        name = _lines_of(own, "h1")[0].split()[0]
        known_hosts = tmp_path / "known_hosts"  # h1 known (hashed) by its ECDSA key only
        known_hosts.write_text(f"{paramiko.HostKeys.hash_host(name)} {ecdsa}\n")
        before = own.host("h1").accepted()
        done = _play(tmp_path, own, "again", known_hosts, "-vv")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "connecting again: the host is known by other key types" in done.stdout
        assert own.host("h1").accepted() == before + 1  # one login: the 1st try stopped first

        other = paramiko.ECDSAKey.generate()  # a key h1 does not have, of the same type
        known_hosts.write_text(
            f"{paramiko.HostKeys.hash_host(name)} {other.get_name()} {other.get_base64()}\n"
        )
        changed = _play(tmp_path, own, "changed", known_hosts, "-vv")
        assert changed.returncode != 0
        assert "connecting again" in changed.stdout and "has CHANGED" in changed.stdout
        assert own.host("h1").accepted() == before + 1
    finally:
        own.stop()
