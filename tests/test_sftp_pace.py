"""SFTP write pacing: the window from the session's shortest round trip, the request size
from the window and the server's limits, and write_handle never holding more than the
window in flight; against an in-memory SFTP server that answers only when asked to read."""

from __future__ import annotations

import math
from typing import Any

import paramiko
import pytest
from paramiko.message import Message
from paramiko.sftp import CMD_STATUS, CMD_WRITE, SFTP_FAILURE, SFTP_OK

from rorunner.transport import _ssh_sftp_pace as pace
from rorunner.transport import _ssh_sftp_wire as wire
from rorunner.transport._ssh_sftp_wire import Limits

KIB = 1024
OPENSSH = Limits(packet=256 * KIB, read=255 * KIB, write=255 * KIB)


class QuietSocket:
    """A channel on which no reply is ever ready without waiting."""

    def recv_ready(self) -> bool:
        return False


class LazyServer:
    """Takes requests and answers each, in order, only when the client reads a reply: the
    most bytes of writes in flight are what the client chose to send unanswered."""

    def __init__(self, refuse_write_at: int | None = None) -> None:
        self.sock = QuietSocket()
        # collector, number, kind, bytes of data, which write it is (1, 2, ...; 0: no write)
        self.waiting: list[tuple[Any, int, int, int, int]] = []
        self.number = 0
        self.in_flight = 0
        self.most = 0
        self.writes: list[int] = []
        self.refuse_write_at = refuse_write_at

    def _async_request(self, collector: Any, kind: int, *args: Any) -> int:
        self.number += 1
        size = len(args[2]) if kind == CMD_WRITE else 0
        if kind == CMD_WRITE:
            self.writes.append(size)
        self.in_flight += size
        self.most = max(self.most, self.in_flight)
        self.waiting.append((collector, self.number, kind, size, len(self.writes) * bool(size)))
        return self.number

    def _read_response(self) -> None:
        collector, number, kind, size, write = self.waiting.pop(0)
        self.in_flight -= size
        failed = kind == CMD_WRITE and write == self.refuse_write_at
        reply = Message()
        reply.add_int(SFTP_FAILURE if failed else SFTP_OK)
        reply.add_string("refused" if failed else "")
        reply.add_string("")
        collector._async_response(CMD_STATUS, Message(reply.asbytes()), number)

    def _convert_status(self, msg: Message) -> None:
        if msg.get_int() != SFTP_OK:
            raise OSError(5, msg.get_text())


def _write(server: LazyServer, size: int, request: int, window: int) -> wire.Written:
    sftp: Any = server
    return wire.write_handle(sftp, b"handle", [bytes(size)], (request, window), None, False)


def test_the_window_is_the_floor_on_a_lan_and_grows_with_the_round_trip() -> None:
    assert pace.window_for(math.inf) == 128 * KIB  # nothing measured yet
    assert pace.window_for(0.0002) == 128 * KIB  # a LAN
    assert pace.window_for(0.0009) == 128 * KIB  # up to ~1 ms
    assert pace.window_for(0.004) == 4 * 128 * 2**20 // 1000
    assert pace.window_for(0.016) > 2 * 1024 * KIB  # sshd's channel window binds from here
    assert pace.window_for(0.1) == 128 * 2**20 // 10


def test_requests_are_half_the_window_and_no_more_than_the_server_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client: Any = object.__new__(paramiko.SFTPClient)  # only a key: never used to talk
    monkeypatch.setattr(paramiko.SFTPClient, "get_channel", lambda self: None)
    assert pace.write_pace(client) == (32 * KIB, 128 * KIB)  # unknown server: one packet
    pace.note_limits(client, OPENSSH)
    pace.note_round_trip(client, 0.0003)
    assert pace.write_pace(client) == (64 * KIB, 128 * KIB)
    pace.note_round_trip(client, 0.002)  # a longer trip does not replace the shortest
    assert pace.write_pace(client) == (64 * KIB, 128 * KIB)
    other: Any = object.__new__(paramiko.SFTPClient)
    pace.note_limits(other, OPENSSH)
    pace.note_round_trip(other, 0.05)
    assert pace.write_pace(other) == (255 * KIB, int(0.05 * 128 * 2**20))
    pace.note_limits(other, None)  # a server that does not say changes nothing known
    assert pace.write_pace(other).request == 255 * KIB
    small: Any = object.__new__(paramiko.SFTPClient)
    pace.note_limits(small, Limits(packet=100 * KIB, read=0, write=255 * KIB))
    pace.note_round_trip(small, 0.05)
    header = 4 + 1 + 4 + (4 + 256) + 8 + 4  # a write request's bytes around its data
    assert pace.write_pace(small).request == 100 * KIB - header  # its packet limit binds


@pytest.mark.parametrize(("request_size", "window"), [(64 * KIB, 128 * KIB), (32 * KIB, 96 * KIB)])
def test_writes_never_hold_more_than_the_window_in_flight(request_size: int, window: int) -> None:
    server = LazyServer()
    size = (1 << 20) + 12345
    written = _write(server, size, request_size, window)
    assert written.refusal is None
    assert sum(server.writes) == size and max(server.writes) == request_size
    assert server.most == window  # full, never more: the window is a multiple of requests
    assert not server.waiting  # every reply (the close's too) was read


def test_a_window_bigger_than_the_file_sends_it_all_before_a_reply() -> None:
    server = LazyServer()
    size = (1 << 20) + 12345
    assert _write(server, size, 255 * KIB, 4 << 20).refusal is None
    assert server.most == size and len(server.writes) == 5


def test_a_write_that_does_not_fit_waits_for_room_but_one_always_goes() -> None:
    server = LazyServer()
    assert _write(server, 300 * KIB, 200 * KIB, 128 * KIB).refusal is None  # request > window
    assert server.writes == [200 * KIB, 100 * KIB] and server.most == 200 * KIB


def test_a_refused_write_stops_the_sending_and_is_reported() -> None:
    server = LazyServer(refuse_write_at=3)
    written = _write(server, 1 << 20, 64 * KIB, 128 * KIB)
    assert written.refusal is not None and written.refusal.what == "write"
    assert written.refusal.offset == 2 * 64 * KIB  # the bytes sent before the refused one
    assert len(server.writes) == 4  # sent while the window had room, before its reply
    assert not server.waiting
