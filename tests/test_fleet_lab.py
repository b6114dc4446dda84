"""The fleet lab itself: hosts reachable only through bastions, non-root users with sudo."""

from __future__ import annotations

import errno
import json
import os
import pwd
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.lab import FleetLab, LabError, read_banner, start_fleet_lab


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


def _counts(fleet: FleetLab) -> dict[str, int]:
    return {h.name: h.accepted() for h in fleet.hosts}


def _out(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_controller_has_no_route_to_the_inner_networks(fleet_lab: FleetLab) -> None:
    behind = [fleet_lab.host("b2"), *fleet_lab.inner, *fleet_lab.deep]
    for host in behind:
        started = time.monotonic()
        with pytest.raises(OSError) as err:
            socket.create_connection((host.address, 22), timeout=10).close()
        assert err.value.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH), err.value
        assert time.monotonic() - started < 5.0  # refused by the routing table, not a timeout
        assert _run("ip", "-6", "route", "get", host.address).returncode != 0
    for prefix in (fleet_lab.mid_prefix, fleet_lab.deep_prefix):  # no interface on those links
        assert _run("ip", "-6", "-o", "addr", "show", "to", f"{prefix}/64").stdout == ""
        route = _run("ip", "-6", "route", "show", "exact", f"{prefix}/64").stdout
        assert route.startswith("unreachable ")
    assert read_banner(fleet_lab.host("b1").address, 22) is not None  # b1 answers directly


def test_bastions_do_not_forward_and_deep_hosts_are_two_hops_away(fleet_lab: FleetLab) -> None:
    b1, b2 = fleet_lab.bastions
    for bastion in (b1, b2):
        forwarding = bastion.sh("cat /proc/sys/net/ipv6/conf/all/forwarding", check=True)
        assert forwarding.stdout.strip() == "0"
    deep = fleet_lab.deep[0]
    assert b1.sh(f"ip -6 route get {deep.address}").returncode != 0  # b1 cannot reach deep1
    assert b2.sh(f"ip -6 route get {deep.address}").returncode == 0
    assert b1.sh(f"ip -6 route get {fleet_lab.inner[0].address}").returncode == 0


def test_openssh_proxyjump_one_hop_is_one_login_on_b1(fleet_lab: FleetLab) -> None:
    before = _counts(fleet_lab)
    for host in fleet_lab.inner:
        assert _out(fleet_lab.ssh(host.name, "id -un; uname -n")) == ["deploy", host.name]
    after = _counts(fleet_lab)
    assert after["b1"] == before["b1"] + len(fleet_lab.inner)
    assert after["b2"] == before["b2"]
    assert all(after[h.name] == before[h.name] + 1 for h in fleet_lab.inner)


def test_openssh_proxyjump_two_hops_logs_in_on_both_bastions(fleet_lab: FleetLab) -> None:
    deep = fleet_lab.deep[0]
    before = _counts(fleet_lab)
    assert _out(fleet_lab.ssh(deep.name, "uname -n")) == [deep.name]
    after = _counts(fleet_lab)
    assert [after[n] - before[n] for n in ("b1", "b2", deep.name)] == [1, 1, 1]


def test_openssh_proxycommand_one_and_two_hops(fleet_lab: FleetLab) -> None:
    inner, deep = fleet_lab.inner[-1], fleet_lab.deep[0]
    assert "ProxyJump" not in fleet_lab.ssh_config_proxycommand.read_text()
    before = _counts(fleet_lab)
    assert _out(fleet_lab.ssh(inner.name, "uname -n", proxycommand=True)) == [inner.name]
    assert _out(fleet_lab.ssh(deep.name, "uname -n", proxycommand=True)) == [deep.name]
    after = _counts(fleet_lab)
    assert [after[n] - before[n] for n in ("b1", "b2", inner.name, deep.name)] == [2, 1, 1, 1]


def test_a_second_ssh_run_is_a_second_accepted_line_on_the_bastion(fleet_lab: FleetLab) -> None:
    b1 = fleet_lab.host("b1")
    before = b1.accepted()
    for _ in range(2):
        assert _out(fleet_lab.ssh("inner1", "true")) == []
    assert b1.accepted() == before + 2


