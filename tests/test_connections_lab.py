"""The connections of a run, through the CLI against the lab: exactly one per host, kept
across plays while the host has remote steps left, closed right after its last one."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tests.lab import FleetLab, Lab
from tests.play_project import play_cli, remote_dir_for, rorunner_cli

pytestmark = pytest.mark.lab

# Each play's local_after lists the controller's established TCP connections (ss, iproute2):
# after the first play every host has a remote step left, after the second none.
BOOK = """\
- name: first
  hosts: all
  remote_dir: "{remote_dir}"
  local_after:
    - ss -Htn state established > ss-first.txt
  rtas:
    - name: one
      ship:
        - one.txt
      remote:
        - cat one.txt > copy.txt
- name: second
  hosts: all
  remote_dir: "{remote_dir}"
  local_after:
    - ss -Htn state established > ss-second.txt
  rtas:
    - name: two
      remote:
        - cat copy.txt
"""


def _peers(text: str) -> set[tuple[str, int]]:
    """(address, port) of each connection's peer in `ss -Htn` output."""
    out = set()
    for line in text.splitlines():
        address, _, port = line.split()[3].rpartition(":")
        out.add((str(ipaddress.ip_address(address.strip("[]").split("%")[0])), int(port)))
    return out


def test_a_host_keeps_one_connection_until_its_last_remote_step(tmp_path: Path, lab: Lab) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(BOOK.format(remote_dir=remote_dir_for(tmp_path.name)))
    (project / "one.txt").write_text("one\n")
    hosts = {h.name: (str(ipaddress.ip_address(h.address)), h.port) for h in lab.hosts}
    before = {h.name: h.accepted() for h in lab.hosts}
    result = play_cli(project, lab, "-f", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    first = _peers((project / "ss-first.txt").read_text())
    second = _peers((project / "ss-second.txt").read_text())
    # Open after the first play (each host has a step in the second), closed after the second.
    assert {name for name, peer in hosts.items() if peer in first} == set(hosts), first
    assert {name for name, peer in hosts.items() if peer in second} == set(), second
    assert {h.name: h.accepted() - before[h.name] for h in lab.hosts} == dict.fromkeys(hosts, 1)


# Each host's local_pre (on the controller, just before the host's first remote step) lists
# the established TCP connections at that moment.
WINDOW_BOOK = """\
- name: window
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: w
      local_pre:
        - ss -Htn state established > "ss-$RORUNNER_HOST.txt"
      ship:
        - one.txt
      remote:
        - cat one.txt
"""


def test_connections_open_at_most_forks_hosts_ahead(tmp_path: Path, lab: Lab) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(WINDOW_BOOK.format(remote_dir=remote_dir_for(tmp_path.name)))
    (project / "one.txt").write_text("one\n")
    peers = {(str(ipaddress.ip_address(h.address)), h.port) for h in lab.hosts}
    result = play_cli(project, lab, "-f", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    # -f 1: the host whose steps run (or have just ended) and at most one connected ahead;
    # connecting every host at once would show them all by the second host's turn.
    open_at = {
        h.name: len(_peers((project / f"ss-{h.name}.txt").read_text()) & peers) for h in lab.hosts
    }
    assert max(open_at.values()) <= 2, open_at


# b2 is a host of the first play and, for deep1, the bastion of the second: its one connection
# must outlive its own last step. `-J b1` gives host b2 the very route (and so the pooled
# connection) of the bastion b2 that deep1's ProxyJump b1,b2 names.
BASTION_BOOK = """\
- name: bastion
  hosts: b2
  rtas: [{name: u, remote: ["true"]}]
- name: behind
  hosts: deep
  rtas: [{name: u, remote: ["uname -n"]}]
"""


def test_a_host_that_is_also_a_bastion_stays_connected(tmp_path: Path, fleet_lab: FleetLab) -> None:
    (tmp_path / "site.yml").write_text(BASTION_BOOK)
    inventory = tmp_path / "hosts.ini"
    deep = "\n".join(f"{h.name} ansible_host={h.address}" for h in fleet_lab.deep)
    inventory.write_text(
        f"[bastion]\nb2 ansible_ssh_common_args='-J b1'\n[deep]\n{deep}\n"
        f"[deep:vars]\nansible_user={fleet_lab.user}\n"
    )
    before = {h.name: h.accepted() for h in fleet_lab.hosts}
    argv = ["play", "site.yml", "-i", str(inventory), "-f", "1"]
    argv += ["--ssh-config", str(fleet_lab.ssh_config), "--known-hosts", str(fleet_lab.known_hosts)]
    result = rorunner_cli(argv, cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    logins = {h.name: h.accepted() - before[h.name] for h in fleet_lab.hosts}
    assert logins["b2"] == 1, logins
    assert all(logins[h.name] == 1 for h in fleet_lab.deep), logins
