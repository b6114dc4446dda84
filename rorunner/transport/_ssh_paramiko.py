"""paramiko, imported without invoke.

paramiko imports invoke (and with it asyncio and unittest.mock, ~60 ms of every run) only to
run an ssh_config `Match exec`; `_ssh_route.load_invoke` gives it invoke when a config has
one. invoke is held back only while paramiko itself is imported: it stays importable for
everything else in the process (a dodo.py using Fabric, say).

paramiko's __init__ also imports importlib.metadata (with email, zipfile, csv, ...: ~30 ms,
on the way to every run's first connect) only to read its own version: while it is
imported, a stand-in answers that from the METADATA beside the package.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

_HELD = "invoke"
_METADATA = "importlib.metadata"


def load_paramiko() -> None:
    """Import paramiko (once), without letting it import invoke."""
    if "paramiko" in sys.modules:
        return
    held = _HELD not in sys.modules
    if held:
        sys.modules[_HELD] = None  # type: ignore[assignment]  # "import invoke" fails
    stand_in = _METADATA not in sys.modules
    if stand_in:
        sys.modules[_METADATA] = _VersionOnly(_METADATA)
    try:
        import paramiko  # noqa: F401, PLC0415 - the import this module exists for
    finally:
        if held and sys.modules.get(_HELD, ...) is None:
            del sys.modules[_HELD]
        if stand_in and isinstance(sys.modules.get(_METADATA), _VersionOnly):
            del sys.modules[_METADATA]


class _VersionOnly(types.ModuleType):
    """importlib.metadata as paramiko's __init__ uses it: `version(name)` of an imported
    package, from the one NAME-*.dist-info beside it; else (or for anything else) the
    real module."""

    @staticmethod
    def version(name: str) -> str:
        """The installed version of distribution `name`."""
        found = _beside(name)
        return found if found is not None else str(_real_metadata().version(name))

    def __getattr__(self, name: str) -> object:
        # Another thread importing from importlib.metadata while paramiko loads gets the
        # real module's attribute (the stand-in then steps aside).
        return getattr(_real_metadata(), name)


def _real_metadata() -> types.ModuleType:
    """The real importlib.metadata, imported now if need be (the stand-in removed)."""
    if isinstance(sys.modules.get(_METADATA), _VersionOnly):
        del sys.modules[_METADATA]
    from importlib import metadata  # noqa: PLC0415 - the real one, only when needed

    return metadata


def _beside(name: str) -> str | None:
    """The Version of the one `name`-*.dist-info next to the imported package `name`."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None)
    if not origin:
        return None
    infos = list(Path(origin).parent.parent.glob(f"{name}-*.dist-info"))
    if len(infos) != 1:
        return None
    try:
        head = (infos[0] / "METADATA").read_text(encoding="utf-8").split("\n\n", 1)[0]
    except (OSError, UnicodeError):
        return None
    fields = dict(line.partition(": ")[::2] for line in head.splitlines())
    if fields.get("Name", "").lower() != name or not fields.get("Version"):
        return None
    return fields["Version"].strip()