def test_sudo_without_a_password_for_deploy(fleet_lab: FleetLab) -> None:
    app = fleet_lab.users.app
    script = (
        "sudo -n id -un"
        " && sudo -n sh -c 'echo r > /tmp/rr-root && stat -c %U:%a /tmp/rr-root'"
        f" && sudo -n -u {app} sh -c 'echo a > /tmp/rr-app && stat -c %U /tmp/rr-app'"
        " && sudo -n rm /tmp/rr-root /tmp/rr-app"
    )
    done = fleet_lab.ssh("inner1", script)
    assert _out(done) == ["root", "root:644", app]
    assert done.stderr == ""  # sudo finds its host name without DNS, no lecture


def test_sudo_asks_ops_for_the_password_and_accepts_only_the_right_one(
    fleet_lab: FleetLab,
) -> None:
    ops = f"{fleet_lab.users.passwd}@inner2"
    no_password = fleet_lab.ssh(ops, "sudo -n true")
    assert no_password.returncode == 1
    assert "a password is required" in no_password.stderr
    # the right password works once; `timestamp_timeout=0` keeps no credential for later
    right = fleet_lab.ssh(ops, "sudo -S -p '' id -un; sudo -n true", stdin=fleet_lab.users.password)
    assert right.returncode == 1
    assert right.stdout.split() == ["root"]
    assert "a password is required" in right.stderr
    wrong = fleet_lab.ssh(ops, "sudo -S -p '' id -un", stdin=fleet_lab.users.password + "x\n")
    assert wrong.returncode == 1
    assert "incorrect password" in wrong.stderr and wrong.stdout == ""


def test_accounts_exist_only_inside_the_fleet_hosts(fleet_lab: FleetLab) -> None:
    users = fleet_lab.users
    inner = fleet_lab.inner[0]
    for name in users.names:
        entry = inner.sh(f"getent passwd {name}", check=True).stdout.split(":")
        assert entry[2] == str(users.uids[name]) and entry[5] == f"/home/{name}"
        with pytest.raises(KeyError):
            pwd.getpwuid(users.uids[name])  # ids unused on the controller
    for path in ("/etc/passwd", "/etc/group", "/etc/shadow"):
        assert "rorunner lab" not in Path(path).read_text()
        assert inner.sh(f"grep -c '^{users.passwd}:' {path}", check=True).stdout.strip() == "1"
    for name in users.logins:  # every sudoers line naming a lab user is the lab's own
        assert name not in Path("/etc/sudoers").read_text().split()
    assert users.password not in (fleet_lab.dir / "etc" / "shadow").read_text()
    checked = _run("/usr/sbin/visudo", "-c", "-f", str(fleet_lab.dir / "etc" / "sudoers"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_inner_sshd_restarts_behind_the_bastion(fleet_lab: FleetLab) -> None:
    host = fleet_lab.inner[-1]
    old = host.pid
    host.stop_sshd()
    try:
        assert fleet_lab.ssh(host.name, "true").returncode == 255
    finally:
        host.start_sshd()
    assert host.pid != old
    assert _out(fleet_lab.ssh(host.name, "uname -n")) == [host.name]


def _ansible(fleet: FleetLab, tmp: Path, pattern: str, *extra: str) -> subprocess.Popen[str]:
    tool = Path(sys.executable).with_name("ansible")
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(tmp),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "tmp"),
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",  # no ssh master left running after us
        "ANSIBLE_SSH_COMMON_ARGS": f"-F {fleet.ssh_config}",
    }
    argv = [str(tool), pattern, "-i", str(fleet.inventory_ini), "-m", "raw", "-b", *extra]
    argv += ["-a", 'echo "=$(id -un)@$(uname -n)="']
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_ansible_reaches_every_inner_host_with_become(fleet_lab: FleetLab, tmp_path: Path) -> None:
    """The lab's inventory and ssh_config mean the same to Ansible (the oracle of issue 8)."""
    password = json.dumps({"ansible_become_password": fleet_lab.users.password})
    procs = [
        _ansible(fleet_lab, tmp_path, "all"),
        _ansible(
            fleet_lab,
            tmp_path,
            "inner2",
            "-e",
            f"ansible_user={fleet_lab.users.passwd}",
            "-e",
            password,
        ),
    ]
    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(lambda p: p.communicate(timeout=120), procs))
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
    every, ops = outputs[0][0], outputs[1][0]
    for host in [*fleet_lab.inner, *fleet_lab.deep]:
        assert f"{host.name} | CHANGED | rc=0 >>" in every and f"=root@{host.name}=" in every
    assert "inner2 | CHANGED | rc=0 >>" in ops and "=root@inner2=" in ops


