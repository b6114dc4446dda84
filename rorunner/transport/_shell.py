"""Remote command lines: quoting, env validation, the PID header and the kill command."""

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


def remote_command_line(command: str, env: Mapping[str, str] | None, cwd: str | None) -> str:
    """The line handed to the login shell: print our PID, cd, then exec `sh -c command`.

    sshd starts every session's shell in a new session (setsid), so that shell's
    PID is also its process group id; `exec` keeps it, so the group can be killed.
    """
    parts = [f"printf '{PID_MARKER.decode()}%s\\n' \"$$\""]
    if cwd:
        parts.append(f"cd -- {shlex.quote(cwd)}")
    assignments = [f"{name}={shlex.quote(value)}" for name, value in check_env(env).items()]
    runner = "exec env " + " ".join(assignments) if assignments else "exec"
    parts.append(f"{runner} sh -c {shlex.quote(command)}")
    return " && ".join(parts)


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
