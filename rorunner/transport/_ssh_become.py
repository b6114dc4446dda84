"""Becoming another user over an SSH channel with sudo: the password never in argv or env.

A channel becomes `user` by running, as the login user,

    exec sudo -S -p PROMPT -H -u USER -- /bin/sh -c 'cd "$HOME" || cd /; <mark>; INNER'

(`sudo -n` when no password was given: sudo then fails at once instead of asking). The
controller reads the channel until one of three things happens, within a bound:

- sudo's PROMPT appears on stderr: the password is sent on the channel's stdin, once; a
  second PROMPT means sudo refused it, and the channel is closed at once (no hang on a
  prompt, no second guess);
- the escalated shell's MARK line appears on stderr (after the prompt, on the same pipe, so
  in order): the user is `user` now; the rest of the channel is INNER's;
- the channel ends, or the bound passes: sudo said no (its words are in the error).

INNER is `exec /bin/sh -s` for commands (the script then follows on stdin, as for a plain
command) or an sftp-server for file transfers (its stdout is then the SFTP stream; the MARK
line carries the user's uid for the work-dir checks).
"""

from __future__ import annotations

import secrets
import shlex
import threading
import time
from dataclasses import dataclass

import paramiko

from rorunner.errors import RemoteFailure, UnreachableError
from rorunner.model import Become
from rorunner.transport._shell import PidHeader

# sudo expands %-escapes in its prompt: none here. Unique per process, so that nothing a
# login script prints can be taken for it.
PROMPT = f"[rorunner sudo {secrets.token_hex(6)}] "
MARK = f"__RORUNNER_BECAME_{secrets.token_hex(6)}__"
_HOME = 'cd "$HOME" 2>/dev/null || cd /'
# Where distributions keep OpenSSH's sftp-server (Debian, Fedora/RHEL, Arch, others).
SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/lib/sftp-server",
)
_POLL = 0.5  # at most this long between checks of the channel's state
_CHUNK = 32768
_SAID_LIMIT = 4000
_SUDO_NEEDS_PASSWORD = ("a password is required", "a terminal is required")


def _sudo(become: Become, inner: str) -> str:
    flags = ["-S", "-p", PROMPT] if become.password is not None else ["-n"]
    argv = ["sudo", *flags, "-H", "-u", become.user, "--", "/bin/sh", "-c", inner]
    return "exec " + shlex.join(argv)


def command_line(become: Become) -> str:
    """The line that makes a command channel's shell `become.user`, reading its script next."""
    return _sudo(become, f"{_HOME}; printf '%s\\n' {MARK} >&2; exec /bin/sh -s") + "\n"


def sftp_command(become: Become) -> str:
    """The exec request of an SFTP channel working as `become.user` (MARK carries its uid)."""
    servers = " ".join(SFTP_SERVERS)
    inner = (
        f"{_HOME}; printf '%s %s\\n' {MARK} \"$(id -u)\" >&2; "
        f'for p in {servers}; do [ -x "$p" ] && exec "$p"; done; '
        "echo 'no sftp-server found' >&2; exit 127"
    )
    return _sudo(become, inner)


@dataclass
class Escalated:
    """What came on the channel up to the MARK line."""

    uid: int | None  # from an SFTP channel's MARK line
    stdout: bytes  # the command's own output that came with it (after the PID header)
    stderr: bytes  # the command's own stderr after the MARK line


class _Reader:
    """Both streams of a channel read without blocking, until MARK or a decision."""

    def __init__(self, channel: paramiko.Channel, header: PidHeader | None) -> None:
        self.channel = channel
        self.header = header
        self.out = b""
        self.err = b""
        self.closed = False
        # Set by paramiko when either stream gets data or ends (as in _ssh_exec.pump).
        self.ready = threading.Event()
        channel.in_buffer.set_event(self.ready)
        channel.in_stderr_buffer.set_event(self.ready)

    def read(self) -> None:
        self.channel.settimeout(0.0)
        for recv, stream in ((self.channel.recv, "out"), (self.channel.recv_stderr, "err")):
            try:
                data = recv(_CHUNK)
            except TimeoutError:
                continue
            if not data:
                self.closed = self.closed or stream == "out"
            elif stream == "out":
                self.out += self.header.feed(data) if self.header else data
            else:
                self.err += data


def escalate(
    channel: paramiko.Channel,
    become: Become,
    name: str,
    limit: float,
    header: PidHeader | None = None,
) -> Escalated:
    """Answer sudo's prompt (once) and wait for MARK on a channel whose sudo line was sent;
    RemoteFailure when sudo refuses, asks without a password to give, or says nothing."""
    reader = _Reader(channel, header)
    deadline = time.monotonic() + limit
    answered = 0
    while time.monotonic() < deadline:
        reader.read()
        marked = reader.err.find(MARK.encode())
        if marked >= 0 and b"\n" in reader.err[marked:]:
            return _escalated(reader, marked)
        prompts = reader.err.count(PROMPT.encode())
        if prompts > answered:
            if become.password is None or answered:
                channel.close()
                raise RemoteFailure(name, _refused(become, reader.err, answered > 0))
            channel.sendall((become.password.reveal() + "\n").encode())
            answered = prompts
        if reader.closed or channel.exit_status_ready():
            if not channel.get_transport() or not channel.get_transport().is_active():
                raise UnreachableError(name, "SSH connection lost while sudo was starting")
            raise RemoteFailure(name, _refused(become, reader.err, answered > 0))
        reader.ready.wait(min(_POLL, max(deadline - time.monotonic(), 0.0)))
    channel.close()
    raise RemoteFailure(
        name,
        f"become: no answer from sudo (becoming {become.user}) within {limit:g}s"
        + _said(reader.err),
    )


def _escalated(reader: _Reader, marked: int) -> Escalated:
    end = reader.err.index(b"\n", marked)
    words = reader.err[marked:end].split()
    uid = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
    return Escalated(uid, reader.out, reader.err[end + 1 :])


def _said(err: bytes) -> str:
    text = err.decode("utf-8", "replace").replace(PROMPT, "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f" (sudo said: {'; '.join(lines)[:_SAID_LIMIT]})" if lines else ""


def _refused(become: Become, err: bytes, answered: bool) -> str:
    said = _said(err)
    if answered:
        return (
            f"become: sudo did not accept the become password to become {become.user} "
            f"(-K or ansible_become_password){said}"
        )
    if become.password is None and any(p in said for p in _SUDO_NEEDS_PASSWORD):
        return (
            f"become: sudo needs a password to become {become.user} here: give -K "
            f"(--ask-become-pass) or set ansible_become_password{said}"
        )
    return f"become: sudo could not become {become.user}{said}"
