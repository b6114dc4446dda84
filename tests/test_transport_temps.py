"""No lab: temp file names and the stale-temp rule, the local transport's cleanup and
complete-or-absent copies, and the paramiko internals that checked SFTP writes use."""

from __future__ import annotations

import inspect
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest
from paramiko.common import MSG_CHANNEL_REQUEST

from rorunner.errors import RemoteFailure
from rorunner.model import ConnectionSpec
from rorunner.transport import LocalTransport
from rorunner.transport._ssh_exec import observe_exit_signals
from rorunner.transport._temps import (
    STALE_AFTER,
    TMP_INFIX,
    controller_id,
    is_stale_temp,
    remove_stale_local_temps,
    temp_name,
)

REG = stat.S_IFREG | 0o600


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def _ours(pid: int, controller: str | None = None) -> str:
    return f".app.conf{TMP_INFIX}{controller or controller_id()}-{pid}-0123abcd"


def test_temp_names_carry_this_controller_and_process() -> None:
    name = temp_name("app.conf")
    assert re.fullmatch(
        rf"\.app\.conf\.rorunner-tmp-{controller_id()}-{os.getpid()}-[0-9a-f]{{8}}", name
    )
    assert temp_name("app.conf") != name
    assert controller_id() == controller_id() and re.fullmatch(r"[0-9a-f]{8}", controller_id())


def test_stale_rule() -> None:
    now = time.time()
    fresh, old = now - 5, now - STALE_AFTER - 5
    # This controller: gone writer -> stale at once; live writer (us, pid 1) -> never.
    assert is_stale_temp(_ours(_dead_pid()), REG, fresh, now)
    assert not is_stale_temp(_ours(os.getpid()), REG, old, now)
    assert not is_stale_temp(_ours(1), REG, old, now)
    # Another controller, or an older rorunner's name: only once untouched for STALE_AFTER.
    foreign = _ours(_dead_pid(), "ffffffff" if controller_id() != "ffffffff" else "eeeeeeee")
    for name in (foreign, f".app.conf{TMP_INFIX}0123456789ab", f".app.conf{TMP_INFIX}a1b_c2d3"):
        assert not is_stale_temp(name, REG, fresh, now), name
        assert is_stale_temp(name, REG, old, now), name
    # Never anything else: other names, directories, links, unknown modes.
    for name in ("app.conf", f"app.conf{TMP_INFIX}0123456789ab", f".x{TMP_INFIX}notours!"):
        assert not is_stale_temp(name, REG, old, now), name
    dead = _ours(_dead_pid())
    assert not is_stale_temp(dead, stat.S_IFDIR | 0o700, old, now)
    assert not is_stale_temp(dead, stat.S_IFLNK | 0o777, old, now)
    assert not is_stale_temp(dead, None, old, now)


def test_remove_stale_local_temps_keeps_live_writers_and_other_files(tmp_path: Path) -> None:
    gone, live = tmp_path / _ours(_dead_pid()), tmp_path / _ours(os.getpid())
    legacy_old, legacy_new = (
        tmp_path / f".a{TMP_INFIX}0123456789ab",
        tmp_path / f".b{TMP_INFIX}abcdefgh",
    )
    for path in (gone, live, legacy_old, legacy_new, tmp_path / "app.conf"):
        path.write_text("x")
    os.utime(legacy_old, (time.time() - STALE_AFTER - 60,) * 2)
    (tmp_path / _ours(_dead_pid()).replace(".app", ".dir")).mkdir()
    assert sorted(remove_stale_local_temps(str(tmp_path))) == sorted([gone.name, legacy_old.name])
    assert live.exists() and legacy_new.exists() and (tmp_path / "app.conf").exists()
    assert remove_stale_local_temps(str(tmp_path / "missing")) == []


# --- the local transport --------------------------------------------------------------------


def test_local_prepare_dir_and_get_remove_stale_temps(tmp_path: Path) -> None:
    local = LocalTransport(ConnectionSpec(address="localhost", connection="local", label="c"))
    work, fetched = tmp_path / "work", tmp_path / "fetched"
    for directory in (work, fetched):
        directory.mkdir()
        (directory / _ours(_dead_pid())).write_text("partial")
        (directory / _ours(os.getpid())).write_text("a live writer's")
    assert local.prepare_dir(str(work)) == str(work)
    (work / "f").write_text("data\n")
    local.get(str(work / "f"), str(fetched / "f"))
    for directory in (work, fetched):
        names = sorted(p.name for p in directory.iterdir())
        assert [n for n in names if TMP_INFIX in n] == [_ours(os.getpid())], names
    assert (fetched / "f").read_text() == "data\n"


