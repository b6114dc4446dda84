"""The `rorunner` process keeps its threads' memory in one malloc arena (glibc), unless the
environment chose a limit itself; the library alone leaves malloc as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Optionally runs `rorunner --version` through the entry point, then starts threads that
# malloc while all alive, and prints glibc's malloc_stats (one "Arena N:" per arena).
PROBE = """\
import ctypes, sys, threading
if sys.argv[1] == "cli":
    from rorunner.__main__ import main
    try:
        main(["--version"])
    except SystemExit:
        pass
else:
    import rorunner.engine
barrier = threading.Barrier(6)
kept = []
def work():
    kept.append([bytearray(4096) for _ in range(64)])  # above pymalloc's size: malloc's
    barrier.wait(30)
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    environ.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        env={**environ, "PYTHONPATH": str(REPO), **env},
        timeout=120,
        check=True,
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_the_cli_process_allocates_from_one_arena() -> None:
    assert _arenas("cli") == 1


def test_the_library_alone_leaves_malloc_as_it_is() -> None:
    assert _arenas("library") > 1


def test_an_arena_limit_set_in_the_environment_is_honoured() -> None:
    assert _arenas("cli", MALLOC_ARENA_MAX="3") == 3
