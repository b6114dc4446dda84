"""paramiko, imported without invoke.

paramiko imports invoke (and with it asyncio and unittest.mock, ~60 ms of every run) only to
run an ssh_config `Match exec`; `_ssh_route.load_invoke` gives it invoke when a config has
one. invoke is held back only while paramiko itself is imported: it stays importable for
everything else in the process (a dodo.py using Fabric, say).
"""

from __future__ import annotations

import sys

_HELD = "invoke"


def load_paramiko() -> None:
    """Import paramiko (once), without letting it import invoke."""
    if "paramiko" in sys.modules:
        return
    held = _HELD not in sys.modules
    if held:
        sys.modules[_HELD] = None  # type: ignore[assignment]  # "import invoke" fails
    try:
        import paramiko  # noqa: F401, PLC0415 - the import this module exists for
    finally:
        if held and sys.modules.get(_HELD, ...) is None:
            del sys.modules[_HELD]
