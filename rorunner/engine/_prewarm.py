"""Connect early: open the SSH connection of every host with remote work pending, in the
background, so the handshake overlaps doit's start and the local_pre steps."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from rorunner.errors import RorunnerError
from rorunner.model import ConnectionSpec, PlanStep

REMOTE_KINDS = ("ship", "remote", "fetch")


class Prewarm:
    """One background connect per host; steps wait for it and share its verdict."""

    def __init__(self, specs: Mapping[str, ConnectionSpec]) -> None:
        self._done = {host: threading.Event() for host in specs}
        self._errors: dict[str, RorunnerError] = {}
        for host, spec in specs.items():
            thread = threading.Thread(
                target=self._connect, args=(host, spec), name=f"connect-{host}", daemon=True
            )
            thread.start()

    def _connect(self, host: str, spec: ConnectionSpec) -> None:
        from rorunner.transport import default_pool  # noqa: PLC0415 - only when work is pending

        try:
            default_pool().get(spec)
        except RorunnerError as exc:
            self._errors[host] = exc
        finally:
            self._done[host].set()

    def wait(self, host: str) -> RorunnerError | None:
        """The connect error of `host` once its connect has finished (None: connected)."""
        done = self._done.get(host)
        if done is None:
            return None
        done.wait()
        return self._errors.get(host)


def hosts_to_prewarm(pending: Iterable[PlanStep]) -> dict[str, ConnectionSpec]:
    """Hosts (with their spec) having a pending step of a remote kind over SSH."""
    out: dict[str, ConnectionSpec] = {}
    for step in pending:
        if step.spec.kind in REMOTE_KINDS and step.conn.connection != "local":
            out.setdefault(step.host, step.conn)
    return out
