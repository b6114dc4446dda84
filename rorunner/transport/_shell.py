"""Remote command lines: the launcher, quoting, env validation, PID header, end marks, group
kill."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from rorunner.errors import InputError

PID_MARKER = b"__RORUNNER_PID__="
# A kept shell ends each command's output with this, a per-command nonce and (on stdout) the
# status, then a newline (right after the output: a last line is not held back for it).
END_MARK = b"__RORUNNER_END_"
# Bytes scanned for the PID header before giving up (a noisy shell rc file could precede it).
_HEADER_LIMIT = 64 * 1024
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Grace between TERM and KILL, in 0.1 s ticks (bounded loop on the remote side).
KILL_GRACE_TICKS = 20


def check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """Return `env` as a dict after checking every name is a shell identifier."""
    checked: dict[str, str] = {}
    for name, value in (env or {}).items():
        if not _ENV_NAME.match(name):
            raise InputError(f"environment variable name {name!r} is not an identifier")
        checked[name] = str(value)
    return checked


# What the login shell runs: report its PID, then become `sh -s`, which reads the real
# script from stdin and runs it. sshd starts each session's shell in a new session
# (setsid), so that PID is also the process group id of everything the command starts,
# and the whole group can be killed. `exec`: no extra shell process per command. When a
# signal N kills the command's shell, sshd reports the signal, and the channel turns it
# into 128+N (_ssh_exec.observe_exit_signals), the status a local `sh -c` gets.
# (No `eval "$(cat)"`: that costs a fork and a `cat` per command.)
LAUNCHER = f"printf '{PID_MARKER.decode()}%s\\n' \"$$\" && exec sh -s"


def remote_script(command: str, env: Mapping[str, str] | None, cwd: str | None) -> bytes:
    """The script LAUNCHER reads from stdin: `cd <cwd> && export K=V.. && eval <command>`.

    It travels over the channel's stdin, so env values (which may be secrets) never show
    in any process's argv on the host; every value is shlex-quoted, every name checked.
    It is one line (newlines in values stay inside quotes), so the shell has read all of
    it before the command starts: the command's own stdin is then at end of file.
    """
    parts = []
    if cwd:
        parts.append(f"cd -- {shlex.quote(cwd)}")
    assignments = [f"{name}={shlex.quote(value)}" for name, value in check_env(env).items()]
    if assignments:
        parts.append("export " + " ".join(assignments))
    parts.append(f"eval {shlex.quote(command)}")
    return (" && ".join(parts) + "\n").encode()


# A kept shell's first line: its own stderr to /dev/null (a shell reports a child's signal
# death there, e.g. "Killed", which a command run alone does not print), the channel's on fd 3.
KEPT_SETUP = b"exec 3>&2 2>/dev/null\n"


def kept_line(script: bytes, nonce: str) -> bytes:
    """What a kept shell (LAUNCHER's `sh -s`, reading command after command, after
    KEPT_SETUP) runs for one `remote_script`: the script in a subshell, so that its `cd`,
    `export`, traps and `exit` end with it, with stdin from /dev/null (the shell's own stdin
    holds the next commands) and the channel's stderr; then the end marks: the status on
    stdout, the bare mark on stderr."""
    mark = END_MARK + nonce.encode()
    return (
        b"( "
        + script
        + b") </dev/null 2>&3 3>&-; printf '%s %s\\n' "
        + mark
        + b" \"$?\"; printf '%s\\n' "
        + mark
        + b" >&3\n"
    )


class EndOfOutput:
    """Finds a kept shell's end mark in one stream: what precedes it is the command's output;
    after it, `done`, the `status` the mark carries (stdout's) and the `rest` that followed."""

    def __init__(self, nonce: str, rest: bytes = b"") -> None:
        self._needle = END_MARK + nonce.encode()
        self._buffer = rest
        self.done = False
        self.status: int | None = None
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        """Take a chunk of the stream; return what is surely the command's output (after the
        mark: nothing, the chunk goes to `rest`)."""
        if self.done:
            self.rest += data
            return b""
        buffer = self._buffer + data
        at = buffer.find(self._needle)
        if at >= 0:
            end = buffer.find(b"\n", at + len(self._needle))
            if end < 0:  # the mark's line is not complete yet
                self._buffer = buffer[at:]
                return buffer[:at]
            word = buffer[at + len(self._needle) : end].strip()
            self.status = int(word) if word.isdigit() else None
            self.done, self.rest, self._buffer = True, buffer[end + 1 :], b""
            return buffer[:at]
        cut = self._held_from(buffer)
        self._buffer = buffer[cut:]
        return buffer[:cut]

    def _held_from(self, buffer: bytes) -> int:
        """Where the longest end of `buffer` that may begin the mark starts (its length)."""
        first = self._needle[:1]
        at = buffer.find(first, max(0, len(buffer) - len(self._needle) + 1))
        while at >= 0 and not self._needle.startswith(buffer[at:]):
            at = buffer.find(first, at + 1)
        return len(buffer) if at < 0 else at

    def flush(self) -> bytes:
        """At the end of the stream (the shell is gone): whatever is still held back."""
        held, self._buffer = self._buffer, b""
        return held


def kill_group_command(pid: int) -> str:
    """A shell line that TERMs process group `pid`, waits a bounded grace, then KILLs it."""
    # `kill -SIG -PGID` without "--": dash's kill rejects "--", bash and dash take this form.
    group = f"-{int(pid)}"
    return (
        f"kill -TERM {group} 2>/dev/null; i=0; "
        f"while kill -0 {group} 2>/dev/null && [ $i -lt {KILL_GRACE_TICKS} ]; "
        "do sleep 0.1; i=$((i+1)); done; "
        f"kill -KILL {group} 2>/dev/null; exit 0"
    )


class PidHeader:
    """Strips the `__RORUNNER_PID__=<pid>` line from the start of stdout and keeps the PID."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._buffer = b""
        self._done = False

    def feed(self, data: bytes) -> bytes:
        """Take a chunk of stdout; return what belongs to the command's own output."""
        if self._done:
            return data
        self._buffer += data
        start = self._buffer.find(PID_MARKER)
        end = self._buffer.find(b"\n", start) if start >= 0 else -1
        if end >= 0:
            digits = self._buffer[start + len(PID_MARKER) : end]
            self.pid = int(digits) if digits.isdigit() else None
            return self._release(self._buffer[:start] + self._buffer[end + 1 :])
        if len(self._buffer) > _HEADER_LIMIT:
            return self._release(self._buffer)
        return b""

    def flush(self) -> bytes:
        """At end of stdout: whatever is still held back."""
        return self._release(self._buffer) if not self._done else b""

    def _release(self, data: bytes) -> bytes:
        self._done = True
        self._buffer = b""
        return data
