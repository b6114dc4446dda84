"""Output sinks for step commands: a log file or doit's captured stream, plus a bounded tail."""

from __future__ import annotations

import codecs
import io
import threading
from pathlib import Path
from typing import BinaryIO, TextIO, cast

TAIL_BYTES = 2048


class TailSink(io.RawIOBase):
    """A writable binary stream that forwards bytes and remembers the last TAIL_BYTES; with a
    `path`, the file is made at the first byte, so a step that writes nothing leaves no file."""

    def __init__(
        self,
        binary: BinaryIO | None = None,
        text: TextIO | None = None,
        path: Path | None = None,
    ) -> None:
        super().__init__()
        self._binary = binary
        self._text = text
        self._path = path
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = b""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        """Always writable."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Forward `data` and keep its tail."""
        chunk = bytes(data)
        with self._lock:
            if self._binary is None and self._path is not None and chunk:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._binary = self._path.open("wb")
            if self._binary is not None:
                self._binary.write(chunk)
            if self._text is not None:
                self._text.write(self._decoder.decode(chunk))
            self._tail = (self._tail + chunk)[-TAIL_BYTES:]
        return len(chunk)

    def close(self) -> None:
        """Close the log file this sink opened (a stream it was given stays open)."""
        with self._lock:
            if self._path is not None and self._binary is not None:
                self._binary.close()
                self._binary = None
                self._path = None
        super().close()

    def tail(self) -> str:
        """The last bytes written, decoded leniently."""
        return self._tail.decode("utf-8", errors="replace")

    def as_binary(self) -> BinaryIO:
        """This sink typed as the BinaryIO the transport expects."""
        return cast(BinaryIO, self)


def log_paths(log_dir: str, stem: str) -> tuple[Path, Path]:
    """The stdout and stderr log files of a step."""
    base = Path(log_dir)
    return base / f"{stem}.stdout", base / f"{stem}.stderr"
