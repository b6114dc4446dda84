"""SFTP requests whose every reply is checked: the one module that uses paramiko's SFTP internals.

paramiko's pipelined `SFTPFile.write` files the server's write replies under `type(None)`,
which drops them, and its `close()` swallows a failed close: a full disk went unnoticed. Its
prefetching read takes an error or end-of-file reply for the end of the file, and sends its
requests from a thread that outlives a failed read. Here each request (open, every write,
fsetstat, close; every read; a work dir's mkdir and stats) is sent with
`SFTPClient._async_request` under a collector, which paramiko's `_read_response` hands each
reply to, all in the calling thread. Uses `_async_request`, `_read_response`, `_request`,
`_convert_status` and `SFTPAttributes._from_msg` (present from paramiko 1.x to 5.x;
tests/test_transport_temps.py checks them, pyproject pins the major).
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass

import paramiko
from paramiko.message import Message
from paramiko.sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_HANDLE,
    CMD_MKDIR,
    CMD_OPEN,
    CMD_READ,
    CMD_STAT,
    CMD_STATUS,
    CMD_WRITE,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_EXCL,
    SFTP_FLAG_READ,
    SFTP_FLAG_WRITE,
    int64,
)

_ST_RDONLY = 1  # statvfs f_flag
LIMITS = "limits@openssh.com"  # OpenSSH's sizes of requests, in PROTOCOL's words


@dataclass(frozen=True)
class Limits:
    """What a server says of itself in reply to limits@openssh.com (0: no limit given)."""

    packet: int  # the longest SFTP message it takes
    read: int  # the most data one read returns
    write: int  # the most data one write may carry


@dataclass(frozen=True)
class Refusal:
    """A request the server refused: what it was, how far the data had come, and why."""

    what: str  # "write", "chmod", "close"
    offset: int  # bytes sent before the refused request
    error: OSError


class Replies:
    """Status replies of pipelined requests; the first refusal is kept."""

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self._sftp = sftp
        # request number -> (what, offset, bytes of data it carries)
        self._sent: dict[int, tuple[str, int, int]] = {}
        self.refusal: Refusal | None = None
        self.created: int | None = None  # st_mode of the open file, when a "stat" asked

    def send(self, what: str, offset: int, kind: int, *args: object, carries: int = 0) -> None:
        """Send one request whose reply is a status (or attributes, for a "stat")."""
        number: int = self._sftp._async_request(self, kind, *args)  # type: ignore[attr-defined]
        self._sent[number] = (what, offset, carries)

    @property
    def in_flight(self) -> int:
        """Bytes of data in the requests still without a reply."""
        return sum(carries for _, _, carries in self._sent.values())

    def _async_response(self, kind: int, msg: Message, number: int) -> None:
        """paramiko's callback for each reply to a request this collector sent."""
        what, offset, _ = self._sent.pop(number, ("request", 0, 0))
        if self.refusal is not None:
            return
        if what == "stat":  # only informs: a server that cannot answer it gets its chmod
            if kind == CMD_ATTRS:
                self.created = paramiko.SFTPAttributes._from_msg(msg).st_mode  # type: ignore[attr-defined]
            return
        if kind != CMD_STATUS:
            error = OSError(errno.EPROTO, f"unexpected SFTP reply type {kind}")
            self.refusal = Refusal(what, offset, error)
            return
        try:
            self._sftp._convert_status(msg)  # type: ignore[attr-defined]
        except EOFError:
            self.refusal = Refusal(what, offset, OSError(errno.EIO, "unexpected end of file"))
        except OSError as refused:
            self.refusal = Refusal(what, offset, refused)

    def read_ready(self) -> None:
        """Take in the replies that have already arrived, without waiting for more."""
        channel = self._sftp.sock
        while self._sent and channel.recv_ready():
            self._sftp._read_response()  # type: ignore[attr-defined]

    def read_until_room(self, window: int, more: int) -> None:
        """Wait for replies until `more` bytes fit in `window` beside those in flight, or
        none are in flight (each wait bounded by the channel's timeout)."""
        while self.in_flight and self.in_flight + more > window:
            self._sftp._read_response()  # type: ignore[attr-defined]

    def read_all(self) -> None:
        """Wait for every outstanding reply (bounded by the channel's timeout)."""
        while self._sent:
            self._sftp._read_response()  # type: ignore[attr-defined]


