"""Connection events for -vv: the transport's log records as reporter lines (logging is
imported only when they are shown)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable


class EventHandler(logging.Handler):
    """Connection events (-vv): one line each, `[host] ssh: what happened`."""

    def __init__(self, lines: Callable[[Iterable[str]], None]) -> None:
        super().__init__(logging.INFO)
        self._lines = lines

    def attach(self, name: str) -> None:
        """Listen to logger `name` (at INFO)."""
        logger = logging.getLogger(name)
        logger.addHandler(self)
        logger.setLevel(logging.INFO)

    def detach(self, name: str) -> None:
        """Stop listening to logger `name`."""
        logging.getLogger(name).removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        """Print the event."""
        host = getattr(record, "host", "?")
        self._lines([f"[{host}] ssh: {record.getMessage()}"])
