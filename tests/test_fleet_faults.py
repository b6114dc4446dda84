"""Issue 8, dead peers behind bastions, through `rorunner play` on the fleet lab: a link taken
down (`ip link set eth0 down` in the host's netns) during a long remote step makes the hosts
behind it unreachable within the keepalive bound while the others finish; exit 4.

The controller's own link to b1 stays up: only keepalives that travel through the bastions'
channels can see the death. Keepalives are 1 s x 3 (a bound of 3 s) by an ssh_config.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import FleetLab, LabHost
from tests.play_book import block_of
from tests.test_faults_lab import Running

ALIVE_INTERVAL, ALIVE_COUNT = 1, 3
BOUND = ALIVE_INTERVAL * ALIVE_COUNT  # the documented dead-peer bound for these settings
SLACK = 12.0  # scheduling under load; the defect would be a hang until the step's 60 s

LONG_STEP = """\
- name: faults
  hosts: all
  rtas:
    - name: wait
      remote:
        - run: >-
            if [ "$RORUNNER_HOST" = {dead} ]; then touch /tmp/rr-{tag}-started; sleep 30; fi;
            echo x > /tmp/rr-{tag}-done
          timeout: 60
"""


def _tag(tmp_path: Path) -> str:
    return re.sub(r"[^a-z0-9]", "", tmp_path.name.lower())[-12:]


def _wait_until_started(host: LabHost, marker: str, running: Running) -> None:
    deadline = time.monotonic() + 90
    while host.sh(f"test -e {marker}").returncode != 0:
        if running.proc.poll() is not None or time.monotonic() > deadline:
            running.wait(30)
            pytest.fail(f"the long step never started on {host.name}:\n{running.output()}")
        time.sleep(0.05)


def _status(output: str, host: str) -> set[str]:
    return {
        line.split()[0]
        for line in output.splitlines()
        if re.match(r"^(ok|changed|failed|unreachable|skipped)\s", line) and f"[{host}]" in line
    }


@pytest.fixture
def link(fleet_lab: FleetLab) -> Iterator[list[LabHost]]:
    """Hosts whose link a test takes down: up again afterwards, and reached again by the
    bastion in front of them (a later test must not meet a neighbour entry still FAILED)."""
    taken: list[LabHost] = []
    yield taken
    for host in taken:
        host.set_link(True)
        front = fleet_lab.host("b2" if host in fleet_lab.deep else "b1")
        probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{host.address}/22'"
        deadline = time.monotonic() + 30
        while front.sh(probe).returncode != 0:
            assert time.monotonic() < deadline, f"{front.name} cannot reach {host.name} again"
            time.sleep(0.2)


# A dead bastion is found by its own keepalives: deep1's own are made too slow (10 s x 3) to
# be what notices, so the bound and the message are b2's.
CASES = {
    "host-behind-b1": ("inner1", "inner1", "", "no reply to SSH keepalives for 3s"),
    "host-behind-b1-b2": ("deep1", "deep1", "", "no reply to SSH keepalives for 3s"),
    "bastion-b2": (
        "b2",
        "deep1",
        "Host deep1 {deep1}\n  ServerAliveInterval 10\n",
        "through bastion b2: no reply to SSH keepalives for 3s",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_link_down_behind_a_bastion_mid_step_is_unreachable_within_the_bound(
    tmp_path: Path, fleet_lab: FleetLab, link: list[LabHost], case: str
) -> None:
    down, dead, slow, because = CASES[case]
    tag = _tag(tmp_path)
    (tmp_path / "site.yml").write_text(LONG_STEP.format(dead=dead, tag=tag))
    (tmp_path / "hosts.ini").write_text(fleet_lab.inventory_ini.read_text())
    config = tmp_path / "ssh_config"
    alive = f"Host *\n  ServerAliveInterval {ALIVE_INTERVAL}\n  ServerAliveCountMax {ALIVE_COUNT}\n"
    slow = slow.format(deep1=fleet_lab.host("deep1").address)
    config.write_text(fleet_lab.ssh_config.read_text() + "\n" + slow + alive)
    argv = [sys.executable, "-m", "rorunner", "play", "site.yml", "-i", "hosts.ini"]
    argv += ["--known-hosts", str(fleet_lab.known_hosts), "--ssh-config", str(config)]
    running = Running(argv, tmp_path)
    _wait_until_started(fleet_lab.host(dead), f"/tmp/rr-{tag}-started", running)
    link.append(fleet_lab.host(down))
    fleet_lab.host(down).set_link(False)
    down_at = time.monotonic()
    assert running.wait() == 4, running.output()
    found = running.first(rf"^unreachable\s+\[{dead}\]")
    assert found is not None, running.output()
    reason = block_of([line for _, line in running.lines], found[1])[1:]  # indented under it
    assert len(reason) == 1, running.output()
    assert reason[0].startswith(f"    SSH connection lost during a command: {because}"), reason
    took = found[0] - down_at
    assert took < BOUND + SLACK, f"unreachable only {took:.1f}s after the link died"
    for host in [*fleet_lab.inner, *fleet_lab.deep]:
        if host.name == dead:
            continue
        assert _status(running.output(), host.name) == {"changed"}, running.output()
        assert host.sh(f"cat /tmp/rr-{tag}-done", check=True).stdout == "x\n"
