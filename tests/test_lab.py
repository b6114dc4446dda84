"""The lab itself: real sshd hosts with their own address, hostname, HOME and /tmp."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from rorunner.model import ConnectionSpec
from tests.lab import Lab, LabHost, read_banner, start_lab


def _ssh(lab: Lab, host: LabHost, command: str) -> subprocess.CompletedProcess[str]:
    """Log in with the OpenSSH client, the lab key and known_hosts (strict)."""
    argv = [
        "ssh",
        "-F",
        "none",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={lab.known_hosts}",
        "-o",
        "ConnectTimeout=5",
        "-i",
        str(lab.client_key),
        "-p",
        str(host.port),
        f"{lab.user}@{host.address}",
        command,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in "ZX"


def test_hosts_have_distinct_endpoints_and_answer_with_a_banner(lab: Lab) -> None:
    assert len(lab.hosts) == 4
    endpoints = {(h.address, h.port) for h in lab.hosts}
    assert len(endpoints) == 4
    if lab.mode == "netns":
        assert lab.prefix is not None
        net = ipaddress.IPv6Network(f"{lab.prefix}/64")
        assert len({h.address for h in lab.hosts}) == 4
        assert all(ipaddress.IPv6Address(h.address) in net for h in lab.hosts)
        assert all(h.port == 22 and h.netns for h in lab.hosts)
    else:
        assert all(h.address == "::1" for h in lab.hosts)
    for host in lab.hosts:
        banner = read_banner(host.address, host.port)
        assert banner is not None and banner.startswith("SSH-2.0-OpenSSH")


def test_each_host_has_its_own_hostname(lab: Lab) -> None:
    names = [h.sh("uname -n", check=True).stdout.strip() for h in lab.hosts]
    assert names == [h.hostname for h in lab.hosts]
    if lab.mode == "netns":
        assert names == [h.name for h in lab.hosts]
    else:
        assert set(names) == {socket.gethostname()}


def test_tmp_is_private_per_host_in_netns_mode(lab: Lab) -> None:
    marker = f"/tmp/rr-lab-{uuid.uuid4().hex}"
    first, second = lab.hosts[0], lab.hosts[1]
    first.sh(f"echo {first.name} > {marker}", check=True)
    try:
        seen_by_second = second.sh(f"cat {marker}").returncode == 0
        seen_here = Path(marker).exists()
        assert first.sh(f"cat {marker}").stdout.strip() == first.name
        if lab.mode == "netns":
            assert not seen_by_second and not seen_here
        else:  # loopback hosts are the machine itself
            assert seen_by_second and seen_here
    finally:
        first.sh(f"rm -f {marker}")


def test_home_is_the_controller_directory(lab: Lab) -> None:
    host = lab.hosts[0]
    token = uuid.uuid4().hex
    target = "/root" if lab.mode == "netns" else str(host.home)
    host.sh(f"echo {token} > {target}/probe", check=True)
    try:
        assert (host.home / "probe").read_text().strip() == token
        if lab.mode == "netns":
            assert host.sh("echo $HOME").stdout.strip() == "/root"
    finally:
        (host.home / "probe").unlink()


def test_real_ssh_login_is_counted_as_accepted(lab: Lab) -> None:
    host = lab.hosts[1]
    before = host.accepted()
    done = _ssh(lab, host, "uname -n; echo $HOME")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == host.hostname
    if lab.mode == "netns":
        assert done.stdout.split()[1] == "/root"
    assert host.accepted() == before + 1


def test_stop_and_start_sshd_keeps_the_host(lab: Lab) -> None:
    host = lab.hosts[-1]
    old_pid = host.pid
    host.sh("echo kept > /tmp/rr-lab-restart", check=True)
    host.stop_sshd()
    try:
        assert _gone(old_pid)
        assert read_banner(host.address, host.port) is None
        assert _ssh(lab, host, "true").returncode == 255
        assert host.sh("uname -n").stdout.strip() == host.hostname  # namespaces stay
    finally:
        host.start_sshd()
    assert host.pid != old_pid
    assert read_banner(host.address, host.port) is not None
    assert _ssh(lab, host, "cat /tmp/rr-lab-restart").stdout.strip() == "kept"
    host.sh("rm -f /tmp/rr-lab-restart", check=True)


def test_link_down_and_up_keeps_the_address(lab: Lab) -> None:
    if lab.mode != "netns":
        assert lab.hosts[0].netns is None  # loopback hosts have no link of their own
        return
    host = lab.hosts[2]
    host.sh("ip link set eth0 down && ip link set eth0 up", check=True)
    assert host.address in host.sh("ip -6 addr show dev eth0", check=True).stdout
    assert read_banner(host.address, host.port, timeout=5.0) is not None


def test_inventories_agree_under_ansible(lab: Lab, tmp_path: Path) -> None:
    tool = Path(sys.executable).with_name("ansible-inventory")
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [str(tool), "-i", str(path), "--list"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for path in (lab.inventory_ini, lab.inventory_yaml)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))
    ini, yaml = outputs
    assert ini["_meta"]["hostvars"] == yaml["_meta"]["hostvars"]
    assert ini["web"]["hosts"] == ["h1", "h2"] and ini["db"]["hosts"] == ["h3", "h4"]
    assert yaml["web"] == ini["web"] and yaml["db"] == ini["db"]
    for host in lab.hosts:
        hv = ini["_meta"]["hostvars"][host.name]
        assert hv["ansible_host"] == host.address
        assert hv["ansible_user"] == lab.user
        assert hv["ansible_ssh_private_key_file"] == str(lab.client_key)
        assert hv.get("ansible_port", 22) == host.port


def test_env_points_at_the_lab_files(lab: Lab) -> None:
    env = lab.env()
    assert env["RORUNNER_KNOWN_HOSTS"] == str(lab.known_hosts)
    assert env["RORUNNER_PRIVATE_KEY"] == str(lab.client_key)
    assert env["RORUNNER_USER"] == lab.user
    lines = lab.known_hosts.read_text().splitlines()
    assert len(lines) == len(lab.hosts)
    for host, line in zip(lab.hosts, lines, strict=True):
        where = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
        assert line.split()[:2] == [where, "ssh-ed25519"]


def test_loopback_fallback_accepts_a_real_ssh_login(lab: Lab) -> None:
    fallback = start_lab(2, mode="loopback", name=f"{lab.name}lo")  # unique per session
    try:
        assert fallback.mode == "loopback"
        assert len({h.port for h in fallback.hosts}) == 2
        for host in fallback.hosts:
            done = _ssh(fallback, host, "echo ok")
            assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
            assert host.accepted() == 1
        remote_dir = f"remote_dir={fallback.hosts[0].home / 'work'}"
        assert remote_dir in fallback.inventory_ini.read_text()
        pids = [h.pid for h in fallback.hosts]
    finally:
        fallback.stop(remove=True)
    assert all(_gone(pid) for pid in pids)


def test_restart_after_a_crash_cleans_up_and_coexists(lab: Lab) -> None:
    name = f"{lab.name}cr"
    crashed = start_lab(2, mode=lab.mode, name=name)
    old_pids = [h.pid for h in crashed.hosts]
    again = start_lab(2, mode=lab.mode, name=name)  # as if the first run had died
    new_pids = [h.pid for h in again.hosts]
    try:
        assert all(_gone(pid) for pid in old_pids)
        assert all(read_banner(h.address, h.port) for h in again.hosts)
        assert all(read_banner(h.address, h.port) for h in lab.hosts)  # "test" unaffected
        if lab.mode == "netns":
            assert again.prefix != lab.prefix and again.bridge != lab.bridge
    finally:
        again.stop(remove=True)
    assert all(_gone(pid) for pid in new_pids)
    if lab.mode == "netns":
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
        assert f"rr{name}-" not in listed.stdout
        assert not Path(f"/sys/class/net/{again.bridge}").exists()


def test_lab_spec_reaches_a_host(lab: Lab, lab_spec: Callable[..., ConnectionSpec]) -> None:
    host = lab.hosts[0]
    spec = lab_spec(host)
    assert (spec.address, spec.port, spec.user, spec.label) == (
        host.address,
        host.port,
        lab.user,
        host.name,
    )
    assert spec.key_file == str(lab.client_key)
    assert spec.known_hosts == (str(lab.known_hosts),)
    assert lab_spec(host, connect_timeout=2.0).connect_timeout == 2.0


def _lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-m", "tests.lab", *args]
    return subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=60, check=False)


def test_command_line_up_and_down(lab: Lab) -> None:
    name = f"{lab.name}cli"
    up = _lab_cli("up", "--hosts", "2", "--mode", lab.mode, "--name", name)
    pids_file = lab.dir.parent / name / "pids"
    try:
        assert up.returncode == 0, up.stderr
        assert "h2" in up.stdout
        pids = [int(line.split()[0]) for line in pids_file.read_text().splitlines()]
        assert pids and not any(_gone(pid) for pid in pids)
    finally:
        down = _lab_cli("down", "--name", name, "--remove")
    assert down.returncode == 0, down.stderr
    assert all(_gone(pid) for pid in pids)
    assert not pids_file.parent.exists()


def test_a_fleet_of_25_hosts(lab: Lab) -> None:
    fleet = start_lab(25, mode=lab.mode, name=f"{lab.name}25")
    try:
        assert len({(h.address, h.port) for h in fleet.hosts}) == 25
        assert all(read_banner(h.address, h.port) for h in fleet.hosts)
        assert fleet.hosts[-1].sh("uname -n", check=True).stdout.strip() == fleet.hosts[-1].hostname
        ini = fleet.inventory_ini.read_text()
        web = ini.split("[db]")[0]
        assert "h13 " in web and "h14 " not in web
    finally:
        fleet.stop(remove=True)
