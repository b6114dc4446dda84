"""Output sinks for step commands: a log file or doit's captured stream, plus a bounded tail,
and the quote of that tail a failed step's message carries."""

from __future__ import annotations

import codecs
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO, cast

from rorunner.masking import mask, printable

TAIL_BYTES = 4096  # a failure quotes at most this much of a step's output...
TAIL_LINES = 20  # ...and at most this many lines


class TailSink(io.RawIOBase):
    """A writable binary stream that forwards bytes, counts them and their lines, and
    remembers the last TAIL_BYTES; with a `path`, the file is made at the first byte (so a
    step that writes nothing leaves no file) and written unbuffered: each chunk is in it as
    soon as it arrives (`tail -f` follows a running step)."""

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
        self.size = 0  # bytes written so far
        self.newlines = 0

    def writable(self) -> bool:
        """Always writable."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Forward `data` and keep its tail."""
        chunk = bytes(data)
        with self._lock:
            if self._binary is None and self._path is not None and chunk:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._binary = self._path.open("wb", buffering=0)
            if self._binary is not None:
                _write_all(self._binary, chunk)
            if self._text is not None:
                self._text.write(self._decoder.decode(chunk))
            self._tail = (self._tail + chunk)[-TAIL_BYTES:]
            self.size += len(chunk)
            self.newlines += chunk.count(b"\n")
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

    @property
    def lines(self) -> int:
        """How many lines were written (a last line without a newline counts)."""
        return self.newlines + (0 if self._tail.endswith(b"\n") or not self.size else 1)

    def last_lines(self, count: int = TAIL_LINES) -> list[str]:
        """Up to `count` whole last lines (of the last TAIL_BYTES; a line cut there is dropped,
        unless it is the only one)."""
        text = self.tail()
        if self.size > len(self._tail) and "\n" in text.rstrip("\n"):
            text = text.split("\n", 1)[1]
        return text.rstrip("\n").split("\n")[-count:] if text else []

    def as_binary(self) -> BinaryIO:
        """This sink typed as the BinaryIO the transport expects."""
        return cast(BinaryIO, self)


def _write_all(stream: BinaryIO, chunk: bytes) -> None:
    """Write every byte (an unbuffered file may take a chunk in parts)."""
    view = memoryview(chunk)
    while view:
        view = view[stream.write(view) or 0 :]


def quote_output(
    out: TailSink,
    err: TailSink,
    logs: tuple[Path, Path] | None = None,
    hidden: Sequence[str] = (),
) -> str:
    """The last lines of stderr (of stdout when stderr is empty) as a failed step's message
    quotes them: a header, then each line after '| '; values in `hidden` masked. When lines
    were left out, the header points to the full log."""
    which = 1 if err.size else 0
    sink = (out, err)[which]
    if not sink.size:
        return ""
    name = ("stdout", "stderr")[which]
    lines = sink.last_lines()
    if len(lines) < sink.lines:
        log = f"; full log: {logs[which]}" if logs is not None else ""
        head = f"{name}, last {len(lines)} of {sink.lines} lines{log}:"
    else:
        head = f"{name}:"
    quoted = "\n".join(f"| {printable(line)}".rstrip() for line in lines)
    return f"{head}\n{mask(quoted, hidden)}"


def log_paths(log_dir: str, stem: str) -> tuple[Path, Path]:
    """The stdout and stderr log files of a step."""
    base = Path(log_dir)
    return base / f"{stem}.stdout", base / f"{stem}.stderr"
