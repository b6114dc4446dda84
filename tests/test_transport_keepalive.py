"""No lab: keepalive (ServerAlive*) and TCPKeepAlive settings from ssh_config."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from rorunner.errors import InputError
from rorunner.model import ConnectionSpec
from rorunner.transport._ssh_alive import DEFAULT_COUNT, DEFAULT_INTERVAL, Keepalive
from rorunner.transport._ssh_connect import open_socket, resolve_target


def _target_with(tmp_path: Path, lines: str) -> Keepalive:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n{lines}")
    return resolve_target(ConnectionSpec(address="2001:db8::1", ssh_config=str(config))).keepalive


def test_keepalive_from_ssh_config(tmp_path: Path) -> None:
    assert _target_with(tmp_path, "") == Keepalive(DEFAULT_INTERVAL, DEFAULT_COUNT)
    assert Keepalive().bound == 45.0
    got = _target_with(tmp_path, "  ServerAliveInterval 1\n  ServerAliveCountMax 3\n")
    assert (got, got.bound) == (Keepalive(1.0, 3), 3.0)
    assert _target_with(tmp_path, "  ServerAliveInterval 1m30s\n") == Keepalive(90.0, 3)
    assert _target_with(tmp_path, "  ServerAliveInterval 0\n").bound == 0  # no keepalives
    for bad in (
        "ServerAliveInterval soon",
        "ServerAliveInterval -1",
        "ServerAliveCountMax 0",
        "ServerAliveCountMax x",
    ):
        option = bad.split()[0]
        with pytest.raises(InputError, match=f"bad {option} .* for 2001:db8::1"):
            _target_with(tmp_path, f"  {bad}\n")


def test_tcp_keepalive_follows_ssh_config(tmp_path: Path) -> None:
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as server:
        port = server.getsockname()[1]
        for wanted in (True, False):
            sock = open_socket("h", "::1", port, 5.0, tcp_keepalive=wanted)
            with sock:
                assert bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)) is wanted
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  TCPKeepAlive no\n")
    spec = ConnectionSpec(address="2001:db8::1", ssh_config=str(config))
    assert resolve_target(spec).tcp_keepalive is False
    config.write_text("Host *\n")
    assert resolve_target(spec).tcp_keepalive is True
