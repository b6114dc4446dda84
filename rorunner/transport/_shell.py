"""Remote command lines: the launcher, quoting, env validation, PID header, group kill."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from rorunner.errors import InputError

PID_MARKER = b"__RORUNNER_PID__="
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