class Batch:
    """Replies to pipelined requests of any kind, by request number, all in one round trip."""

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self._sftp = sftp
        self._replies: dict[int, tuple[int, Message] | None] = {}

    def send(self, kind: int, *args: object) -> int:
        """Send one request; its number names its reply."""
        number: int = self._sftp._async_request(self, kind, *args)  # type: ignore[attr-defined]
        self._replies[number] = None
        return number

    def _async_response(self, kind: int, msg: Message, number: int) -> None:
        """paramiko's callback for each reply to a request this batch sent."""
        self._replies[number] = (kind, msg)

    def read_all(self) -> None:
        """Wait for every reply (bounded by the channel's timeout)."""
        while None in self._replies.values():
            self._sftp._read_response()  # type: ignore[attr-defined]

    def status(self, number: int) -> OSError | None:
        """The error a status reply says (None: done)."""
        kind, msg = self._reply(number)
        if kind != CMD_STATUS:
            return OSError(errno.EPROTO, f"unexpected SFTP reply type {kind}")
        return self._error(msg)

    def attrs(self, number: int) -> paramiko.SFTPAttributes | OSError:
        """The attributes a stat's reply holds, or the error it says."""
        kind, msg = self._reply(number)
        if kind == CMD_ATTRS:
            return paramiko.SFTPAttributes._from_msg(msg)  # type: ignore[attr-defined,no-any-return]
        if kind == CMD_STATUS:
            error = self._error(msg)
            if error is not None:
                return error
        return OSError(errno.EPROTO, f"unexpected SFTP reply type {kind} to a stat")

    def data(self, number: int) -> bytes | OSError:
        """The bytes a read's reply holds (b"" at the end of the file), or the error."""
        kind, msg = self._reply(number)
        if kind == CMD_DATA:
            data: bytes = msg.get_string()
            return data
        if kind == CMD_STATUS:
            try:
                self._sftp._convert_status(msg)  # type: ignore[attr-defined]
            except EOFError:
                return b""
            except OSError as refused:
                return refused
        return OSError(errno.EPROTO, f"unexpected SFTP reply type {kind} to a read")

    def limits(self, number: int) -> Limits | None:
        """What a limits@openssh.com reply says (None: the server does not say)."""
        kind, msg = self._reply(number)
        if kind != CMD_EXTENDED_REPLY:
            return None  # a status: not supported (or refused) here
        return Limits(msg.get_int64(), msg.get_int64(), msg.get_int64())  # short: zeros

    def _reply(self, number: int) -> tuple[int, Message]:
        reply = self._replies[number]
        assert reply is not None, "read_all() first"
        return reply

    def _error(self, msg: Message) -> OSError | None:
        try:
            self._sftp._convert_status(msg)  # type: ignore[attr-defined]
        except EOFError:
            return OSError(errno.EIO, "unexpected end of file")
        except OSError as refused:
            return refused
        return None


@dataclass(frozen=True)
class MadeDir:
    """A mkdir's outcome (None: made) and the stats of the path and its parent taken right
    after it (each attributes or the error the server said)."""

    error: OSError | None
    attrs: paramiko.SFTPAttributes | OSError
    parent: paramiko.SFTPAttributes | OSError


def session_start(sftp: paramiko.SFTPClient) -> tuple[Limits | None, str]:
    """A new session's limits (None: the server does not say) and working directory, asked
    together: one round trip."""
    batch = Batch(sftp)
    asked = batch.send(CMD_EXTENDED, LIMITS)
    home = sftp.normalize(".")  # its reply comes after the limits', which batch takes
    batch.read_all()
    return batch.limits(asked), home


def make_dir(sftp: paramiko.SFTPClient, path: str, mode: int) -> MadeDir:
    """mkdir `path`, then stat it and its parent, pipelined: one round trip. The server
    answers requests in order, so the stats see the directory the mkdir made or found."""
    batch = Batch(sftp)
    attrs = paramiko.SFTPAttributes()
    attrs.st_mode = mode
    made = batch.send(CMD_MKDIR, path, attrs)
    itself = batch.send(CMD_STAT, path)
    parent = batch.send(CMD_STAT, posixpath.dirname(path) or "/")
    batch.read_all()
    return MadeDir(batch.status(made), batch.attrs(itself), batch.attrs(parent))


