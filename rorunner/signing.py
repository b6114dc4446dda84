"""The project's signing key: signatures of steps whose inputs hold a secret are keyed HMACs.

A step's signature is stored in `.rorunner/`; a plain hash of inputs that include a weak
secret (a short password from a vault) could be brute-forced offline from it. Those
signatures are therefore HMAC-SHA256 under a random key of the project,
`.rorunner/signing-key` (32 bytes, mode 0600, made on the first run that needs it). Losing
the key only makes those steps run again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "signing-key"
KEY_BYTES = 32


class ProjectKey:
    """The key of one project's state dir, read (or made in memory) when first needed."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / KEY_FILE
        self._key: bytes | None = None
        self._unsaved = False

    def __call__(self) -> bytes:
        """The key: the saved one, else a new random one (kept until `save`)."""
        if self._key is None:
            try:
                self._key = self.path.read_bytes()
            except FileNotFoundError:
                self._key, self._unsaved = secrets.token_bytes(KEY_BYTES), True
        return self._key

    def save(self) -> bool:
        """Write a key made by this process (0600); one already there is never replaced.
        Whether this call wrote the file (False: there was nothing to save, or another run
        saved its own key meanwhile, which is not the key this process used)."""
        if not self._unsaved or self._key is None:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False  # made meanwhile by another run: its steps will run once more
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._key)
        self._unsaved = False
        return True
