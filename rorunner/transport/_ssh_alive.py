"""Dead-peer detection: SSH keepalives that expect a reply, and a watchdog that acts on silence.

Every `interval` seconds a prober thread sends `keepalive@openssh.com` with want-reply (any
answer will do: OpenSSH answers "unknown request") and waits for it. A watchdog thread
closes the transport once no reply has come for `interval x count` seconds, which wakes
everything blocked on the connection: a command waiting for output, an SFTP request waiting
for its reply, and a sender blocked on a full window or a full socket (paramiko's writer
checks every 0.1 s whether its transport was closed). The watchdog never sends anything
itself, so a send that cannot make progress cannot block it.

The probes travel inside the SSH connection, so they test the whole path (a peer whose
kernel still ACKs but whose sshd is frozen counts as dead too, and so will a hop behind a
bastion); a TCP-level timer could not. With `count` 1 the probes go every half interval,
so that one late reply on a healthy link is not mistaken for silence.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import paramiko

DEFAULT_INTERVAL = 15.0  # seconds (ssh_config ServerAliveInterval)
DEFAULT_COUNT = 3  # ssh_config ServerAliveCountMax
_EVENTS = logging.getLogger("rorunner.transport")  # see _ssh_connect.EVENTS


@dataclass(frozen=True)
class Keepalive:
    """ssh_config's ServerAliveInterval (0: no probes, no bound) and ServerAliveCountMax."""

    interval: float = DEFAULT_INTERVAL
    count: int = DEFAULT_COUNT

    @property
    def bound(self) -> float:
        """Seconds of silence after which the connection is declared dead (0: never)."""
        return self.interval * self.count

    def describe(self) -> str:
        """The settings, as a message shows them."""
        return f"ServerAliveInterval {self.interval:g} x ServerAliveCountMax {self.count}"


class Watchdog:
    """Probes one paramiko Transport and closes it when the replies stop."""

    def __init__(self, transport: paramiko.Transport, settings: Keepalive, host: str = "") -> None:
        self._transport = transport
        self._host = host  # for the connection event of a closing
        self._settings = settings
        self._period = settings.interval if settings.count > 1 else settings.interval / 2
        self._stop = threading.Event()
        self._heard = time.monotonic()
        self.reason: str | None = None  # why the watchdog closed the connection

    def start(self) -> None:
        """Start probing (nothing when the interval is 0)."""
        if self._settings.interval <= 0:
            return
        self._heard = time.monotonic()
        for target, role in ((self._probe, "probe"), (self._watch, "watch")):
            threading.Thread(target=target, name=f"rorunner-keepalive-{role}", daemon=True).start()

    def stop(self) -> None:
        """Stop both threads (a probe waiting for its reply ends when the transport closes)."""
        self._stop.set()

    def _probe(self) -> None:
        transport = self._transport
        while not self._stop.wait(self._period):
            try:
                transport.global_request("keepalive@openssh.com", wait=True)
            except (paramiko.SSHException, OSError, EOFError):
                return
            if not transport.is_active():
                return
            self._heard = time.monotonic()

    def _watch(self) -> None:
        bound = self._settings.bound
        while True:
            left = self._heard + bound - time.monotonic()
            if left <= 0:
                break
            if self._stop.wait(left):
                return
        if self._stop.is_set() or not self._transport.is_active():
            return
        self.reason = f"no reply to SSH keepalives for {bound:g}s ({self._settings.describe()})"
        _EVENTS.info("%s: closing the connection", self.reason, extra={"host": self._host})
        self._stop.set()
        self._transport.close()