def open_new(sftp: paramiko.SFTPClient, path: str, mode: int = 0o600) -> bytes:
    """Create `path` for writing, exclusively (never an existing file or a link), asking for
    `mode` (which the server's umask may narrow)."""
    attrs = paramiko.SFTPAttributes()
    attrs.st_mode = mode
    return _open(sftp, path, SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_EXCL, attrs)


def open_read(sftp: paramiko.SFTPClient, path: str) -> bytes:
    """Open `path` for reading (as `SFTPClient.open(path, "rb")` does); the server's handle."""
    return _open(sftp, path, SFTP_FLAG_READ, paramiko.SFTPAttributes())


def _open(
    sftp: paramiko.SFTPClient, path: str, flags: int, attrs: paramiko.SFTPAttributes
) -> bytes:
    kind, msg = sftp._request(CMD_OPEN, path, flags, attrs)  # type: ignore[attr-defined]
    if kind != CMD_HANDLE:
        raise OSError(errno.EPROTO, f"unexpected SFTP reply type {kind} to open", path)
    handle: bytes = msg.get_binary()
    return handle


@dataclass(frozen=True)
class Written:
    """How a write_handle ended: the refused request (None: all were acknowledged), and the
    file's st_mode before any chmod, when it was asked for."""

    refusal: Refusal | None
    created: int | None


def write_handle(
    sftp: paramiko.SFTPClient,
    handle: bytes,
    chunks: Iterable[bytes],
    pace: tuple[int, int],
    chmod: int | None,
    look: bool,
) -> Written:
    """Pipeline `chunks` as write requests of at most `pace[0]` bytes, at most `pace[1]`
    bytes of them awaiting replies at once; then (when `look`) an fstat, (unless `chmod` is
    None) a chmod, and the close.

    Stops sending at the first refused request, and returns it once every reply is in (None:
    all were acknowledged). An exception means the session itself broke (the close is then
    sent on a best-effort basis).
    """
    replies = Replies(sftp)
    try:
        size = _send_writes(replies, handle, chunks, pace)
        if replies.refusal is None and look:
            replies.send("stat", size, CMD_FSTAT, handle)
        if replies.refusal is None and chmod is not None:
            attrs = paramiko.SFTPAttributes()
            attrs.st_mode = chmod
            replies.send("chmod", size, CMD_FSETSTAT, handle, attrs)
    except BaseException:
        with suppress(Exception):  # the session broke: the original error is what matters
            replies.send("close", 0, CMD_CLOSE, handle)
        raise
    replies.send("close", size, CMD_CLOSE, handle)
    replies.read_all()
    return Written(replies.refusal, replies.created)


def _send_writes(
    replies: Replies, handle: bytes, chunks: Iterable[bytes], pace: tuple[int, int]
) -> int:
    """Send the write requests, each once the replies already in are read and the window
    has room for it; stop at the first refusal."""
    request, window = pace
    offset = 0
    for chunk in chunks:
        for start in range(0, len(chunk), request):
            piece = chunk[start : start + request]
            replies.read_ready()
            replies.read_until_room(window, len(piece))
            if replies.refusal is not None:
                return offset
            at = int64(offset)
            replies.send("write", offset, CMD_WRITE, handle, at, piece, carries=len(piece))
            offset += len(piece)
    return offset


class Reads:
    """Replies to pipelined reads: (offset, data) in arrival order; b"" means end of file."""

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self._sftp = sftp
        self._sent: dict[int, int] = {}  # request number -> offset
        self.arrived: list[tuple[int, bytes]] = []
        self.error: OSError | None = None

    @property
    def pending(self) -> int:
        """Reads still without a reply."""
        return len(self._sent)

    def send(self, handle: bytes, offset: int, length: int) -> None:
        """Ask for `length` bytes at `offset`."""
        number: int = self._sftp._async_request(  # type: ignore[attr-defined]
            self, CMD_READ, handle, int64(offset), length
        )
        self._sent[number] = offset

    def _async_response(self, kind: int, msg: Message, number: int) -> None:
        """paramiko's callback for each reply to a read this collector sent."""
        offset = self._sent.pop(number, 0)
        if kind == CMD_DATA:
            self.arrived.append((offset, msg.get_string()))
            return
        try:
            self._sftp._convert_status(msg)  # type: ignore[attr-defined]
            error = OSError(errno.EPROTO, "a read was answered without data")
        except EOFError:
            self.arrived.append((offset, b""))
            return
        except OSError as refused:
            error = refused
        self.error = self.error or error

    def wait(self) -> None:
        """Wait for one more reply (bounded by the channel's timeout)."""
        self._sftp._read_response()  # type: ignore[attr-defined]


