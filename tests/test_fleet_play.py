"""Issue 8 through the CLI against the fleet lab: become through bastions, -K, ProxyJump and
ProxyCommand, one connection per bastion, a bastion's changed host key, vault secrets, and
bad fleet input refused before any connection."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rorunner.model import Become, ConnectionSpec
from rorunner.tasks import gen_task_remote_exec
from rorunner.transport import Pool
from tests.lab import FleetLab, LabHost
from tests.play_book import block_of

REPO = Path(__file__).resolve().parents[1]

BECOME_SITE = """\
- name: fleet
  hosts: inner:deep
  become: true
  rtas:
    - name: files
      ship: [conf.txt]
      remote:
        - cp conf.txt /tmp/rr-{tag}-root && stat -c '%U %a' . conf.txt
        - run: cp conf.txt /tmp/rr-{tag}-app && stat -c '%U %a' . conf.txt
          become_user: appuser
        - run: id -un > /tmp/rr-{tag}-login
          become: false
"""


def _rorunner(
    project: Path,
    fleet: FleetLab,
    *argv: str,
    stdin: str | None = None,
    config: Path | None = None,
    known: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`rorunner ARGV` in the project dir, with the fleet's known_hosts and ssh_config (or
    the ones given)."""
    command, *rest = argv
    full = [sys.executable, "-m", "rorunner", command, *rest]
    full += ["--known-hosts", str(known or fleet.known_hosts)]
    full += ["--ssh-config", str(config or fleet.ssh_config)]
    return subprocess.run(
        full,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=project,
        timeout=180,
        check=False,
    )


def _project(tmp_path: Path, fleet: FleetLab, site: str, inventory: str | None = None) -> Path:
    (tmp_path / "site.yml").write_text(site)
    (tmp_path / "conf.txt").write_text("conf v1\n")
    (tmp_path / "hosts.ini").write_text(inventory or fleet.inventory_ini.read_text())
    return tmp_path


def _counts(fleet: FleetLab) -> dict[str, int]:
    return {host.name: host.accepted() for host in fleet.hosts}


def _sh(host: LabHost, command: str) -> str:
    return host.sh(command, check=True).stdout.strip()


def _tag(tmp_path: Path) -> str:
    return re.sub(r"[^a-z0-9]", "", tmp_path.name.lower())[-12:]


def _ops_inventory(fleet: FleetLab, *hosts: str, extra: str = "") -> str:
    """The fleet inventory with `hosts` logging in as the user whose sudo asks a password."""
    text = fleet.inventory_ini.read_text()
    for host in hosts:
        text = re.sub(
            rf"^{host} .*$",
            lambda m: f"{m.group(0)} ansible_user={fleet.users.passwd}{extra}",
            text,
            flags=re.M,
        )
    return text


def test_become_root_and_appuser_behind_bastions_one_connection_each(
    tmp_path: Path, fleet_lab: FleetLab
) -> None:
    tag = _tag(tmp_path)
    project = _project(tmp_path, fleet_lab, BECOME_SITE.format(tag=tag))
    before = _counts(fleet_lab)
    done = _rorunner(project, fleet_lab, "play", "site.yml", "-i", "hosts.ini")
    assert done.returncode == 0, done.stdout + done.stderr
    after = _counts(fleet_lab)
    # one TCP connection (one login) per bastion for the whole run, one per host behind them
    assert after["b1"] - before["b1"] == 1 and after["b2"] - before["b2"] == 1
    hosts = [*fleet_lab.inner, *fleet_lab.deep]
    assert all(after[h.name] - before[h.name] == 1 for h in hosts)
    for host in hosts:
        owners = _sh(host, f"stat -c '%U %a' /tmp/rr-{tag}-root /tmp/rr-{tag}-app")
        assert owners.splitlines() == ["root 644", "appuser 644"]
        assert _sh(host, f"cat /tmp/rr-{tag}-login") == fleet_lab.users.nopasswd
        # each user's own private work dir holds its copy of the shipped file
        dirs = _sh(
            host,
            "stat -c '%U %a' /root/.rorunner/work/01-fleet /home/appuser/.rorunner/work/01-fleet"
            " /home/deploy/.rorunner/work/01-fleet",
        )
        assert dirs.splitlines() == ["root 700", "appuser 700", "deploy 700"]
    logs = "".join(p.read_text() for p in (project / ".rorunner" / "logs").rglob("*.stdout"))
    assert "root 700\nroot 644" in logs and "appuser 700\nappuser 644" in logs
    again = _rorunner(project, fleet_lab, "play", "site.yml", "-i", "hosts.ini")
    assert again.returncode == 0 and not re.search("^changed", again.stdout, re.M), again.stdout
    assert _counts(fleet_lab)["b1"] == after["b1"]  # all up to date: nothing connected


