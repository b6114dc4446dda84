"""Running commands on an SSH channel (one per channel, or one after another on a kept
shell): both streams drained in one loop, timeout kills."""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

import paramiko
from paramiko.common import MSG_CHANNEL_REQUEST

from rorunner.transport._shell import KEPT_SETUP, LAUNCHER, EndOfOutput, PidHeader, kept_line

CHUNK = 256 * 1024
_POLL = 0.5
# Once a kept shell's exit status came, how long what it wrote may still take to arrive.
SHELL_GONE_GRACE = 1.0


def _signal_status(name: str) -> int | None:
    """128+N for an RFC 4254 signal name ("KILL"), None for one this system does not know."""
    try:
        return 128 + signal.Signals[f"SIG{name}"].value
    except KeyError:
        return None


def _handle_request(channel: paramiko.Channel, message: paramiko.Message) -> None:
    """paramiko's channel request handler, which also takes "exit-signal" (paramiko drops
    it): the channel's exit status becomes 128+N, as a shell reports a signal death."""
    start = message.packet.tell()
    if message.get_text() == "exit-signal" and not message.get_boolean():
        status = _signal_status(message.get_text())
        if status is not None:
            channel.exit_status = status
            channel.status_event.set()
        return
    message.packet.seek(start)
    paramiko.Channel._handle_request(channel, message)  # type: ignore[attr-defined]


def observe_exit_signals(transport: paramiko.Transport) -> None:
    """Make `transport`'s channels report a signal death as exit status 128+N (before any
    channel is opened): commands then need no parent shell to turn it into a status."""
    # paramiko has no hook for it: the class's message table, copied onto this transport.
    table = dict(transport._channel_handler_table)  # type: ignore[attr-defined]
    table[MSG_CHANNEL_REQUEST] = _handle_request
    transport._channel_handler_table = table  # type: ignore[attr-defined]


class CommandTimeout(Exception):
    """The deadline passed; `pid` is the remote process group id when known."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


def _remaining(deadline: float | None) -> float:
    if deadline is None:
        return _POLL
    left = deadline - time.monotonic()
    return min(_POLL, left)


def _recv(read: Callable[[int], bytes]) -> bytes | None:
    """One non-blocking read: data, b"" at end of stream, None when nothing is ready."""
    try:
        return read(CHUNK)
    except TimeoutError:
        return None


def _write(sink: BinaryIO | None, data: bytes) -> None:
    if sink is not None and data:
        sink.write(data)


def pump(
    channel: paramiko.Channel,
    header: PidHeader,
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
    deadline: float | None,
) -> None:
    """Copy stdout and stderr to the sinks until both end; memory stays at one chunk each."""
    # Woken by paramiko when either stream gets data or ends. Not select() on the channel:
    # its fileno() is an OS pipe that paramiko's reader thread may still write to while
    # the channel is being closed (at a timeout), and an EBADF there kills the connection.
    ready = threading.Event()
    channel.in_buffer.set_event(ready)
    channel.in_stderr_buffer.set_event(ready)
    out_open = err_open = True
    while out_open or err_open:
        wait = _remaining(deadline)
        if wait <= 0:  # checked every round: a command that never stops talking times out too
            raise CommandTimeout(header.pid)
        out, err = _read_round(channel, out_open, err_open, wait, ready)
        if out is not None:
            _write(stdout, header.feed(out) if out else header.flush())
            out_open = bool(out)
        if err is not None:
            _write(stderr, err)
            err_open = bool(err)


def pump_to_ends(
    channel: paramiko.Channel,
    header: PidHeader,
    ends: tuple[EndOfOutput, EndOfOutput],
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
    deadline: float | None,
) -> bool:
    """Copy a kept shell's stdout and stderr to the sinks until each shows its end mark
    (True), or until the shell is gone (False: both streams ended, or its exit status came
    and nothing more within SHELL_GONE_GRACE, as when a background process of an earlier
    command still holds the streams open). Both streams are read until both marks are in:
    they share the channel's window, which unread bytes after one mark must not fill."""
    ready = threading.Event()
    channel.in_buffer.set_event(ready)
    channel.in_stderr_buffer.set_event(ready)
    out_end, err_end = ends
    out_open = err_open = True
    gone_by: float | None = None
    while not (out_end.done and err_end.done) and (out_open or err_open):
        wait = _remaining(deadline)
        if wait <= 0:
            raise CommandTimeout(header.pid)
        if channel.status_event.is_set():
            gone_by = gone_by or time.monotonic() + SHELL_GONE_GRACE
            wait = min(wait, max(gone_by - time.monotonic(), 0.0))
        out, err = _read_round(channel, out_open, err_open, wait, ready)
        if out is None and err is None and gone_by is not None and time.monotonic() >= gone_by:
            break
        if out is not None:
            _write(stdout, out_end.feed(header.feed(out)) if out else _flush(header, out_end))
            out_open = bool(out)
        if err is not None:
            _write(stderr, err_end.feed(err) if err else err_end.flush())
            err_open = bool(err)
    return out_end.done and err_end.done


