"""The known_hosts lookup cache through the CLI, against the lab: the first run records each
host's lines, the next answers from them (the log does not grow), and a line added to the
file (a @revoked key) is honoured at once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import paramiko

from tests.lab import Lab
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


def test_a_big_known_hosts_is_looked_up_once_then_from_the_cache(
    tmp_path: Path, lab: Lab, _hermetic_environment: Path
) -> None:
    home = _hermetic_environment
    known_hosts = _big_known_hosts(lab, tmp_path / "known_hosts")
    first = _play(tmp_path, lab, "first", known_hosts)
    assert first.returncode == 0, first.stdout + first.stderr
    log = _log(home, known_hosts)
    recorded = log.read_bytes()
    assert len(recorded.splitlines()) == 1 + len(lab.hosts)  # a header, a record per host

    warm = _play(tmp_path, lab, "warm", known_hosts)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    assert warm.stdout.count("changed     [h") == len(lab.hosts)
    assert log.read_bytes() == recorded  # every host answered from its record

    h1 = lab.host("h1")
    line = next(
        line
        for line in lab.known_hosts.read_text().splitlines()
        if line.split()[0] in (h1.address, f"[{h1.address}]:{h1.port}")
    )
    with known_hosts.open("a") as handle:
        handle.write(f"@revoked {line}\n")
    revoked = _play(tmp_path, lab, "revoked", known_hosts)
    assert revoked.returncode != 0
    assert "unreachable [h1]" in revoked.stdout and "is marked @revoked" in revoked.stdout
    assert revoked.stdout.count("changed     [h") == len(lab.hosts) - 1
    assert len(_log(home, known_hosts).read_bytes().splitlines()) == 1 + len(lab.hosts)

    _log(home, known_hosts).parent.chmod(0o755)  # others could now read which hosts we use
    refused = _play(tmp_path, lab, "refused", known_hosts, "-vv")
    assert "known_hosts cache" in refused.stdout and "not used" in refused.stdout
    assert refused.stdout.count("changed     [h") == len(lab.hosts) - 1