def test_ask_become_pass_right_wrong_and_missing(tmp_path: Path, fleet_lab: FleetLab) -> None:
    tag = _tag(tmp_path)
    site = (
        "- hosts: inner2\n  become: true\n  rtas:\n    - name: u\n      remote:\n"
        f"        - id -un > /tmp/rr-{tag}-ops\n"
    )
    project = _project(tmp_path, fleet_lab, site, _ops_inventory(fleet_lab, "inner2"))
    password = fleet_lab.users.password
    right = _rorunner(
        project, fleet_lab, "play", "site.yml", "-i", "hosts.ini", "-K", stdin=password + "\n"
    )
    assert right.returncode == 0, right.stdout + right.stderr
    inner2 = fleet_lab.host("inner2")
    assert _sh(inner2, f"stat -c %U /tmp/rr-{tag}-ops; cat /tmp/rr-{tag}-ops") == "root\nroot"
    started = time.monotonic()
    wrong = _rorunner(
        project,
        fleet_lab,
        "play",
        "site.yml",
        "-i",
        "hosts.ini",
        "--force",
        "-K",
        stdin="not-" + password + "\n",
    )
    assert time.monotonic() - started < 60  # sudo's own delay after a wrong password, no hang
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "sudo did not accept the become password to become root" in wrong.stdout
    missing = _rorunner(project, fleet_lab, "play", "site.yml", "-i", "hosts.ini", "--force")
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "sudo needs a password to become root here: give -K" in missing.stdout
    state = "".join(
        p.read_text(errors="replace") for p in (project / ".rorunner").rglob("*") if p.is_file()
    )
    for done in (right, wrong, missing):
        assert password not in done.stdout + done.stderr
    assert password not in state


