"""How an SFTP session's writes are paced: the size of each write request and how many
bytes of them may await their replies at once (the window).

An unbounded pipeline (every write sent at once, as paramiko's own does) makes OpenSSH's
sshd hold the data that sftp-server has not taken yet in a channel buffer that grows 32
KiB at a time, each time into a new mapping (strace: 28 growing mmaps per 1 MiB file).
At 100 lab hosts each shipping 1 MiB, the window took sshd from ~5,300 page faults per
host to ~2,100, its CPU down 23% and the run's wall clock down 9%, for 3% more controller
CPU (bench/rtas.py workload, 8 alternated rounds).

The window is as many bytes as the link carries in the session's shortest round trip at
_RATE, and never less than _FLOOR. So a LAN (round trips under 1 ms) gets the floor. A
long link gets what keeps it busy: from 16 ms up, more than the 2 MiB channel window that
sshd allows anyway, as before.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import paramiko

from rorunner.transport._ssh_sftp_wire import Limits

# paramiko's own request size, which every SFTP server accepts (reads and writes).
SMALL_REQUEST = 32768
# The largest write request, sent to a server that says it takes more (limits@openssh.com);
# OpenSSH's own limit is about 255 KiB.
_LARGE_REQUEST = 256 * 1024
# What paramiko keeps free of a channel packet, and the bytes of an SFTP write request
# around its data: length, type, id, handle (at most 256 bytes, with its length), offset,
# data length.
_CHANNEL_RESERVE = 64
_WRITE_HEADER = 4 + 1 + 4 + (4 + 256) + 8 + 4
# The window: bytes per second of the shortest round trip, and the least it is.
_RATE = 128 * 2**20
_FLOOR = 128 * 1024


@dataclass
class _Facts:
    """What one session has learnt: the write size its server said it takes (None: it did
    not say) and the shortest round trip seen on it, in seconds."""

    said: int | None = None
    round_trip: float = math.inf


class WritePace(NamedTuple):
    """Bytes per write request, and the most bytes of writes awaiting replies at once."""

    request: int
    window: int


_facts: weakref.WeakKeyDictionary[paramiko.SFTPClient, _Facts] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def note_limits(sftp: paramiko.SFTPClient, limits: Limits | None) -> None:
    """Remember the write size the session's server said it takes (if it said one)."""
    if limits is None or limits.write <= 0:
        return
    room = limits.packet - _WRITE_HEADER if limits.packet > _WRITE_HEADER else limits.write
    with _lock:
        _facts.setdefault(sftp, _Facts()).said = min(limits.write, room, _LARGE_REQUEST)


def note_round_trip(sftp: paramiko.SFTPClient, seconds: float) -> None:
    """Remember a round trip's time, if it is the session's shortest so far."""
    with _lock:
        facts = _facts.setdefault(sftp, _Facts())
        facts.round_trip = min(facts.round_trip, seconds)


def round_trip(sftp: paramiko.SFTPClient) -> float:
    """The shortest round trip seen on the session, in seconds (inf: none yet)."""
    with _lock:
        facts = _facts.get(sftp)
    return facts.round_trip if facts is not None else math.inf


def window_for(round_trip: float) -> int:
    """Bytes of writes in flight for a link whose shortest round trip is `round_trip` s."""
    if not math.isfinite(round_trip):
        return _FLOOR
    return max(_FLOOR, int(round_trip * _RATE))


def write_pace(sftp: paramiko.SFTPClient) -> WritePace:
    """The session's pace: requests as big as its server takes (else each fitting one SSH
    packet), at most half the window so that two are in flight."""
    with _lock:
        facts = _facts.get(sftp) or _Facts()
    window = window_for(facts.round_trip)
    said = facts.said if facts.said is not None else _one_packet(sftp)
    return WritePace(min(said, window // 2), window)


def _one_packet(sftp: paramiko.SFTPClient) -> int:
    """A request that fits one SSH packet of the session's channel.

    paramiko's default (32 KiB of data) plus the request header is just over OpenSSH's
    32 KiB channel packet, so every request would travel as two packets (twice the
    per-packet CPU for encryption and MAC).
    """
    channel = sftp.get_channel()
    if channel is None:
        return SMALL_REQUEST
    room = channel.out_max_packet_size - _CHANNEL_RESERVE - _WRITE_HEADER
    return max(4096, min(SMALL_REQUEST, room))