def read_handle(
    sftp: paramiko.SFTPClient,
    handle: bytes,
    size: int,
    write_at: Callable[[int, bytes], None],
    request: int,
    depth: int,
    start: int = 0,
) -> int:
    """Read the open file's bytes from `start` to `size` with up to `depth` requests of
    `request` bytes in flight, handing each piece to `write_at(offset, data)`; returns how
    many bytes came.

    A short reply is asked again for its rest; an end-of-file reply stops the asking (the
    count then says the file shrank); a refused read raises once the replies are in.
    """
    reads = Reads(sftp)
    todo = _ranges(start, size, request)
    retry: list[tuple[int, int]] = []
    asked: dict[int, int] = {}  # offset -> length, for the rest of a short reply
    got, ended = 0, False
    while True:
        while reads.pending < depth and not ended and reads.error is None:
            offset, length = retry.pop() if retry else next(todo, (-1, 0))
            if offset < 0:
                break
            reads.send(handle, offset, length)
            asked[offset] = length
        if not reads.pending:
            break
        reads.wait()
        for offset, data in reads.arrived:
            length = asked.pop(offset)
            ended = ended or not data
            if data:
                write_at(offset, data)
                got += len(data)
            if data and len(data) < length:
                retry.append((offset + len(data), length - len(data)))
        reads.arrived.clear()
    if reads.error is not None:
        raise reads.error
    return got


def _ranges(start: int, size: int, request: int) -> Iterator[tuple[int, int]]:
    for offset in range(start, size, request):
        yield offset, min(request, size - offset)


def read_to_end(
    sftp: paramiko.SFTPClient,
    handle: bytes,
    write_at: Callable[[int, bytes], None],
    request: int,
    start: int = 0,
) -> int:
    """Read a file whose size is unknown (a /proc file says 0) request by request from
    `start` to its end; returns where it ended."""
    reads, got = Reads(sftp), start
    while True:
        reads.send(handle, got, request)
        reads.wait()
        if reads.error is not None:
            raise reads.error
        _, data = reads.arrived.pop()
        if not data:
            return got
        write_at(got, data)
        got += len(data)


@dataclass(frozen=True)
class FirstLook:
    """An open file's attributes and its first bytes (b"": it is empty), or why not."""

    attrs: paramiko.SFTPAttributes | OSError
    data: bytes | OSError


def first_look(sftp: paramiko.SFTPClient, handle: bytes, length: int) -> FirstLook:
    """fstat the open file and read its first `length` bytes, pipelined: one round trip
    (a small file is then read whole)."""
    batch = Batch(sftp)
    attrs = batch.send(CMD_FSTAT, handle)
    read = batch.send(CMD_READ, handle, int64(0), length)
    batch.read_all()
    return FirstLook(batch.attrs(attrs), batch.data(read))


def close_later(sftp: paramiko.SFTPClient, handle: bytes) -> None:
    """Close a handle that was only read, without waiting: paramiko drops the reply (its
    own `SFTPFile.close` ignores a failed close too), and the server closes it before it
    handles the next request."""
    with suppress(OSError, EOFError, paramiko.SSHException):
        sftp._async_request(type(None), CMD_CLOSE, handle)  # type: ignore[attr-defined]


def filesystem_state(sftp: paramiko.SFTPClient, path: str) -> tuple[int, int, bool] | None:
    """(bytes free, inodes free, read-only) of the filesystem holding `path` (statvfs@openssh.com).

    None when the server does not offer the extension.
    """
    request = sftp._request  # type: ignore[attr-defined]
    try:
        kind, msg = request(CMD_EXTENDED, "statvfs@openssh.com", path)
    except (OSError, EOFError):
        return None
    if kind != CMD_EXTENDED_REPLY:
        return None
    _bsize, frsize, _blocks, _bfree, bavail, _files, _ffree, favail, _fsid, flag, _max = (
        msg.get_int64() for _ in range(11)
    )
    return bavail * frsize, favail, bool(flag & _ST_RDONLY)
