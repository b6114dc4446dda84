"""Write requests as big as the server says it takes (limits@openssh.com, asked with the
session's first request) and half the window, else 32 KiB; never more than the window (from
the session's measured round trip) awaiting replies, as seen at paramiko's edge; against the
lab's real sshd, and an sftp-server that refuses to say."""

from __future__ import annotations

import hashlib
import math
import os
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pytest
from paramiko.sftp import CMD_EXTENDED, CMD_WRITE

from rorunner.model import ConnectionSpec
from rorunner.transport import Pool
from rorunner.transport import _ssh_sftp as sftp_ops
from rorunner.transport import _ssh_sftp_pace as pace
from rorunner.transport._ssh import SshTransport
from rorunner.transport._ssh_become import SFTP_SERVERS
from rorunner.transport._ssh_sftp_wire import LIMITS
from tests.lab import Lab, LabHost

SpecFor = Callable[..., ConnectionSpec]
SIZE = (1 << 20) + 12345  # not a multiple of any request size


@pytest.fixture
def host(lab: Lab) -> LabHost:
    return lab.hosts[0]


@pytest.fixture
def scratch(lab: Lab, host: LabHost) -> Iterator[str]:
    relative = f".rr-write-size/{uuid.uuid4().hex[:12]}"
    yield relative
    host.sh(f"rm -rf ~{lab.user}/{relative}; rmdir ~{lab.user}/.rr-write-size 2>/dev/null; true")


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def _sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, tuple[Any, ...]]]:
    """The SFTP requests pipelined from now on: their kind and arguments."""
    sent: list[tuple[int, tuple[Any, ...]]] = []
    send = paramiko.SFTPClient._async_request  # type: ignore[attr-defined]

    def counted(self: paramiko.SFTPClient, fileobj: object, kind: int, *args: Any) -> Any:
        sent.append((kind, args))
        return send(self, fileobj, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", counted)
    return sent


class Flight:
    """Bytes of write requests awaiting their replies, seen at paramiko's edge: each write
    sent (by its request number) and each reply read (the number it answers)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting: dict[int, int] = {}  # request number -> bytes of data
        self.most = 0
        send = paramiko.SFTPClient._async_request  # type: ignore[attr-defined]
        read = paramiko.SFTPClient._read_packet  # type: ignore[attr-defined]

        def sent(client: paramiko.SFTPClient, fileobj: object, kind: int, *args: Any) -> Any:
            number = send(client, fileobj, kind, *args)
            if kind == CMD_WRITE:
                self.waiting[number] = len(args[2])
                self.most = max(self.most, sum(self.waiting.values()))
            return number

        def got(client: paramiko.SFTPClient) -> tuple[int, bytes]:
            kind, data = read(client)
            self.waiting.pop(struct.unpack(">I", data[:4])[0], None)
            return kind, data

        monkeypatch.setattr(paramiko.SFTPClient, "_async_request", sent)
        monkeypatch.setattr(paramiko.SFTPClient, "_read_packet", got)


def _writes(sent: list[tuple[int, tuple[Any, ...]]]) -> list[int]:
    """The data sizes of the write requests among `sent`."""
    return [len(args[2]) for kind, args in sent if kind == CMD_WRITE]


@dataclass(frozen=True)
class Target:
    """A lab host, a connection to it, a scratch dir there and a local file to ship."""

    lab: Lab
    host: LabHost
    transport: SshTransport
    scratch: str
    payload: Path

    def arrived(self, name: str) -> bool:
        """Whether `name` in the scratch dir holds exactly the payload's bytes."""
        where = f"~{self.lab.user}/{self.scratch}/{name}"
        remote = self.host.sh(f"md5sum {where}", timeout=60, check=True).stdout.split()[0]
        return remote == hashlib.md5(self.payload.read_bytes()).hexdigest()


@pytest.fixture
def target(
    lab: Lab, host: LabHost, pool: Pool, lab_spec: SpecFor, scratch: str, payload: Path
) -> Target:
    transport = pool.get(lab_spec(host))
    assert isinstance(transport, SshTransport)
    return Target(lab, host, transport, scratch, payload)


def test_a_server_that_says_its_limits_gets_writes_paced_by_the_round_trip(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _sent(monkeypatch)
    flight = Flight(monkeypatch)
    target.transport.prepare_dir(target.scratch)  # the session opens: limits come first
    assert sent[0] == (CMD_EXTENDED, (LIMITS,))
    target.transport.put(str(target.payload), f"{target.scratch}/big.bin")
    sftp = target.transport.connection._sftp
    assert sftp is not None
    trip = pace.round_trip(sftp)
    assert 0 < trip < 1  # measured: the session's start and the create
    window = pace.window_for(trip)
    assert pace.write_pace(sftp) == (min(261120, window // 2), window)  # OpenSSH: 255 KiB
    writes = _writes(sent)
    assert sum(writes) == SIZE and max(writes) == min(261120, window // 2)
    assert len(writes) == math.ceil(SIZE / max(writes))
    assert max(writes) < flight.most <= window  # two in flight at least, never past the window
    assert not flight.waiting
    assert target.arrived("big.bin")


def test_a_server_that_does_not_say_gets_writes_that_fit_one_packet(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = target.transport.prepare_dir(target.scratch)
    channel = target.transport.connection.open_channel(target.host.name)
    servers = " ".join(SFTP_SERVERS)  # an sftp-server that refuses limits@openssh.com
    channel.exec_command(f'for p in {servers}; do [ -x "$p" ] && exec "$p" -P limits; done')
    sftp = paramiko.SFTPClient(channel)
    try:
        sent = _sent(monkeypatch)
        flight = Flight(monkeypatch)
        assert sftp_ops.start_session(sftp) == home.rsplit("/", 2)[0]
        sftp_ops.put_file(sftp, str(target.payload), f"{home}/small.bin", 0o600)
        window = pace.window_for(pace.round_trip(sftp))
    finally:
        sftp.close()
    writes = _writes(sent)
    assert sent[0] == (CMD_EXTENDED, (LIMITS,))
    assert max(writes) <= 32768 and len(writes) >= SIZE // 32768 and sum(writes) == SIZE
    assert max(writes) < flight.most <= window
    assert target.arrived("small.bin")