def _flush(header: PidHeader, end: EndOfOutput) -> bytes:
    """At the end of stdout: what the PID header and the end mark still hold back."""
    return end.feed(header.flush()) + end.flush()


def _read_round(
    channel: paramiko.Channel, out_open: bool, err_open: bool, wait: float, ready: threading.Event
) -> tuple[bytes | None, bytes | None]:
    """One read of each open stream, waiting at most `wait` seconds for anything to come."""
    if out_open and err_open:
        channel.settimeout(0.0)
        out, err = _recv(channel.recv), _recv(channel.recv_stderr)
        if out is None and err is None:
            # Both were empty just now, so a feed since then has set `ready` (a read
            # clears it only when it took data, and then this round returns data).
            ready.wait(wait)
        return out, err
    # One stream ended: its closed buffer keeps `ready` set, so block on the other.
    channel.settimeout(wait)
    if out_open:
        return _recv(channel.recv), None
    return None, _recv(channel.recv_stderr)


def wait_exit_status(channel: paramiko.Channel, header: PidHeader, deadline: float | None) -> int:
    """The exit status, or -1 when the channel closed without one (e.g. killed by a signal)."""
    while not channel.status_event.wait(max(_remaining(deadline), 0.0)):
        if _remaining(deadline) <= 0:
            raise CommandTimeout(header.pid)
    return channel.exit_status


def run_small(channel: paramiko.Channel, command: str, limit: float) -> tuple[int, bytes]:
    """Run a short helper command (id -u, kill); output is small; bounded by `limit` seconds."""
    channel.settimeout(limit)
    channel.exec_command(command)
    out = b""
    try:
        while chunk := channel.recv(CHUNK):
            out += chunk
    except TimeoutError:
        return -1, out
    channel.status_event.wait(limit)
    return channel.exit_status, out


class KeptShell:
    """A channel whose shell (LAUNCHER's `sh -s`) runs the login user's commands one after
    another, each in a subshell: a command costs no channel, no login shell and no `sh`
    start on the host. The `header`'s PID is its process group, killed at a timeout."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self.header = PidHeader()
        self._rest = (b"", b"")  # what came after the last end marks (a background writer's)
        self._started = False

    def run(
        self,
        script: bytes,
        stdout: BinaryIO | None,
        stderr: BinaryIO | None,
        deadline: float | None,
    ) -> int | None:
        """Run one `remote_script`; its exit status, or None when the shell ended instead
        (the channel's exit status then says how)."""
        nonce = secrets.token_hex(8)
        ends = (EndOfOutput(nonce, self._rest[0]), EndOfOutput(nonce, self._rest[1]))
        line = kept_line(script, nonce)
        # A read round left a timeout of 0 or 0.5 s: a long script must not time out.
        self.channel.settimeout(None)
        if not self._started:  # with the first command, so that its errors are the command's
            self.channel.exec_command(LAUNCHER)
            self._started, line = True, KEPT_SETUP + line
        self.channel.sendall(line)
        if not pump_to_ends(self.channel, self.header, ends, stdout, stderr, deadline):
            return None
        self._rest = (ends[0].rest, ends[1].rest)
        return ends[0].status if ends[0].status is not None else -1

    def usable(self) -> bool:
        """Whether the shell may take a command: its channel is open and it has not ended
        (an idle shell can die: a kill, sshd's ChannelTimeout, the OOM killer)."""
        channel = self.channel
        return not (channel.closed or channel.eof_received or channel.exit_status_ready())

    def close(self) -> None:
        """End the shell: EOF on its stdin, then the channel's close."""
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.channel.shutdown_write()  # errors: the connection is going anyway
        self.channel.close()