def test_local_get_keeps_only_a_complete_copy(tmp_path: Path) -> None:
    """/sys files claim 4096 bytes and hold fewer: the size check refuses the copy (nothing is
    left); /proc files claim 0 and are read to their end."""
    local = LocalTransport(ConnectionSpec(address="localhost", connection="local", label="c"))
    out = tmp_path / "out"
    with pytest.raises(RemoteFailure, match=r"incomplete copy: got 18 of its 4096 bytes"):
        local.get("/sys/class/net/lo/address", str(out / "address"))
    assert list(out.iterdir()) == []
    local.get("/proc/self/status", str(out / "status"))
    assert "Name:" in (out / "status").read_text()


# --- paramiko internals (used by _ssh_sftp_wire and _ssh_exec's exit-signal hook) ----------


def test_the_paramiko_internals_we_rely_on_are_there() -> None:
    """A paramiko upgrade that renames or reshapes these must fail here, loudly."""
    client = paramiko.SFTPClient
    assert list(inspect.signature(client._async_request).parameters) == [  # type: ignore[attr-defined]
        "self",
        "fileobj",
        "t",
        "args",
    ]
    assert list(inspect.signature(client._read_response).parameters) == [  # type: ignore[attr-defined]
        "self",
        "waitfor",
    ]
    assert list(inspect.signature(client._request).parameters) == ["self", "t", "args"]  # type: ignore[attr-defined]
    assert list(inspect.signature(client._convert_status).parameters) == ["self", "msg"]  # type: ignore[attr-defined]
    source = inspect.getsource(client._read_response)  # type: ignore[attr-defined]
    assert "fileobj._async_response(t, msg, num)" in source
    assert "if fileobj is not type(None)" in source  # a reply sent for type(None) is dropped
    from_msg = paramiko.SFTPAttributes._from_msg  # type: ignore[attr-defined]
    assert list(inspect.signature(from_msg).parameters) == ["msg", "filename", "longname"]


def test_the_paramiko_channel_request_table_we_hook_is_there() -> None:
    """_ssh_exec.observe_exit_signals replaces one entry of the transport's handler table."""
    table = paramiko.Transport._channel_handler_table  # type: ignore[attr-defined]
    assert table[MSG_CHANNEL_REQUEST] is paramiko.Channel._handle_request  # type: ignore[attr-defined]
    assert "self._channel_handler_table[ptype](chan, m)" in inspect.getsource(
        paramiko.Transport.run
    )
    source = inspect.getsource(paramiko.Channel._handle_request)  # type: ignore[attr-defined]
    assert 'key == "exit-status"' in source


def _request(*fields: str | bool | int) -> paramiko.Message:
    message = paramiko.Message()
    for value in fields:
        if isinstance(value, bool):
            message.add_boolean(value)
        elif isinstance(value, int):
            message.add_int(value)
        else:
            message.add_string(value)
    return paramiko.Message(message.asbytes())


def test_the_exit_signal_hook_sets_128_plus_n_and_passes_other_requests_on() -> None:
    """One transport's table is changed (not paramiko's class table); exit-signal gives
    128+N, exit-status still goes through paramiko's own handler."""
    left, right = socket.socketpair()
    try:
        transport = paramiko.Transport(left)
        observe_exit_signals(transport)
        handler = transport._channel_handler_table[MSG_CHANNEL_REQUEST]  # type: ignore[attr-defined]
        original = paramiko.Transport._channel_handler_table[MSG_CHANNEL_REQUEST]  # type: ignore[attr-defined]
        assert handler is not original
        killed, exited = paramiko.Channel(1), paramiko.Channel(2)
        handler(killed, _request("exit-signal", False, "KILL", False, "", ""))
        assert killed.exit_status == 128 + signal.SIGKILL and killed.status_event.is_set()
        exited.transport = transport
        handler(exited, _request("exit-status", False, 3))
        assert exited.exit_status == 3 and exited.status_event.is_set()
    finally:
        left.close()
        right.close()
