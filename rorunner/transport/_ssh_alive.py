"""Dead-peer detection: SSH keepalives that expect a reply, and a watchdog that acts on silence.

Every `interval` seconds a prober thread of the connection sends `keepalive@openssh.com`
with want-reply (any answer will do: OpenSSH answers "unknown request") and waits for it.
One watch thread, shared by every connection of the process, starts a connection's prober
when its first probe is due (a connection closed sooner, as most are, never has one: a
thread start costs the connecting thread a wait), and closes a transport once no
reply has come for `interval x count` seconds, which wakes everything blocked on the
connection: a command waiting for output, an SFTP request waiting for its reply, and a
sender blocked on a full window or a full socket (paramiko's writer checks every 0.1 s
whether its transport was closed). The watch never sends anything, and each closing runs in
a thread of its own (closing a tunneled connection sends on its bastion's connection), so
neither a send nor a close that cannot make progress can hold up the watch of the others.

The probes travel inside the SSH connection, so they test the whole path (a peer whose
kernel still ACKs but whose sshd is frozen counts as dead too, and so will a hop behind a
bastion); a TCP-level timer could not. With `count` 1 the probes go every half interval,
so that one late reply on a healthy link is not mistaken for silence.
"""

from __future__ import annotations

import logging
import os
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
    """Probes one paramiko Transport; the shared watch closes it when the replies stop."""

    def __init__(self, transport: paramiko.Transport, settings: Keepalive, host: str = "") -> None:
        self._transport = transport
        self._host = host  # for the connection event of a closing
        self._settings = settings
        self._period = settings.interval if settings.count > 1 else settings.interval / 2
        self._stop = threading.Event()
        self._heard = time.monotonic()
        self.probing = False  # whether the prober runs (set by the watch, under its lock)
        self.reason: str | None = None  # why the watchdog closed the connection

    def start(self) -> None:
        """Start watching; the watch starts probing when the first probe is due (nothing
        when the interval is 0)."""
        if self._settings.interval <= 0:
            return
        self._heard = time.monotonic()
        _WATCH.add(self)

    def stop(self) -> None:
        """Stop probing and watching (a probe waiting for its reply ends when the transport
        closes)."""
        self._stop.set()
        _WATCH.discard(self)

    def deadline(self) -> float:
        """When the connection is dead unless a reply comes first (monotonic seconds)."""
        return self._heard + self._settings.bound

    def first_probe(self) -> float:
        """When the first probe is due (monotonic seconds)."""
        return self._heard + self._period

    def start_probing(self) -> None:
        """Start the prober thread: a probe now, then one every period."""
        if not self._stop.is_set():
            name = "rorunner-keepalive-probe"
            threading.Thread(target=self._probe, name=name, daemon=True).start()

    def _probe(self) -> None:
        transport = self._transport
        while not self._stop.is_set():
            try:
                transport.global_request("keepalive@openssh.com", wait=True)
            except (paramiko.SSHException, OSError, EOFError):
                return
            if not transport.is_active():
                return
            self._heard = time.monotonic()
            if self._stop.wait(self._period):
                return

    def expire(self) -> None:
        """The bound has passed without a reply: close the transport."""
        if self._stop.is_set() or not self._transport.is_active():
            return
        bound = self._settings.bound
        self.reason = f"no reply to SSH keepalives for {bound:g}s ({self._settings.describe()})"
        _EVENTS.info("%s: closing the connection", self.reason, extra={"host": self._host})
        self._stop.set()
        self._transport.close()


class _Watch:
    """The one thread that watches every Watchdog's deadline and first probe; it runs while
    there is one."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Watch nothing, with no thread (also what a forked child starts from)."""
        self._changed = threading.Condition()
        self._dogs: set[Watchdog] = set()
        self._thread: threading.Thread | None = None
        self._wake = 0.0  # when the thread wakes by itself (monotonic seconds)

    def add(self, dog: Watchdog) -> None:
        """Watch `dog` (starting the thread when none runs, e.g. after a fork)."""
        with self._changed:
            self._dogs.add(dog)
            if self._thread is None or not self._thread.is_alive():
                self._wake = 0.0
                self._thread = threading.Thread(
                    target=self._run, name="rorunner-keepalive-watch", daemon=True
                )
                self._thread.start()
            elif dog.first_probe() < self._wake:  # else the thread wakes soon enough
                self._changed.notify()

    def discard(self, dog: Watchdog) -> None:
        """Stop watching `dog` (the thread finds it gone when it next wakes)."""
        with self._changed:
            self._dogs.discard(dog)

    def _run(self) -> None:
        while True:
            with self._changed:
                due, probe = self._due()
                while not due and not probe:
                    if not self._dogs:
                        self._thread = None
                        return
                    self._wake = min(_next(dog) for dog in self._dogs)
                    self._changed.wait(max(self._wake - time.monotonic(), 0.0))
                    due, probe = self._due()
                self._dogs.difference_update(due)
            for dog in probe:
                dog.start_probing()
            for dog in due:
                name = "rorunner-keepalive-close"
                threading.Thread(target=dog.expire, name=name, daemon=True).start()

    def _due(self) -> tuple[list[Watchdog], list[Watchdog]]:
        """The watched connections whose deadline has passed, and those whose prober is to
        start (marked as probing; caller holds the lock)."""
        now = time.monotonic()
        due = [dog for dog in self._dogs if dog.deadline() <= now]
        probe = [
            dog for dog in self._dogs - set(due) if not dog.probing and dog.first_probe() <= now
        ]
        for dog in probe:
            dog.probing = True
        return due, probe


def _next(dog: Watchdog) -> float:
    """When the watch must next look at `dog`."""
    return dog.deadline() if dog.probing else min(dog.deadline(), dog.first_probe())


_WATCH = _Watch()
# A forked child has none of the parent's threads, nor its connections: it starts afresh.
os.register_at_fork(after_in_child=_WATCH.reset)
