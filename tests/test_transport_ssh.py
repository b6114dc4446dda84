"""The SSH transport against the real sshd lab: exec, files, host keys, pooling."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import io
import os
import select
import signal
import socket
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_MKDIR,
    CMD_OPEN,
    CMD_READ,
    CMD_STAT,
    CMD_WRITE,
)

from rorunner.errors import HostKeyError, RemoteFailure, UnreachableError
from rorunner.model import ConnectionSpec
from rorunner.transport import Pool, Transport
from rorunner.transport import _ssh_sftp as sftp_ops
from rorunner.transport._ssh import SshConnection, SshTransport
from rorunner.transport._ssh_become import SFTP_SERVERS
from tests.lab import Lab, LabHost

SpecFor = Callable[..., ConnectionSpec]
SCRATCH_ROOT = ".rr-transport-tests"


class CountingSink(io.RawIOBase):
    """A binary sink that keeps only a byte count and a running hash."""

    def __init__(self) -> None:
        self.count = 0
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.count += len(data)
        self.digest.update(data)
        return len(data)


@pytest.fixture
def host(lab: Lab) -> LabHost:
    return lab.hosts[0]


@pytest.fixture
def transport(pool: Pool, host: LabHost, lab_spec: SpecFor) -> Transport:
    return pool.get(lab_spec(host))


@pytest.fixture
def scratch(lab: Lab) -> Iterator[str]:
    """A fresh directory name relative to the login home, removed on every lab host afterwards.

    (In the loopback lab the login home is the real user's home, so nothing may stay there.)
    """
    relative = f"{SCRATCH_ROOT}/{uuid.uuid4().hex[:12]}"
    yield relative
    for each in lab.hosts:  # ~user is the passwd home, the one sshd logs into
        each.sh(
            f"rm -rf ~{lab.user}/{relative}; rmdir ~{lab.user}/{SCRATCH_ROOT} 2>/dev/null; true"
        )


def _wait_until(predicate: Callable[[], bool], limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _remote_text(host: LabHost, command: str) -> str:
    return host.sh(command, timeout=60).stdout


# --- exec ----------------------------------------------------------------------------------


def test_exec_exit_codes(transport: Transport) -> None:
    assert transport.exec("true") == 0
    assert transport.exec("exit 3") == 3
    assert transport.exec("false") == 1
    assert transport.exec("exit 255") == 255


def test_exec_env_cwd_and_streams(scratch: str, transport: Transport) -> None:
    workdir = transport.ensure_dir(f"{scratch}/exec/with space", private=False)
    out, err = io.BytesIO(), io.BytesIO()
    value = "a b'c\"$(id)`id`;|&*\n"
    status = transport.exec(
        'printf "%s|%s|%s" "$VALUE" "$OTHER" "$(pwd)"; echo warn >&2; exit 4',
        env={"VALUE": value, "OTHER": ""},
        cwd=workdir,
        stdout=out,
        stderr=err,
    )
    assert status == 4
    assert out.getvalue().decode() == f"{value}||{workdir}"
    assert err.getvalue() == b"warn\n"
    # A relative cwd is under the login home, as every relative remote path.
    out = io.BytesIO()
    relative = f"{scratch}/exec/with space"
    assert transport.exec("pwd", cwd=relative, stdout=out) == 0
    assert out.getvalue().decode().strip() == workdir


def test_exec_env_values_are_not_in_any_argv(transport: Transport) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    out = io.BytesIO()
    # Lists every process's argv on the host while the command runs.
    listing = 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f"; echo; done; echo "$TOKEN"'
    assert transport.exec(listing, env={"TOKEN": secret}, stdout=out, timeout=60) == 0
    lines = out.getvalue().decode(errors="replace").splitlines()
    assert lines[-1] == secret  # the command saw it in its environment
    assert not any(secret in line for line in lines[:-1])


def test_exec_missing_cwd_is_a_failed_command(transport: Transport) -> None:
    err = io.BytesIO()
    assert transport.exec("true", cwd="/nonexistent/dir", stderr=err) != 0
    assert b"nonexistent" in err.getvalue()


def test_exec_100mb_stdout_10mb_stderr_without_deadlock(transport: Transport) -> None:
    out, err = CountingSink(), CountingSink()
    command = "head -c 100000000 /dev/zero & head -c 10000000 /dev/zero >&2; wait"
    status = transport.exec(command, stdout=out, stderr=err, timeout=600)  # type: ignore[arg-type]
    assert status == 0
    assert (out.count, err.count) == (100_000_000, 10_000_000)
    assert out.digest.hexdigest() == hashlib.sha256(bytes(100_000_000)).hexdigest()


def test_exec_without_sinks_discards_output(transport: Transport) -> None:
    assert transport.exec("head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2") == 0


def test_exec_timeout_kills_the_remote_process_group(transport: Transport, host: LabHost) -> None:
    marker = f"rorunner-timeout-{uuid.uuid4().hex}"
    # A child that ignores TERM (so KILL is needed), a background child, and the command itself.
    stubborn = f"sh -c 'trap \"\" TERM; sleep 300; exit 0 # {marker}' &"
    command = f"{stubborn} sh -c 'sleep 300 # {marker}' & sleep 300 # {marker}"
    with pytest.raises(RemoteFailure, match="timed out after 1s") as err:
        transport.exec(command, timeout=1)
    assert str(err.value).startswith(f"{host.name}: ")
    assert "killed" in str(err.value)
    # "[r]" keeps pgrep from matching the shell that runs it.
    pattern = f"[r]{marker[1:]}"
    assert _wait_until(lambda: _remote_text(host, f"pgrep -f '{pattern}' || true") == "")
    assert transport.exec("true") == 0  # the connection is still usable


SIGNAL_DEATHS = [
    ("kill -KILL $$", 128 + signal.SIGKILL),  # the command's own shell
    ("kill -TERM $$", 128 + signal.SIGTERM),
    ("exec sh -c 'kill -KILL $$'", 128 + signal.SIGKILL),  # a program exec'd in its place
    ("sleep 30 & kill -KILL $!; wait $!", 128 + signal.SIGKILL),  # a child of the shell
    ("exit 3", 3),
]


@pytest.mark.parametrize(("command", "status"), SIGNAL_DEATHS, ids=[c for c, _ in SIGNAL_DEATHS])
def test_a_signal_death_is_status_128_plus_n_over_ssh_as_locally(
    transport: Transport, pool: Pool, command: str, status: int
) -> None:
    local = pool.get(ConnectionSpec(address="localhost", connection="local", label="me"))
    assert transport.exec(command) == status
    assert local.exec(command) == status
    assert transport.exec("true") == 0  # the connection is still usable


def test_exec_timeout_applies_to_a_command_that_never_stops_talking(
    transport: Transport, host: LabHost
) -> None:
    marker = f"rorunner-chatty-{uuid.uuid4().hex}"
    out = CountingSink()
    with pytest.raises(RemoteFailure, match="timed out after 1s"):
        # `head` bounds the test even if the timeout were ignored (about 3 GB of output).
        command = f"yes {marker} | head -c 3000000000"
        transport.exec(command, timeout=1, stdout=out)  # type: ignore[arg-type]
    assert out.count > 0
    pattern = f"[r]{marker[1:]}"
    assert _wait_until(lambda: _remote_text(host, f"pgrep -f '{pattern}' || true") == "")


def test_exec_makes_no_os_pipe_for_a_channel(
    transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Channel.fileno() makes an OS pipe that paramiko's reader thread writes to; closed at
    a timeout while output still pours in, that write failed with EBADF and took the whole
    connection down ("SSH connection lost: [Errno 9] Bad file descriptor", seen in loopback)."""
    import paramiko

    def no_pipe(channel: paramiko.Channel) -> int:
        raise AssertionError("Channel.fileno() called")

    monkeypatch.setattr(paramiko.Channel, "fileno", no_pipe)
    with pytest.raises(RemoteFailure, match=r"timed out after 0\.5s"):
        transport.exec("yes | head -c 2000000000", timeout=0.5, stdout=CountingSink())  # type: ignore[arg-type]
    out, err = io.BytesIO(), io.BytesIO()
    assert transport.exec("echo out; echo err >&2", stdout=out, stderr=err, timeout=60) == 0
    assert (out.getvalue(), err.getvalue()) == (b"out\n", b"err\n")


def test_exec_streams_that_end_at_different_times(transport: Transport) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    command = "echo early; exec 1>&-; sleep 1; echo late >&2; exec 2>&-; sleep 1; exit 6"
    assert transport.exec(command, stdout=out, stderr=err, timeout=60) == 6
    assert (out.getvalue(), err.getvalue()) == (b"early\n", b"late\n")


def test_exec_stdin_is_empty(transport: Transport) -> None:
    out = io.BytesIO()
    assert transport.exec("cat; echo done", stdout=out, timeout=60) == 0
    assert out.getvalue() == b"done\n"


def test_commands_one_after_another_share_one_kept_shell_and_channel(
    transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/transport.md, kept shell: one channel for many commands, each isolated in a
    subshell; a command that kills the shell gets 128+N and the next starts a new one."""
    opened: list[str] = []
    original = SshConnection.open_channel

    def counting(self: SshConnection, name: str) -> paramiko.Channel:
        opened.append(name)
        return original(self, name)

    monkeypatch.setattr(SshConnection, "open_channel", counting)
    first, second, third = io.BytesIO(), io.BytesIO(), io.BytesIO()
    assert (
        transport.exec("cd /; export X=1; trap 'echo bye' EXIT; echo $$; exit 3", stdout=first) == 3
    )
    assert transport.exec('echo $$ "$(pwd)" "${X-unset}"', stdout=second) == 0
    pid, where, x = second.getvalue().split()
    assert first.getvalue() == pid + b"\nbye\n"  # the same shell ran both
    assert (where != b"/", x) == (True, b"unset")  # the first one's cd and export ended with it
    assert len(opened) <= 1  # none, or the kept shell's if this connection had none yet
    assert transport.exec("kill -KILL $$") == 128 + signal.SIGKILL
    assert transport.exec("echo $$", stdout=third) == 0
    assert third.getvalue().strip() not in (b"", pid)  # a new kept shell
    assert len(opened) <= 2


def test_a_background_writer_does_not_hold_its_command_up(
    scratch: str, transport: Transport
) -> None:
    """A command ends with its end marks; what a process it left running writes later goes
    with the host's next command (docs/transport.md)."""
    work = transport.ensure_dir(f"{scratch}/background")
    first, second = io.BytesIO(), io.BytesIO()
    wait_for = "n=0; while [ ! -e {0} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done"
    command = "(" + wait_for.format("go") + "; echo late; touch done) & echo now"
    assert transport.exec(command, cwd=work, stdout=first, timeout=60) == 0
    assert first.getvalue() == b"now\n"  # it did not wait for `go`
    then = "touch go; " + wait_for.format("done") + "; echo next"
    assert transport.exec(then, cwd=work, stdout=second, timeout=120) == 0
    assert second.getvalue() == b"late\nnext\n"


def test_a_kept_shell_that_dies_while_a_background_process_holds_its_output_ends_the_command(
    transport: Transport,
) -> None:
    """The shell's exit status ends the command (128+N) although an earlier command's
    background process keeps the channel's streams open (no mark and no EOF will come)."""
    assert transport.exec("sleep 20 &") == 0
    assert transport.exec("kill -TERM $$", timeout=60) == 128 + signal.SIGTERM
    assert transport.exec("true") == 0


def test_a_long_script_on_a_kept_shell_that_ran_a_command_before(transport: Transport) -> None:
    """A script far beyond the channel's window is sent whole after an earlier command's
    reads left the channel with a short timeout."""
    out = io.BytesIO()
    assert transport.exec("true") == 0
    big = "x" * 3_000_000
    assert transport.exec('printf %s "${#BIG}"', env={"BIG": big}, stdout=out, timeout=120) == 0
    assert out.getvalue() == b"3000000"


def test_an_idle_kept_shell_that_died_is_replaced(transport: Transport, host: LabHost) -> None:
    out = io.BytesIO()
    assert transport.exec("echo $$", stdout=out) == 0
    pid = int(out.getvalue())
    assert isinstance(transport, SshTransport)
    _remote_text(host, f"kill -KILL {pid}")
    connection = transport.connection
    assert _wait_until(lambda: connection._shell is None or not connection._shell.usable())
    again = io.BytesIO()
    assert transport.exec("echo $$", stdout=again) == 0  # ran, on a new kept shell
    assert int(again.getvalue()) != pid


def test_a_timeout_also_kills_what_earlier_kept_commands_left_in_the_group(
    transport: Transport, host: LabHost
) -> None:
    """docs/transport.md: a host's consecutive commands share the kept shell's process
    group, so a timeout kills a background process an earlier command left in it."""
    marker = f"rorunner-left-{uuid.uuid4().hex}"
    assert transport.exec(f"sh -c 'sleep 300 # {marker}' >/dev/null 2>&1 &") == 0
    pattern = f"[r]{marker[1:]}"
    assert _remote_text(host, f"pgrep -f '{pattern}' || true") != ""
    with pytest.raises(RemoteFailure, match="timed out after 1s"):
        transport.exec("sleep 30", timeout=1)
    assert _wait_until(lambda: _remote_text(host, f"pgrep -f '{pattern}' || true") == "")
    assert transport.exec("true") == 0


def test_at_most_eight_commands_share_a_connection_at_once(
    scratch: str, pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    """sshd's MaxSessions defaults to 10: 16 concurrent commands run, never more than 8 at once."""
    transport = pool.get(lab_spec(host))
    slots = transport.ensure_dir(f"{scratch}/slots")
    # Each command registers itself, waits until it sees a second peer or a bounded while,
    # records how many peers were registered, then leaves.
    command = (
        f"touch {slots}/$$; i=0; while [ $(ls {slots} | wc -l) -lt 2 ] && [ $i -lt 20 ]; "
        f"do sleep 0.1; i=$((i+1)); done; sleep 0.3; ls {slots} | wc -l; rm {slots}/$$"
    )
    peaks: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        out = io.BytesIO()
        try:
            assert transport.exec(command, stdout=out, timeout=120) == 0
            peaks.append(int(out.getvalue()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert errors == []
    assert len(peaks) == 16
    assert max(peaks) <= 8
    assert pool.opened == 1


def test_connection_lost_mid_command_is_unreachable_and_the_pool_reconnects(
    pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    transport = pool.get(lab_spec(host))
    # The command kills the sshd process that serves this very connection: the parent of
    # the command's shell (the login shell, which became `sh -s`).
    with pytest.raises(UnreachableError, match="connection lost"):
        transport.exec("kill -KILL $PPID; sleep 5", timeout=60)
    assert pool.get(lab_spec(host)).exec("true") == 0
    assert pool.opened == 2


# --- files -------------------------------------------------------------------------------


def _make_tree(root: Path) -> dict[str, tuple[int, bytes]]:
    files = {
        "run.sh": (0o750, b"#!/bin/sh\necho run\n"),
        "conf/app.conf": (0o640, b"key = value\n"),
        "conf/secret": (0o600, b"s3cret\n"),
        "empty": (0o644, b""),
        "deep/a/b/c.bin": (0o444, os.urandom(300_000)),
    }
    for rel, (mode, data) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    (root / "conf").chmod(0o750)
    return files


def test_put_tree_keeps_modes_and_contents(
    scratch: str, transport: Transport, host: LabHost, tmp_path: Path
) -> None:
    files = _make_tree(tmp_path / "tree")
    remote = transport.ensure_dir(f"{scratch}/ship")
    transport.put(str(tmp_path / "tree"), f"{remote}/tree")
    listing = _remote_text(host, f"cd {remote}/tree && find . -type f -exec stat -c '%n %a' {{}} +")
    modes = dict(line.split() for line in listing.splitlines())
    assert modes == {f"./{rel}": f"{mode:o}" for rel, (mode, _) in files.items()}
    dir_mode = _remote_text(host, f"stat -c %a {remote}/tree/conf").strip()
    assert dir_mode == "750"
    for rel, (_, data) in files.items():
        local = tmp_path / "back" / rel
        transport.get(f"{remote}/tree/{rel}", str(local))
        assert local.read_bytes() == data
    leftovers = _remote_text(host, f"find {remote} -name '*rorunner-tmp*'")
    assert leftovers == ""


def test_put_file_mode_override_put_bytes_and_relative_paths(
    scratch: str, transport: Transport, host: LabHost, tmp_path: Path
) -> None:
    name = f"{scratch}/files"
    home_dir = transport.ensure_dir(name)
    local = tmp_path / "script.sh"
    local.write_text("echo hi\n")
    local.chmod(0o644)
    transport.put(str(local), f"{name}/script.sh", mode=0o755)  # relative: under the home
    transport.put_bytes(b"bytes\n", f"{name}/data.txt")
    transport.put_bytes(b"private\n", f"{name}/key", mode=0o600)
    stats = _remote_text(host, f"cd {home_dir} && stat -c '%n %a' script.sh data.txt key")
    assert stats.split("\n")[:3] == ["script.sh 755", "data.txt 644", "key 600"]
    out = io.BytesIO()
    assert transport.exec(f"./{name}/script.sh", stdout=out) == 0
    assert out.getvalue() == b"hi\n"


def test_ensure_dir_private_and_checked(scratch: str, transport: Transport, host: LabHost) -> None:
    base = f"{scratch}/ens"
    path = transport.ensure_dir(f"{base}/work/play")
    assert path.startswith("/") and path.endswith(f"{base}/work/play")
    assert _remote_text(host, f"stat -c %a {path}").strip() == "700"
    assert transport.ensure_dir(path) == path  # idempotent
    host.sh(f"chmod 0777 {path}", check=True)
    assert transport.ensure_dir(path) == path  # tightened again
    assert _remote_text(host, f"stat -c %a {path}").strip() == "700"
    host.sh(f"touch {path}/file", check=True)
    with pytest.raises(RemoteFailure, match=f"^{host.name}: ensure_dir .*file"):
        transport.ensure_dir(f"{path}/file")
    public = transport.ensure_dir(f"{base}/public", private=False)
    assert _remote_text(host, f"stat -c %a {public}").strip() == "755"


def test_prepare_dir_creates_missing_private_and_leaves_existing_alone(
    scratch: str, transport: Transport, host: LabHost
) -> None:
    made = transport.prepare_dir(f"{scratch}/prep/a/b")  # parents missing: made 0700 too
    assert made.startswith("/") and made.endswith(f"{scratch}/prep/a/b")
    modes = _remote_text(host, f"cd {made} && stat -c %a . .. ../..").split()
    assert modes == ["700", "700", "700"]
    existing = made.rsplit("/", 2)[0] + "/shared"
    host.sh(f"mkdir -m 0755 {existing}", check=True)
    assert transport.prepare_dir(existing) == existing
    assert _remote_text(host, f"stat -c %a {existing}").strip() == "755"  # not chmodded
    host.sh(f"touch {existing}/file", check=True)
    with pytest.raises(RemoteFailure, match=f"^{host.name}: prepare_dir .*file.*not a directory"):
        transport.prepare_dir(f"{existing}/file")
    with pytest.raises(RemoteFailure, match=f"^{host.name}: prepare_dir .*under"):
        transport.prepare_dir(f"{existing}/file/under")


@pytest.mark.parametrize("parent_mode", ["1777", "0777"])
def test_prepare_dir_in_a_directory_others_can_write(
    scratch: str, transport: Transport, host: LabHost, parent_mode: str
) -> None:
    # 0777 without the sticky bit: another user could swap the new dir, so the owner is
    # checked against the login's uid (asked with id -u), not taken from the new dir.
    parent = transport.ensure_dir(f"{scratch}/open{parent_mode}", private=False)
    host.sh(f"chmod {parent_mode} {parent}", check=True)
    made = transport.prepare_dir(f"{parent}/work")
    assert _remote_text(host, f"stat -c %a {made}").strip() == "700"


def test_prepare_dir_is_remembered_per_connection(
    scratch: str, pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    transport = pool.get(lab_spec(host))
    made = transport.prepare_dir(f"{scratch}/once")
    host.sh(f"rmdir {made}", check=True)
    assert transport.prepare_dir(made) == made  # not asked again on this connection
    assert _remote_text(host, f"test -d {made} && echo yes || echo no").strip() == "no"
    transport.close()
    again = pool.get(lab_spec(host))  # a new connection prepares afresh
    assert again.prepare_dir(made) == made
    assert _remote_text(host, f"stat -c %a {made}").strip() == "700"


def _requests(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """The kinds of the SFTP requests sent from now on, and of those sent waiting for
    their reply before anything else goes (paramiko's _request)."""
    sent: list[int] = []
    waited: list[int] = []
    send, request = paramiko.SFTPClient._async_request, paramiko.SFTPClient._request  # type: ignore[attr-defined]

    def counted_send(self: paramiko.SFTPClient, fileobj: object, kind: int, *args: Any) -> Any:
        sent.append(kind)
        return send(self, fileobj, kind, *args)

    def counted_request(self: paramiko.SFTPClient, kind: int, *args: Any) -> Any:
        waited.append(kind)
        return request(self, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", counted_send)
    monkeypatch.setattr(paramiko.SFTPClient, "_request", counted_request)
    return sent, waited


def test_a_new_work_dir_is_made_in_one_round_trip(
    scratch: str, pool: Pool, host: LabHost, lab_spec: SpecFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mkdir and the stats of the new dir and its parent are pipelined (no request waits for
    # the one before), and no chmod follows when the server's umask left 0700.
    transport = pool.get(lab_spec(host))
    transport.prepare_dir(scratch)  # the SFTP session opened, the parents made
    sent, waited = _requests(monkeypatch)
    made = transport.prepare_dir(f"{scratch}/fresh")
    monkeypatch.undo()
    assert (sent, waited) == ([CMD_MKDIR, CMD_STAT, CMD_STAT], [])
    assert _remote_text(host, f"stat -c %a {made}").strip() == "700"


def test_a_mode_seen_made_exactly_at_the_create_is_not_chmodded_again(
    scratch: str, pool: Pool, host: LabHost, lab_spec: SpecFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = pool.get(lab_spec(host))
    work = transport.prepare_dir(scratch)
    sent, _ = _requests(monkeypatch)
    requests = []
    for name, mode in (("a", 0o600), ("b", 0o600), ("c", 0o700), ("d", 0o644), ("e", 0o644)):
        transport.put_bytes(name.encode(), f"{work}/{name}", mode)
        requests.append(sent[:])
        sent.clear()
    monkeypatch.undo()
    seen = [CMD_OPEN, CMD_WRITE, CMD_FSTAT, CMD_FSETSTAT, CMD_CLOSE, CMD_EXTENDED]
    trusted = [CMD_OPEN, CMD_WRITE, CMD_FSTAT, CMD_CLOSE, CMD_EXTENDED]  # no chmod
    made_0600 = [CMD_OPEN, CMD_WRITE, CMD_FSETSTAT, CMD_CLOSE, CMD_EXTENDED]  # others may read
    assert requests == [seen, trusted, seen, made_0600, made_0600]
    modes = _remote_text(host, f"cd {work} && stat -c %a a b c d e").split()
    assert modes == ["600", "600", "700", "644", "644"]


def test_modes_are_right_under_a_umask_that_takes_owner_bits(
    scratch: str, pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    # An SFTP server of its own on a channel, with umask 0277: mkdir(0700) makes 0500 and
    # a file asked 0600 at its create is 0400, so each one is chmodded.
    transport = pool.get(lab_spec(host))
    assert isinstance(transport, SshTransport)
    home = transport.prepare_dir(scratch)
    channel = transport.connection.open_channel(host.name)
    servers = " ".join(SFTP_SERVERS)
    channel.exec_command(f'umask 0277; for p in {servers}; do [ -x "$p" ] && exec "$p"; done')
    sftp = paramiko.SFTPClient(channel)
    try:
        sftp_ops.make_work_dir(sftp, f"{home}/strict", lambda: -1)
        for name in ("a", "b"):
            sftp_ops.put_bytes(sftp, b"data", f"{home}/strict/{name}", 0o600)
    finally:
        sftp.close()
    modes = _remote_text(host, f"cd {home}/strict && stat -c %a . a b").split()
    assert modes == ["700", "600", "600"]


def test_ensure_dir_refuses_a_dir_owned_by_someone_else(
    scratch: str, transport: Transport, host: LabHost, lab: Lab
) -> None:
    path = transport.ensure_dir(f"{scratch}/own")
    if lab.user == "root":
        host.sh(f"chown 4242 {path}", check=True)
        with pytest.raises(RemoteFailure, match="owned by uid 4242"):
            transport.ensure_dir(path)
    else:  # a non-root login cannot chown; a root-owned directory shows the same refusal
        with pytest.raises(RemoteFailure, match="^" + host.name + ": ensure_dir /usr"):
            transport.ensure_dir("/usr")


def test_sftp_errors_name_host_and_path(
    transport: Transport, host: LabHost, tmp_path: Path
) -> None:
    with pytest.raises(RemoteFailure, match=f"^{host.name}: get /nonexistent/x"):
        transport.get("/nonexistent/x", str(tmp_path / "x"))
    with pytest.raises(RemoteFailure, match=f"^{host.name}: put /nonexistent/dir/x"):
        transport.put_bytes(b"x", "/nonexistent/dir/x")
    assert not (tmp_path / "x").exists()


def test_a_reader_never_sees_a_partial_file(
    scratch: str, transport: Transport, host: LabHost, tmp_path: Path
) -> None:
    versions = [bytes([65 + i]) * (1_000_000 + 250_000 * i) for i in range(3)]
    expected = {hashlib.md5(v).hexdigest() for v in versions}
    workdir = transport.ensure_dir(f"{scratch}/race")
    target = f"{workdir}/target.bin"
    transport.put_bytes(versions[0], target)
    reads = 300
    reader_script = (
        f"i=0; while [ $i -lt {reads} ]; do md5sum < {target} | cut -d' ' -f1; i=$((i+1)); done"
    )
    seen: list[str] = []
    reader = threading.Thread(
        target=lambda: seen.extend(host.sh(reader_script, timeout=300).stdout.split())
    )
    reader.start()
    written = 0
    while reader.is_alive() and written < 2000:
        transport.put_bytes(versions[written % len(versions)], target)
        written += 1
    reader.join(300)
    assert not reader.is_alive()
    assert len(seen) == reads
    assert set(seen) <= expected, "a reader saw a file that was neither old nor new"
    assert len(set(seen)) >= 2, "the file was never replaced while it was being read"
    assert _remote_text(host, f"ls -a {workdir}").split() == [".", "..", "target.bin"]


def test_a_small_fetch_waits_for_two_replies_and_every_size_arrives_whole(
    scratch: str,
    transport: Transport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # open; then fstat and the first read pipelined; the close is sent, not waited for.
    remote = transport.ensure_dir(f"{scratch}/fetch")
    sizes = (0, 1, 32767, 32768, 32769, 100_000)
    for size in sizes:
        transport.put_bytes(os.urandom(size), f"{remote}/f{size}", 0o640)
    sent, waited = _requests(monkeypatch)
    transport.get(f"{remote}/f1", str(tmp_path / "f1"))
    assert (sent, waited) == ([CMD_OPEN, CMD_FSTAT, CMD_READ, CMD_CLOSE], [CMD_OPEN])
    monkeypatch.undo()
    for size in sizes:
        local = tmp_path / f"f{size}"
        transport.get(f"{remote}/f{size}", str(local))
        data = transport.read(f"{remote}/f{size}", 1 << 20)
        assert local.read_bytes() == data and len(data) == size
        assert stat.S_IMODE(local.stat().st_mode) == 0o640
    # A directory opens, and its first read fails: the fstat says why.
    with pytest.raises(RemoteFailure, match=f"get {remote}: is a directory$"):
        transport.get(remote, str(tmp_path / "dir"))
    assert not (tmp_path / "dir").exists()
    transport.get(f"{remote}/f1", str(tmp_path / "again"))  # the SFTP session is in step
    assert (tmp_path / "again").read_bytes() == (tmp_path / "f1").read_bytes()


def test_get_is_atomic_for_a_local_reader(
    scratch: str, transport: Transport, tmp_path: Path
) -> None:
    versions = [bytes([97 + i]) * (800_000 + 300_000 * i) for i in range(2)]
    remote = transport.ensure_dir(f"{scratch}/get")
    for i, data in enumerate(versions):
        transport.put_bytes(data, f"{remote}/v{i}")
    local = tmp_path / "fetched" / "file.bin"
    transport.get(f"{remote}/v0", str(local))
    stop = threading.Event()
    bad: list[int] = []
    reads = [0]

    def read_loop() -> None:
        while not stop.is_set():
            data = local.read_bytes()
            reads[0] += 1
            if data not in versions:
                bad.append(len(data))

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for i in range(40):
            transport.get(f"{remote}/v{i % 2}", str(local))
    finally:
        stop.set()
        reader.join(30)
    assert bad == []
    assert reads[0] > 0
    assert sorted(p.name for p in local.parent.iterdir()) == ["file.bin"]


# --- one connection per host -------------------------------------------------------------


def test_one_tcp_connection_per_host_across_many_operations(
    scratch: str, pool: Pool, lab: Lab, lab_spec: SpecFor, tmp_path: Path
) -> None:
    host = lab.hosts[1]
    before = host.accepted()
    spec = lab_spec(host)
    local = tmp_path / "f.txt"
    local.write_text("payload\n")
    workdir = pool.get(spec).ensure_dir(f"{scratch}/pool")
    pool.get(spec).put_bytes(b"fetch me", f"{workdir}/source")

    def mixed(i: int) -> None:
        # A fresh Transport each time, from specs that differ only in their label.
        transport = pool.get(dataclasses.replace(spec, label=f"{host.name}-{i}"))
        kind = i % 5
        if kind == 0:
            assert transport.exec(f"echo {i}", stdout=io.BytesIO()) == 0
        elif kind == 1:
            transport.put(str(local), f"{workdir}/f{i}.txt")
        elif kind == 2:
            transport.put_bytes(b"%d" % i, f"{workdir}/b{i}")
        elif kind == 3:
            transport.get(f"{workdir}/source", str(tmp_path / f"got{i}"))
            assert (tmp_path / f"got{i}").read_bytes() == b"fetch me"
        else:
            assert transport.ensure_dir(f"{workdir}/d{i}") == f"{workdir}/d{i}"

    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            mixed(i)
        except BaseException as exc:
            errors.append(exc)

    for i in range(8):
        guarded(i)
    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(8, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert pool.opened == 1
    assert _wait_until(lambda: host.accepted() - before >= 1, 5)
    assert host.accepted() - before == 1


def test_pool_reconnects_after_close_all(pool: Pool, host: LabHost, lab_spec: SpecFor) -> None:
    assert pool.get(lab_spec(host)).exec("true") == 0
    pool.close_all()
    assert pool.get(lab_spec(host)).exec("true") == 0
    assert pool.opened == 2


def test_parallel_hosts_each_get_one_connection(pool: Pool, lab: Lab, lab_spec: SpecFor) -> None:
    before = {h.name: h.accepted() for h in lab.hosts}
    results: dict[str, str] = {}

    def work(h: LabHost) -> None:
        out = io.BytesIO()
        for _ in range(5):
            pool.get(lab_spec(h)).exec("hostname", stdout=out)
        results[h.name] = out.getvalue().decode().split()[0]

    threads = [threading.Thread(target=work, args=(h,)) for h in lab.hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert pool.opened == len(lab.hosts)
    assert sorted(results) == sorted(h.name for h in lab.hosts)
    if lab.mode == "netns":  # each namespace has its own hostname
        assert {results[h.name] for h in lab.hosts} == {h.hostname for h in lab.hosts}
    assert _wait_until(lambda: all(h.accepted() - before[h.name] == 1 for h in lab.hosts), 5)


def test_a_forked_child_opens_its_own_connection(
    pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    """doit's process runner forks: a child must not share (or close) the parent's socket."""
    parent = pool.get(lab_spec(host))
    assert parent.exec("true") == 0
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, reports through the pipe
        code = 1
        try:
            ok = pool.get(lab_spec(host)).exec("true", timeout=60) == 0 and pool.opened == 1
            pool.close_all()
            code = 0 if ok else 2
        finally:
            os.write(write_end, bytes([code]))
            os._exit(code)
    os.close(write_end)
    ready: list[int] = []
    try:
        ready, _, _ = select.select([read_end], [], [], 120)
        reported = os.read(read_end, 1) if ready else b"timeout"
    finally:
        os.close(read_end)
        if not ready:
            os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    assert reported == bytes([0])
    assert parent.exec("true") == 0  # the parent's connection survived the child
    assert pool.opened == 1


def test_a_forked_child_never_writes_to_the_parents_session(
    scratch: str, pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    """The child drops its copies of the parent's connections: an open SFTP channel among
    them must not send its close on the shared socket (that would break the parent's session)."""
    parent = pool.get(lab_spec(host))
    workdir = parent.ensure_dir(f"{scratch}/fork")  # the SFTP session is now open
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            pool.close_all()  # forgets the parent's connections (a fork is noticed here)
            gc.collect()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    parent.put_bytes(b"still here", f"{workdir}/after-fork")
    out = io.BytesIO()
    assert parent.exec(f"cat {workdir}/after-fork", stdout=out, timeout=60) == 0
    assert out.getvalue() == b"still here"
    assert pool.opened == 1


def test_an_aead_cipher_is_negotiated(pool: Pool, host: LabHost, lab_spec: SpecFor) -> None:
    transport: Any = pool.get(lab_spec(host))
    ssh = transport.connection.client.get_transport()
    assert (ssh.local_cipher, ssh.remote_cipher) == ("aes128-gcm@openssh.com",) * 2


# --- host keys ---------------------------------------------------------------------------


def _lab_line(lab: Lab, host: LabHost) -> str:
    name = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    lines = [line for line in lab.known_hosts.read_text().splitlines() if line.split()[0] == name]
    assert len(lines) == 1
    return lines[0]


def _fingerprint_of(line: str, tmp_path: Path) -> str:
    pub = tmp_path / f"{uuid.uuid4().hex}.pub"
    pub.write_text(line.split(" ", 1)[1] + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.split()[1]


def _no_user_known_hosts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # ~/.ssh/known_hosts is always consulted; point HOME at an empty place for these tests.
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))


def test_strict_unknown_key_is_refused_with_its_fingerprint(
    pool: Pool,
    lab: Lab,
    host: LabHost,
    lab_spec: SpecFor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_user_known_hosts(monkeypatch, tmp_path)
    empty = tmp_path / "known_hosts"
    empty.write_text("# nothing yet\n")
    before = host.accepted()
    with pytest.raises(HostKeyError) as err:
        pool.get(lab_spec(host, known_hosts=(str(empty),)))
    message = str(err.value)
    assert message.startswith(f"{host.name}: unknown host key for ")
    assert host.address in message
    assert _fingerprint_of(_lab_line(lab, host), tmp_path) in message
    assert empty.read_text() == "# nothing yet\n"
    assert host.accepted() == before  # refused before authenticating


def test_accept_new_adds_the_key_once_and_keeps_other_lines(
    lab: Lab, host: LabHost, lab_spec: SpecFor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_user_known_hosts(monkeypatch, tmp_path)
    other = _lab_line(lab, lab.hosts[1]).split(" ", 1)[1]
    known = tmp_path / "known_hosts"
    original = f"# team file\nsomewhere.example {other}\n"
    known.write_text(original)
    spec = lab_spec(host, known_hosts=(str(known),), host_key_policy="accept-new")
    for _ in range(3):  # separate pools: each connects and checks the key again
        fresh = Pool()
        try:
            assert fresh.get(spec).exec("true") == 0
        finally:
            fresh.close_all()
    text = known.read_text()
    assert text.startswith(original)
    added = text[len(original) :].splitlines()
    assert len(added) == 1
    assert added[0].split()[1:] == _lab_line(lab, host).split()[1:]
    assert added[0].split()[0] == _lab_line(lab, host).split()[0]
    strict = Pool()
    try:  # the added line is good enough for strict checking
        assert strict.get(dataclasses.replace(spec, host_key_policy="strict")).exec("true") == 0
    finally:
        strict.close_all()


def test_changed_key_is_refused_even_with_accept_new(
    pool: Pool,
    lab: Lab,
    host: LabHost,
    lab_spec: SpecFor,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_user_known_hosts(monkeypatch, tmp_path)
    fake = tmp_path / "fake_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)],
        check=True,
        timeout=30,
        capture_output=True,
    )
    name = _lab_line(lab, host).split()[0]
    wrong = f"{name} {fake.with_suffix('.pub').read_text().split()[0]} "
    wrong += fake.with_suffix(".pub").read_text().split()[1]
    known = tmp_path / "known_hosts"
    known.write_text(wrong + "\n")
    for policy in ("strict", "accept-new"):
        with pytest.raises(HostKeyError, match="CHANGED") as err:
            pool.get(lab_spec(host, known_hosts=(str(known),), host_key_policy=policy))
        message = str(err.value)
        assert message.startswith(f"{host.name}: ")
        assert _fingerprint_of(wrong, tmp_path) in message  # the one we knew
        assert _fingerprint_of(_lab_line(lab, host), tmp_path) in message  # the one offered
    assert known.read_text() == wrong + "\n"


def test_hashed_known_hosts_entries_are_found(
    pool: Pool, lab: Lab, host: LabHost, lab_spec: SpecFor, tmp_path: Path
) -> None:
    hashed = tmp_path / "known_hosts"
    hashed.write_text(lab.known_hosts.read_text())
    subprocess.run(
        ["ssh-keygen", "-H", "-f", str(hashed)], check=True, timeout=30, capture_output=True
    )
    assert host.address not in hashed.read_text()
    assert pool.get(lab_spec(host, known_hosts=(str(hashed),))).exec("true") == 0


# --- ssh_config, auth, unreachable -------------------------------------------------------


def test_ssh_config_fills_hostname_port_user_and_key(
    pool: Pool, lab: Lab, host: LabHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_user_known_hosts(monkeypatch, tmp_path)
    spec = ConnectionSpec(address=host.name, ssh_config=str(lab.ssh_config))
    out = io.BytesIO()
    assert pool.get(spec).exec("id -un", stdout=out) == 0
    assert out.getvalue().decode().strip() == lab.user


def test_wrong_key_is_an_auth_failure(
    pool: Pool, host: LabHost, lab_spec: SpecFor, tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
        check=True,
        timeout=30,
        capture_output=True,
    )
    with pytest.raises(UnreachableError, match="authentication failed") as err:
        pool.get(lab_spec(host, key_file=str(other)))
    assert not isinstance(err.value, HostKeyError)
    assert str(err.value).startswith(f"{host.name}: ")


def test_lab_address_without_listener_is_unreachable(
    pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    # Port 9 (discard) has no listener on the lab host: the host itself refuses.
    with pytest.raises(UnreachableError, match=r"cannot connect to .*refused") as err:
        pool.get(lab_spec(host, port=9, connect_timeout=3.0))
    assert not isinstance(err.value, HostKeyError)
    assert str(err.value).startswith(f"{host.name}: ")
    assert pool.opened == 0


def test_stopped_sshd_listener_fails_within_the_banner_timeout(
    pool: Pool, lab: Lab, lab_spec: SpecFor
) -> None:
    """A real sshd frozen with SIGSTOP: the kernel still accepts TCP, no banner ever comes."""
    host = lab.hosts[-1]
    os.kill(host.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(UnreachableError, match="no SSH banner") as err:
            pool.get(lab_spec(host, connect_timeout=2.0))
        elapsed = time.monotonic() - started
    finally:
        os.kill(host.pid, signal.SIGCONT)
    assert str(err.value).startswith(f"{host.name}: ")
    assert elapsed < 2.0 + 3.0  # a correctness bound: the banner timeout, not a hang
    assert pool.get(lab_spec(host)).exec("true") == 0


def test_link_local_with_scope_id(lab: Lab) -> None:
    """A silent listener on the lab bridge's link-local address, reached as fe80::x%bridge.

    The loopback lab has no link-local address of its own; there the scope id is shown to
    reach the socket by the kernel's answer for fe80::1%lo.
    """
    if lab.mode != "netns" or not lab.bridge:
        spec = ConnectionSpec(address="fe80::1%lo", port=22, user="x", label="ll")
        with pytest.raises(UnreachableError, match=r"^ll: cannot connect to \[fe80::1%lo\]:22"):
            Pool().get(spec)
        return
    found = subprocess.run(
        ["ip", "-6", "-o", "addr", "show", "dev", lab.bridge, "scope", "link"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    local = found[found.index("inet6") + 1].split("/")[0]
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.bind((local, 0, 0, socket.if_nametoindex(lab.bridge)))
    listener.listen(1)
    listener.settimeout(10)
    spec = ConnectionSpec(
        address=f"{local}%{lab.bridge}",
        port=listener.getsockname()[1],
        user="x",
        label="ll",
        connect_timeout=1.0,
    )
    try:
        with pytest.raises(UnreachableError, match="no SSH banner"):
            Pool().get(spec)
    finally:
        listener.close()


# A default ACL that gives the owner read only (system.posix_acl_default, version 2:
# user::r--, group::---, other::---): a file created in that directory gets 0400.
_OWNER_READ_ONLY_ACL = (
    "import os, struct, sys; e = lambda tag, perm: struct.pack('<HHI', tag, perm, 2**32 - 1); "
    "os.setxattr(sys.argv[1], 'system.posix_acl_default', "
    "struct.pack('<I', 2) + e(1, 4) + e(4, 0) + e(0x20, 0))"
)


def test_a_mode_seen_once_is_still_right_after_the_directory_changed(
    scratch: str, pool: Pool, host: LabHost, lab_spec: SpecFor
) -> None:
    # The chmod is skipped after the session saw a create honour the mode in a directory;
    # a step may change what a create there gives (here a default ACL): no wrong mode.
    transport = pool.get(lab_spec(host))
    work = transport.prepare_dir(scratch)
    transport.put_bytes(b"a", f"{work}/a", 0o600)
    host.sh(f'cd ~ && python3 -c "{_OWNER_READ_ONLY_ACL}" {work}', check=True)
    transport.put_bytes(b"b", f"{work}/b", 0o600)
    modes = _remote_text(host, f"cd {work} && stat -c %a a b").split()
    assert modes == ["600", "600"]