def test_the_inventories_agree_under_ansible(fleet_lab: FleetLab, tmp_path: Path) -> None:
    tool = Path(sys.executable).with_name("ansible-inventory")
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    listed = []
    for path in (fleet_lab.inventory_ini, fleet_lab.inventory_yaml):
        done = subprocess.run(
            [str(tool), "-i", str(path), "--list"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        listed.append(json.loads(done.stdout))
    ini, yaml = listed
    assert ini == yaml
    assert ini["inner"]["hosts"] == [h.name for h in fleet_lab.inner]
    assert ini["deep"]["hosts"] == [h.name for h in fleet_lab.deep]
    for host in [*fleet_lab.inner, *fleet_lab.deep]:
        assert ini["_meta"]["hostvars"][host.name]["ansible_host"] == host.address
        assert ini["_meta"]["hostvars"][host.name]["ansible_user"] == fleet_lab.users.nopasswd


def test_known_hosts_has_every_host_and_the_fleet_files_exist(fleet_lab: FleetLab) -> None:
    lines = fleet_lab.known_hosts.read_text().splitlines()
    assert [line.split()[0] for line in lines] == [h.address for h in fleet_lab.hosts]
    for host in fleet_lab.hosts:
        key = (host.config.parent / "ssh_host_ed25519_key.pub").read_text().split()[1]
        assert f"{host.address} ssh-ed25519 {key}" in lines
    assert len({line.split()[2] for line in lines}) == len(fleet_lab.hosts)  # own key each


def test_loopback_mode_cannot_build_the_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RORUNNER_LAB_MODE", "loopback")
    with pytest.raises(LabError, match="fleet lab needs network namespaces"):
        start_fleet_lab("flnever")
    assert not (Path(__file__).resolve().parent.parent / ".lab" / "flnever").exists()


def _leftovers(fleet: FleetLab) -> list[str]:
    namespaces = _run("ip", "netns", "list").stdout.split()
    routes = [
        _run("ip", "-6", "route", "show", "exact", f"{p}/64").stdout
        for p in (fleet.mid_prefix, fleet.deep_prefix)
    ]
    left = [ns for ns in namespaces if ns.startswith(f"rr{fleet.name}-")]
    left += [r for r in routes if r]
    if fleet.bridge and Path(f"/sys/class/net/{fleet.bridge}").exists():
        left.append(fleet.bridge)
    return left


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()  # the lab reaps what it started: no zombie


def test_a_crashed_fleet_is_cleaned_up_and_stop_leaves_nothing(fleet_lab: FleetLab) -> None:
    name = f"{fleet_lab.name}x"
    crashed = start_fleet_lab(name, inner=1)
    old = [h.pid for h in crashed.hosts]
    again = start_fleet_lab(name, inner=1)  # as if the first run had died: routes re-added
    try:
        assert all(_gone(pid) for pid in old)
        assert _out(again.ssh("deep1", "uname -n")) == ["deep1"]
        assert _out(fleet_lab.ssh("inner1", "uname -n")) == ["inner1"]  # the session fleet too
    finally:
        new = [h.pid for h in again.hosts]
        again.stop(remove=True)
    assert all(_gone(pid) for pid in new)
    assert _leftovers(again) == []
    assert not again.dir.exists()
