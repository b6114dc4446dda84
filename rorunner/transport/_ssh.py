"""The SSH transport: one pooled SSHClient + SFTP session per host, exec and file moves."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO, TypeVar

import paramiko

from rorunner.errors import RemoteFailure, TransportError, UnreachableError
from rorunner.model import Become, ConnectionSpec
from rorunner.transport import _ssh_sftp as sftp_ops
from rorunner.transport._shell import LAUNCHER, PidHeader, kill_group_command, remote_script
from rorunner.transport._ssh_alive import Watchdog
from rorunner.transport._ssh_become import command_line, escalate, sftp_command
from rorunner.transport._ssh_connect import EVENTS, connect
from rorunner.transport._ssh_exec import (
    CommandTimeout,
    KeptShell,
    observe_exit_signals,
    pump,
    run_small,
    wait_exit_status,
)
from rorunner.transport._ssh_read import read_file
from rorunner.transport._ssh_route import Tunnel, Tunneled, tunnel_through
from rorunner.transport._temps import clean_local_dir_once

# sshd's MaxSessions defaults to 10: the SFTP session, the kept shell and 7 more commands
# stay below it.
MAX_CHANNELS = 7
_HELPER_LIMIT = 30.0
_SFTP_REPLY_LIMIT = 120.0
_BECOME_LIMIT = 30.0  # sudo's answer (PAM may pause a few seconds after a wrong password)
_T = TypeVar("_T")
Session = tuple[paramiko.SFTPClient, str]


class SshConnection:
    """One authenticated SSHClient, its lazily opened SFTP sessions (the login user's and one
    per become user), its kept shell, and a channel limit. Become SFTP sessions each hold a
    command slot; the kept shell is a session beside the slots."""

    def __init__(self, spec: ConnectionSpec, tunnel: Tunnel | None = None) -> None:
        self.spec = spec
        if tunnel is None:
            self.client, self.target, self.link = connect(spec)
        else:
            self.client, self.target, self.link = connect(spec, tunnel)
        transport = self.client.get_transport()
        assert transport is not None  # connect() returns an authenticated client
        observe_exit_signals(transport)
        # Its probes also keep NAT mappings of long quiet commands alive.
        self._watchdog = Watchdog(transport, self.target.keepalive, spec.name)
        self._watchdog.start()
        self._channels = threading.BoundedSemaphore(MAX_CHANNELS)
        self._sftp_lock = threading.RLock()
        self._sftp: paramiko.SFTPClient | None = None
        self._home: str | None = None
        self._uid: int | None = None
        self._as: dict[str, tuple[paramiko.SFTPClient, str, int]] = {}  # become user -> session
        self._shell_lock = threading.Lock()
        self._shell: KeptShell | None = None
        self._shell_taken = False
        # Work dirs made or found by prepare_dir, per user (None: login), under the lock.
        self.prepared: set[tuple[str | None, str]] = set()

    def is_active(self) -> bool:
        """Whether the SSH transport is still up."""
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def transport_for(self, spec: ConnectionSpec) -> SshTransport:
        """A Transport view on this connection that names hosts as `spec` does."""
        return SshTransport(self, spec)

    def close(self) -> None:
        """Close the SSH connection (and so the SFTP sessions; a blocked SFTP call fails),
        then its link (a ProxyCommand is stopped, a bastion's channel closed)."""
        EVENTS.info("closing the connection", extra={"host": self.spec.name})
        self._watchdog.stop()
        self._close_shell()
        self._close_sessions()
        self.link.shutdown()
        self.client.close()
        self.link.close()

    def take_shell(self, name: str) -> KeptShell | None:
        """The kept shell (started on first use) for one command; None while another command
        has it (that one then runs on a channel of its own)."""
        with self._shell_lock:
            if self._shell_taken:
                return None
            self._shell_taken, shell, self._shell = True, self._shell, None
        if shell is not None and not shell.usable():
            with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
                shell.channel.close()
            shell = None
        if shell is None:
            try:
                shell = KeptShell(self.open_channel(name))
            except BaseException:
                self.give_back(None)
                raise
        return shell

    def give_back(self, shell: KeptShell | None) -> None:
        """Return the kept shell after a command (None: it was closed, start another)."""
        with self._shell_lock:
            self._shell, self._shell_taken = shell, False

    def _close_shell(self) -> None:
        with self._shell_lock:
            shell, self._shell = self._shell, None
        if shell is not None:
            with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
                shell.close()

    def _close_sessions(self) -> None:
        """Close the SFTP channels before the connection: sshd then sees each channel's EOF
        and CLOSE first and its sftp-server ends with it (dropped with the TCP connection
        instead, many outlived it)."""
        sessions = [session for session, *_ in self._as.values()]
        if self._sftp is not None:
            sessions.append(self._sftp)
        self._sftp = None
        self._as = {}
        for sftp in sessions:
            # Sends the channel's EOF and CLOSE; errors: the connection is closing anyway.
            with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
                sftp.close()

    def become_limit(self) -> float:
        """How long sudo may take to answer (to ask for the password, or to start)."""
        return max(_BECOME_LIMIT, 3 * self.spec.connect_timeout)

    def tunnel(self, host: str, port: int) -> Tunneled:
        """A direct-tcpip channel to host:port through this connection (as a bastion)."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise UnreachableError(self.spec.name, self.lost("a tunnel open"))
        channel = tunnel_through(
            transport, self.spec.name, self.spec.name, host, port, self.spec.connect_timeout
        )
        return Tunneled(channel, self.why_dead)

    def why_dead(self) -> str | None:
        """Why the connection was found dead: its keepalives, or a bastion's on its way."""
        return self._watchdog.reason or self.link.why_dead()

    def lost(self, during: str, error: BaseException | None = None) -> str:
        """Why the connection is gone, for an UnreachableError raised `during` something."""
        cause = self.why_dead() or (str(error) if error else "") or "the connection closed"
        return f"SSH connection lost during {during}: {cause}"

    def open_channel(self, name: str) -> paramiko.Channel:
        """A new session channel; a dead connection is reported as unreachable."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise UnreachableError(name, self.lost("a channel open"))
        try:
            return transport.open_session(timeout=self.spec.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if not transport.is_active():
                raise UnreachableError(name, self.lost("a channel open", exc)) from exc
            raise RemoteFailure(name, f"cannot open an SSH channel: {exc}") from exc

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the MAX_CHANNELS command slots."""
        with self._channels:
            yield

    def helper(self, name: str, command: str, limit: float = _HELPER_LIMIT) -> tuple[int, bytes]:
        """Run a short internal command on a fresh channel (caller holds a slot)."""
        channel = self.open_channel(name)
        try:
            return run_small(channel, command, limit)
        finally:
            channel.close()

    def uid(self, name: str, become: Become | None = None) -> int:
        """The uid of the login user (asked once) or of a become user (its SFTP session's)."""
        if become is not None:
            with self._sftp_lock:
                return self._become_session(name, become)[2]
        if self._uid is None:
            with self.slot():
                status, out = self.helper(name, "id -u")
            if status != 0 or not out.strip().isdigit():
                raise RemoteFailure(name, f"cannot learn the remote uid (id -u said {out!r})")
            self._uid = int(out)
        return self._uid

    def _sftp_session(self) -> tuple[paramiko.SFTPClient, str]:
        """The SFTP session and login home, opened on first use (caller holds the lock)."""
        if self._sftp is None or self._home is None:
            sftp = self.client.open_sftp()
            channel = sftp.get_channel()
            if channel is not None:
                # A reply that never comes must not hang the run (a bound per reply, not total).
                channel.settimeout(max(_SFTP_REPLY_LIMIT, 6 * self.spec.connect_timeout))
            self._home = sftp_ops.start_session(sftp)
            self._sftp = sftp
        return self._sftp, self._home

    def _become_session(self, name: str, become: Become) -> tuple[paramiko.SFTPClient, str, int]:
        """An SFTP session working as `become.user` through sudo (caller holds the lock)."""
        if become.user not in self._as:
            self._channels.acquire()  # an SSH session of its own, for as long as it lives
            try:
                self._as[become.user] = self._open_become_session(name, become)
            except BaseException:
                self._channels.release()
                raise
        return self._as[become.user]

    def _open_become_session(
        self, name: str, become: Become
    ) -> tuple[paramiko.SFTPClient, str, int]:
        channel = self.open_channel(name)
        try:
            channel.exec_command(sftp_command(become))
            got = escalate(channel, become, name, self.become_limit())
            channel.settimeout(max(_SFTP_REPLY_LIMIT, 6 * self.spec.connect_timeout))
            sftp = paramiko.SFTPClient(channel)
            home = sftp_ops.start_session(sftp)
        except BaseException:
            channel.close()
            raise
        if got.uid is None:
            sftp.close()
            raise RemoteFailure(name, f"become: cannot learn the uid of {become.user}")
        return sftp, home, got.uid

    def with_sftp(
        self,
        name: str,
        what: str,
        action: Callable[[paramiko.SFTPClient, str], _T],
        become: Become | None = None,
    ) -> _T:
        """Run `action(sftp, home)` under the SFTP lock, as the login user or `become.user`;
        SFTP errors become RemoteFailure."""
        with self._sftp_lock:
            try:
                if become is None:
                    sftp, home = self._sftp_session()
                else:
                    sftp, home, _ = self._become_session(name, become)
                return action(sftp, home)
            except TransportError:
                raise
            except (OSError, paramiko.SSHException, EOFError) as exc:
                if not self.is_active():
                    raise UnreachableError(name, self.lost(what, exc)) from exc
                raise RemoteFailure(name, f"{what}: {_describe(exc, what)}") from exc


def _describe(exc: BaseException, what: str) -> str:
    """The cause; a path the error names is added unless `what` already ends with it."""
    if isinstance(exc, OSError) and exc.strerror:
        path = exc.filename
        return exc.strerror + (f": {path}" if path and not what.endswith(str(path)) else "")
    return str(exc) or type(exc).__name__


class SshTransport:
    """The Transport of one host over a pooled SshConnection."""

    def __init__(self, connection: SshConnection, spec: ConnectionSpec) -> None:
        self.connection = connection
        self.spec = spec

    def exec(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
    ) -> int:
        """Run `command` via `sh -c` on the host (as the become user, through sudo, when the
        spec says so); return its exit status."""
        script = remote_script(command, env, cwd)
        deadline = None if timeout is None else time.monotonic() + timeout
        shell = None if self.spec.become else self.connection.take_shell(self.spec.name)
        if shell is not None:
            status = self._run_kept(shell, script, deadline, timeout, stdout, stderr)
        else:
            with self.connection.slot():
                status = self._run(script, deadline, timeout, stdout, stderr)
        if status < 0:
            if not self.connection.is_active():
                raise UnreachableError(self.spec.name, self.connection.lost("a command"))
            raise RemoteFailure(
                self.spec.name,
                "command ended without an exit status (killed by a signal or channel closed)",
            )
        return status

    def _run(
        self,
        script: bytes,
        deadline: float | None,
        timeout: float | None,
        stdout: BinaryIO | None,
        stderr: BinaryIO | None,
    ) -> int:
        channel = self.connection.open_channel(self.spec.name)
        header = PidHeader()
        try:
            with self._failures(channel, header, timeout):
                channel.exec_command(LAUNCHER)
                if self.spec.become is not None:
                    self._escalate(channel, header, deadline, stdout, stderr)
                channel.sendall(script)
                channel.shutdown_write()  # the command's stdin is then empty, never a hang
                pump(channel, header, stdout, stderr, deadline)
                return wait_exit_status(channel, header, deadline)
        finally:
            channel.close()

    def _run_kept(
        self,
        shell: KeptShell,
        script: bytes,
        deadline: float | None,
        timeout: float | None,
        stdout: BinaryIO | None,
        stderr: BinaryIO | None,
    ) -> int:
        """Run the script on the connection's kept shell; it is given back only when the
        command ended with its end marks (on a timeout, its process group is killed)."""
        kept: KeptShell | None = None
        try:
            with self._failures(shell.channel, shell.header, timeout):
                status = shell.run(script, stdout, stderr, deadline)
                if status is None:  # the shell died (a signal, `kill $$`): the channel says
                    return wait_exit_status(shell.channel, shell.header, deadline)
                kept = shell
                return status
        finally:
            try:
                if kept is None:
                    shell.channel.close()
            finally:
                self.connection.give_back(kept)

    @contextmanager
    def _failures(
        self, channel: paramiko.Channel, header: PidHeader, timeout: float | None
    ) -> Iterator[None]:
        """A command's timeout, Ctrl-C and SSH errors, as exec reports them."""
        name = self.spec.name
        try:
            yield
        except CommandTimeout as timed_out:
            channel.close()
            raise RemoteFailure(name, self._kill(timed_out.pid, timeout)) from None
        except KeyboardInterrupt:
            channel.close()
            if header.pid is not None:
                self.connection.helper(name, kill_group_command(header.pid), limit=5.0)
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if not self.connection.is_active():
                raise UnreachableError(name, self.connection.lost("a command", exc)) from exc
            raise RemoteFailure(name, f"command failed on the channel: {exc}") from exc

    def _escalate(
        self,
        channel: paramiko.Channel,
        header: PidHeader,
        deadline: float | None,
        stdout: BinaryIO | None,
        stderr: BinaryIO | None,
    ) -> None:
        """Turn the channel's shell into the become user's (the script follows)."""
        assert self.spec.become is not None
        limit = self.connection.become_limit()
        if deadline is not None:
            limit = min(limit, max(deadline - time.monotonic(), 0.1))
        channel.sendall(command_line(self.spec.become).encode())
        got = escalate(channel, self.spec.become, self.spec.name, limit, header)
        for sink, data in ((stdout, got.stdout), (stderr, got.stderr)):
            if sink is not None and data:
                sink.write(data)

    def _kill(self, pid: int | None, timeout: float | None) -> str:
        what = f"command timed out after {timeout:g}s"
        if pid is None:
            return f"{what}; its process id was never reported, so it may still run"
        status = self._kill_group(pid)
        if status != 0:
            return f"{what}; killing its process group {pid} failed (status {status})"
        return f"{what}; its process group {pid} was killed"

    def _kill_group(self, pid: int) -> int:
        """Kill a command's process group, as the user its processes run as."""
        become = self.spec.become
        if become is None:
            return self.connection.helper(self.spec.name, kill_group_command(pid))[0]
        channel = self.connection.open_channel(self.spec.name)
        try:
            channel.exec_command(command_line(become).removeprefix("exec "))
            escalate(channel, become, self.spec.name, self.connection.become_limit())
            channel.sendall(kill_group_command(pid).encode() + b"\n")
            channel.shutdown_write()
            if not channel.status_event.wait(_HELPER_LIMIT):
                return -1
            return channel.exit_status
        except TransportError:
            return -1
        finally:
            channel.close()

    def put(self, local: str, remote: str, mode: int | None = None) -> None:
        """Copy a local file (to the file `remote`) or tree (to the directory `remote`)."""

        def action(sftp: paramiko.SFTPClient, home: str) -> None:
            target = sftp_ops.remote_path(home, remote)
            if os.path.isdir(local):
                sftp_ops.put_tree(sftp, local, target)
            else:
                sftp_ops.put_file(sftp, local, target, mode)

        self.connection.with_sftp(
            self.spec.name, f"put {local} -> {remote}", action, self.spec.become
        )

    def put_bytes(self, data: bytes, remote: str, mode: int | None = None) -> None:
        """Write `data` to the remote file `remote` atomically (0644 unless `mode`)."""
        self.connection.with_sftp(
            self.spec.name,
            f"put {remote}",
            lambda sftp, home: sftp_ops.put_bytes(
                sftp, data, sftp_ops.remote_path(home, remote), mode
            ),
            self.spec.become,
        )

    def get(self, remote: str, local: str) -> None:
        """Copy the remote file to `local` atomically (temp file + os.replace); only a complete
        copy lands (the size the open file had), and stale local temp files go first."""
        clean_local_dir_once(os.path.dirname(os.path.abspath(local)))
        self.connection.with_sftp(
            self.spec.name,
            f"get {remote}",
            lambda sftp, home: sftp_ops.get_file(sftp, sftp_ops.remote_path(home, remote), local),
            self.spec.become,
        )

    def read(self, remote: str, limit: int) -> bytes | None:
        """The bytes of the remote file (None when missing), over SFTP; nothing is written."""
        return self.connection.with_sftp(
            self.spec.name,
            f"read {remote}",
            lambda sftp, home: read_file(sftp, sftp_ops.remote_path(home, remote), limit),
            self.spec.become,
        )

    def ensure_dir(self, path: str, private: bool = True) -> str:
        """Create `path` (0700 when private), check owner and mode, return it absolute."""
        become = self.spec.become
        uid = self.connection.uid(self.spec.name, become) if private else -1

        def action(sftp: paramiko.SFTPClient, home: str) -> str:
            target = sftp_ops.remote_path(home, path)
            sftp_ops.ensure_dir(sftp, target, private, uid)
            return target

        return self.connection.with_sftp(self.spec.name, f"ensure_dir {path}", action, become)

    def prepare_dir(self, path: str) -> str:
        """Create the work dir `path` private when missing (an existing one is left alone);
        return it absolute. Remembered per connection: asked again, it costs nothing."""
        connection, become = self.connection, self.spec.become
        user = become.user if become else None

        def action(sftp: paramiko.SFTPClient, home: str) -> str:
            target = sftp_ops.remote_path(home, path)
            if (user, target) not in connection.prepared:
                uid = lambda: connection.uid(self.spec.name, become)  # noqa: E731
                sftp_ops.make_work_dir(sftp, target, uid)
                connection.prepared.add((user, target))
            return target

        return connection.with_sftp(self.spec.name, f"prepare_dir {path}", action, become)

    def close(self) -> None:
        """Close the underlying pooled connection (the pool reopens it on next use)."""
        self.connection.close()
