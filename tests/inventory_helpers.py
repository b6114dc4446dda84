"""Run the rorunner CLI in-process and capture what it prints (shared by inventory tests)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from rorunner.cli import main


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> CliResult:
    """`rorunner ARGS...` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
    return CliResult(code, out.getvalue(), err.getvalue())


def interrupt_when_marked(marks: Path) -> None:
    """In the background: Ctrl-C this process once a file appears in `marks` (30 s at most)."""

    def watch() -> None:
        for _ in range(3000):  # bounded: 30 s
            if any(marks.iterdir()):
                os.kill(os.getpid(), signal.SIGINT)
                return
            threading.Event().wait(0.01)

    threading.Thread(target=watch, daemon=True).start()