def test_adhoc_run_become_with_a_password_variable(tmp_path: Path, fleet_lab: FleetLab) -> None:
    extra = f" ansible_become_password={fleet_lab.users.password}"
    project = _project(
        tmp_path, fleet_lab, "[]\n", _ops_inventory(fleet_lab, "inner1", extra=extra)
    )
    done = _rorunner(
        project,
        fleet_lab,
        "run",
        "inner",
        "-i",
        "hosts.ini",
        "-b",
        "--become-user",
        "appuser",
        "-a",
        "id -un; pwd",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("appuser\n/home/appuser") == 2, done.stdout
    assert fleet_lab.users.password not in done.stdout + done.stderr
    records = list((project / ".rorunner" / "runs").glob("*.json"))
    assert records and all(fleet_lab.users.password not in p.read_text() for p in records)


def _proxy_processes(fleet: FleetLab) -> list[str]:
    """ProxyCommand processes of this fleet still running (their command lines name it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "-W" in line and str(fleet.dir) in line:
            found.append(line)
    return found


def test_proxycommand_one_and_two_hops_and_the_processes_stop(
    tmp_path: Path, fleet_lab: FleetLab
) -> None:
    tag = _tag(tmp_path)
    site = f"- hosts: all\n  rtas:\n    - name: u\n      remote: ['uname -n > /tmp/rr-{tag}']\n"
    project = _project(tmp_path, fleet_lab, site)
    before = _counts(fleet_lab)
    config = fleet_lab.ssh_config_proxycommand
    done = _rorunner(project, fleet_lab, "play", "site.yml", "-i", "hosts.ini", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    for host in [*fleet_lab.inner, *fleet_lab.deep]:
        assert _sh(host, f"cat /tmp/rr-{tag}") == host.name
    after = _counts(fleet_lab)
    # each ProxyCommand is its own ssh through b1 (deep1's goes on through b2)
    assert after["b1"] - before["b1"] == len(fleet_lab.inner) + len(fleet_lab.deep)
    assert _proxy_processes(fleet_lab) == []


def test_jump_options_in_ansible_ssh_common_args(tmp_path: Path, fleet_lab: FleetLab) -> None:
    """An ssh_config without any ProxyJump: the inventory's -J / -o ProxyJump decide, with a
    bastion written as an IPv6 literal in brackets with a user and port."""
    tag = _tag(tmp_path)
    config = tmp_path / "ssh_config"
    config.write_text(
        "\n".join(
            line
            for line in fleet_lab.ssh_config.read_text().splitlines()
            if "ProxyJump" not in line
        )
    )
    b1 = fleet_lab.host("b1")
    inventory = fleet_lab.inventory_ini.read_text() + (
        "[inner:vars]\n"
        f"ansible_ssh_common_args='-C -o ControlMaster=auto -J root@[{b1.address}]:22'\n"
        "[deep:vars]\nansible_ssh_extra_args='-o ProxyJump=b1,b2'\n"
    )
    site = f"- hosts: all\n  rtas:\n    - name: u\n      remote: ['uname -n > /tmp/rr-{tag}']\n"
    project = _project(tmp_path, fleet_lab, site, inventory)
    before = _counts(fleet_lab)
    done = _rorunner(project, fleet_lab, "play", "site.yml", "-i", "hosts.ini", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    for host in [*fleet_lab.inner, *fleet_lab.deep]:
        assert _sh(host, f"cat /tmp/rr-{tag}") == host.name
    after = _counts(fleet_lab)
    # b1 by address and b1 by name are two spellings: one connection each, never one per host
    assert after["b1"] - before["b1"] == 2 and after["b2"] - before["b2"] == 1


def test_a_changed_bastion_key_refuses_every_host_behind_it(
    tmp_path: Path, fleet_lab: FleetLab
) -> None:
    b1, first_inner = fleet_lab.host("b1"), fleet_lab.inner[0]
    known = tmp_path / "known_hosts"
    lines = fleet_lab.known_hosts.read_text().splitlines()
    inner_key = next(line for line in lines if line.startswith(first_inner.address + " "))
    known.write_text(
        "\n".join(
            f"{b1.address} {' '.join(inner_key.split()[1:])}"
            if line.startswith(b1.address + " ")
            else line
            for line in lines
        )
        + "\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(
        fleet_lab.ssh_config.read_text().replace(str(fleet_lab.known_hosts), str(known))
    )
    project = _project(tmp_path, fleet_lab, "- hosts: all\n  rtas: [{name: u, remote: ['true']}]\n")
    saved = known.read_bytes(), fleet_lab.known_hosts.read_bytes()
    before = _counts(fleet_lab)
    argv = ["play", "site.yml", "-i", "hosts.ini", "--host-key-checking", "accept-new"]
    done = _rorunner(project, fleet_lab, *argv, config=config, known=known)
    assert done.returncode == 4, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for host in [*fleet_lab.inner, *fleet_lab.deep]:
        line = next(x for x in lines if f"[{host.name}]" in x)
        assert line.startswith("unreachable"), done.stdout
        reason = block_of(lines, line)[1]  # indented under the step's line
        assert reason.startswith("    ") and "through bastion b1: host key for" in reason
        assert "has CHANGED" in reason
    assert (known.read_bytes(), fleet_lab.known_hosts.read_bytes()) == saved
    assert _counts(fleet_lab) == before  # no login anywhere


VAULT_SITE = """\
- name: vault
  hosts: inner1:deep1
  vars:
{inline}
    dsn: "pg://app:{{{{ db_password }}}}@db"
  rtas:
    - name: u
      ship: [app.conf.j2]
      remote:
        - printf '%s\\n' "$db_password" "$api_token" "$dsn" > /tmp/rr-{tag}-env
        - cp app.conf /tmp/rr-{tag}-conf
"""


def _ansible_vault(where: Path, *args: str) -> str:
    tool = Path(sys.executable).with_name("ansible-vault")
    return subprocess.run(
        [str(tool), *args], cwd=where, capture_output=True, text=True, timeout=120, check=True
    ).stdout


def test_vault_secrets_reach_the_steps_and_nothing_else(
    tmp_path: Path, fleet_lab: FleetLab
) -> None:
    tag = _tag(tmp_path)
    gv_secret, inline_secret = f"gv-{tag}-Sec", f"in-{tag}-Sec"
    (tmp_path / "vault.pass").write_text("correct horse battery\n")
    group_vars = tmp_path / "group_vars"
    group_vars.mkdir()
    (group_vars / "all.yml").write_text(f"db_password: {gv_secret}\n")
    _ansible_vault(tmp_path, "encrypt", "--vault-password-file", "vault.pass", "group_vars/all.yml")
    inline = _ansible_vault(
        tmp_path,
        "encrypt_string",
        "--vault-password-file",
        "vault.pass",
        inline_secret,
        "--name",
        "api_token",
    )
    site = VAULT_SITE.format(
        inline="\n".join(f"    {line}" for line in inline.splitlines()), tag=tag
    )
    project = _project(tmp_path, fleet_lab, site)
    (project / "app.conf.j2").write_text("password={{ db_password }}\ntoken={{ api_token }}\n")
    vault = ["--vault-password-file", "vault.pass"]
    outputs = []
    for extra in (["--graph", "json"], ["--graph", "text"], ["--dry-run"], [], [], ["--json"]):
        done = _rorunner(project, fleet_lab, "play", "site.yml", "-i", "hosts.ini", *vault, *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout + done.stderr)
    assert re.search("^changed", outputs[3], re.M) and "up to date" in outputs[4]  # persisted
    for host in (fleet_lab.host("inner1"), fleet_lab.deep[0]):
        env = _sh(host, f"cat /tmp/rr-{tag}-env").splitlines()
        assert env == [gv_secret, inline_secret, f"pg://app:{gv_secret}@db"]
        conf = _sh(host, f"cat /tmp/rr-{tag}-conf")
        assert conf == f"password={gv_secret}\ntoken={inline_secret}"
    state = [p for p in (project / ".rorunner").rglob("*") if p.is_file()]
    assert any(p.name == "signing-key" and p.stat().st_mode & 0o777 == 0o600 for p in state)
    texts = [p.read_bytes() for p in state] + [o.encode() for o in outputs]
    for secret in (gv_secret, inline_secret, "correct horse battery"):
        assert not [t for t in texts if secret.encode() in t], secret
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("incorrect\n")
    before = _counts(fleet_lab)
    bad = _rorunner(
        project,
        fleet_lab,
        "play",
        "site.yml",
        "-i",
        str(project / "hosts.ini"),
        "--vault-password-file",
        str(wrong),
        "--force",
    )
    assert bad.returncode == 3, bad.stderr
    assert bad.stderr.startswith(f"rorunner: error: {project}/group_vars/all.yml:1: cannot decrypt")
    assert _counts(fleet_lab) == before


FLEET_BAD: dict[str, tuple[dict[str, str], str, str]] = {
    # name: (files, place, words); LINE: the first line after the lab's own text
    "unknown become_method": (
        {"site.yml": "- hosts: all\n  become_method: su\n  rtas: [{name: u, remote: [x]}]\n"},
        "site.yml:2",
        "'become_method' 'su' is not supported",
    ),
    "vault file without a password": (
        {"group_vars/all.yml": "VAULT"},
        "group_vars/all.yml:1",
        "vault-encrypted data (vault id 'default') but no vault password given",
    ),
    "ssh_config option that cannot be honoured": (
        {"ssh_config": "Host *\n  ProxyUseFdpass yes\n"},
        "ssh_config:LINE",
        "ssh_config option ProxyUseFdpass yes for host 'inner1' is not supported",
    ),
    "a jump option with another option": (
        {"hosts.ini": "[inner:vars]\nansible_ssh_common_args='-J b1 -o HostName=evil'\n"},
        "hosts.ini:LINE",
        "-o HostName=evil is not supported",
    ),
}


def _bad_file(fleet: FleetLab, project: Path, rel: str, text: str) -> int:
    """Write one file of a bad case; return the line its own text starts at."""
    path = project / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    base = {"ssh_config": fleet.ssh_config, "hosts.ini": fleet.inventory_ini}.get(rel)
    before = base.read_text() if base else ""
    path.write_text(before + ("" if text == "VAULT" else text))
    if text == "VAULT":
        (project / "pass").write_text("pw\n")
        _ansible_vault(project, "encrypt", "--vault-password-file", "pass", rel)
    return before.count("\n") + 1 + (1 if base and not before.endswith("\n") else 0)


@pytest.mark.parametrize("name", sorted(FLEET_BAD))
def test_bad_fleet_input_is_exit_3_before_any_connection(
    tmp_path: Path, fleet_lab: FleetLab, name: str
) -> None:
    files, place, words = FLEET_BAD[name]
    project = _project(tmp_path, fleet_lab, "- hosts: all\n  rtas: [{name: u, remote: ['true']}]\n")
    for rel, text in files.items():
        line = _bad_file(fleet_lab, project, rel, text)
        place = place.replace("LINE", str(line + 1))
    before = _counts(fleet_lab)
    config = project / "ssh_config" if "ssh_config" in files else None
    inventory = str(project / "hosts.ini")
    done = _rorunner(project, fleet_lab, "play", "site.yml", "-i", inventory, config=config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith(f"rorunner: error: {project / place}: "), done.stderr
    assert words in done.stderr, done.stderr
    assert _counts(fleet_lab) == before
    assert not (project / ".rorunner").exists()


def _read_until(fd: int, wanted: bytes, limit: float) -> bytes:
    """Read a pty until `wanted` shows up (or it closes, or `limit` seconds pass)."""
    got = b""
    deadline = time.monotonic() + limit
    while wanted not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            got += chunk
    return got


def test_ask_become_pass_prompts_once_without_echo_on_a_terminal(
    tmp_path: Path, fleet_lab: FleetLab
) -> None:
    tag = _tag(tmp_path)
    site = (
        "- hosts: inner\n  become: true\n  rtas:\n    - name: u\n      remote:\n"
        f"        - id -un > /tmp/rr-{tag}-tty\n"
    )
    project = _project(tmp_path, fleet_lab, site, _ops_inventory(fleet_lab, "inner1", "inner2"))
    argv = [sys.executable, "-m", "rorunner", "play", "site.yml", "-i", "hosts.ini", "-K"]
    argv += ["--known-hosts", str(fleet_lab.known_hosts), "--ssh-config", str(fleet_lab.ssh_config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own whose controlling terminal is the pty
        os.chdir(project)
        os.execve(sys.executable, argv, env)
    try:
        prompt = _read_until(fd, b"BECOME password: ", 60)
        assert prompt.endswith(b"BECOME password: "), prompt
        os.write(fd, fleet_lab.users.password.encode() + b"\n")
        rest = _read_until(fd, b"run record:", 120)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, rest
    assert (prompt + rest).count(b"password") == 1  # asked once, for both hosts
    assert fleet_lab.users.password.encode() not in prompt + rest  # not echoed
    for host in fleet_lab.inner:
        assert _sh(host, f"cat /tmp/rr-{tag}-tty") == "root"


def test_seed_api_task_with_become_through_a_bastion(tmp_path: Path, fleet_lab: FleetLab) -> None:
    """A ConnectionSpec with `become` given to a task generator: sudo and the bastion too."""
    tag = _tag(tmp_path)
    inner = fleet_lab.inner[0]
    spec = ConnectionSpec(
        address=inner.address,
        user=fleet_lab.users.nopasswd,
        known_hosts=(str(fleet_lab.known_hosts),),
        ssh_config=str(fleet_lab.ssh_config),
        become=Become(user=fleet_lab.users.app),
    )
    task = gen_task_remote_exec(f"id -un > /tmp/rr-{tag}-seed", spec, remote_dir="seed")
    pool = Pool()
    try:
        assert [action(pool) for action in task["actions"]] == [None]
        assert pool.opened == 2  # b1, then inner1 through it
    finally:
        pool.close_all()
    assert (
        _sh(inner, f"stat -c %U /tmp/rr-{tag}-seed; cat /tmp/rr-{tag}-seed") == "appuser\nappuser"
    )
    assert _sh(inner, "stat -c '%U %a' /home/appuser/seed") == "appuser 700"
