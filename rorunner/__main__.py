"""`python -m rorunner` and the `rorunner` command.

An unchanged re-run of `rorunner play` is answered from the plan cache (issue 12) before the
command line's parser (click) and the rest of the CLI are even imported: a cache is kept
under the key of the command line exactly as typed, so finding one for it says what click
made of it when the cache was saved. Anything else goes to rorunner.cli, in a process
whose threads share one malloc arena (`limit_malloc_arenas`).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rorunner.records import PlanCache

M_ARENA_MAX = -8  # glibc's mallopt parameter (<malloc.h>)
ARENAS = 1


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of `rorunner` and `python -m rorunner`."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Imports and planning make objects that live as long as the process and next to no
    # cyclic garbage: no collection until `play` has planned (it freezes what it made and
    # turns the collector back on), ~20 ms of CPU before the first connect at 25 hosts.
    gc.disable()
    try:
        if args[:1] == ["play"] and _answered(args):
            sys.exit(0)
        if args[:1] != ["play"]:
            gc.enable()
        limit_malloc_arenas()
        from rorunner.cli import main as cli  # noqa: PLC0415 - lazy: the answered run needs none

        cli(args)
    finally:
        gc.enable()


def run() -> NoReturn:
    """The `rorunner` process itself: main(), `play` and `run` as a batch job
    (rorunner.scheduling), and after `play` an exit that skips the interpreter's teardown
    (end_now)."""
    args = sys.argv[1:]
    if args[:1] in (["play"], ["run"]):
        batch_job()
    try:
        main(args)
    except SystemExit as done:
        if args[:1] == ["play"]:
            end_now(done)
        raise


def batch_job() -> None:
    """SCHED_BATCH for this process's threads (rorunner.scheduling), before any starts; a
    bad RORUNNER_SCHED ends the process (exit 5)."""
    from rorunner.errors import UsageError  # noqa: PLC0415 - lazy: see the module doc
    from rorunner.scheduling import enter_batch  # noqa: PLC0415

    try:
        enter_batch()
    except UsageError as exc:
        sys.stderr.write(f"rorunner: error: {exc}\n")
        sys.exit(exc.exit_code)


def end_now(done: SystemExit) -> None:
    """End the process with `done`'s exit code at once, once stdout and stderr are flushed.

    The interpreter's own exit frees every object the run made, one by one, and collects
    them: ~25 ms of CPU and of wall after the last host at 25 hosts, for nothing (what a run
    writes is written and closed by then: records, logs, the DB, the plan cache). Returns,
    for the usual exit, when the code is not a number, the output cannot be flushed, or a
    thread that the usual exit would wait for still runs."""
    code = done.code
    if code is not None and not isinstance(code, int):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: the usual exit reports it
        return
    current = threading.current_thread()
    if any(not thread.daemon for thread in threading.enumerate() if thread is not current):
        return
    os._exit(code or 0)


def limit_malloc_arenas(environ: Mapping[str, str] = os.environ) -> bool:
    """Make glibc's malloc serve every thread of this process from one arena, unless the
    environment sets the limit itself; whether it was set. Called before any thread starts.

    Only the `rorunner` process does this (it is process-wide; a user's dodo.py importing
    the library keeps its own malloc): a run's threads (forks workers, a transport thread
    and a prober per open connection) would each get an arena of their own, up to 8 per
    core, and an arena keeps the memory its thread freed. One arena: 122 -> 90 MiB peak
    at 200 hosts (the RTAS bench), no more CPU (threads mostly hold the GIL anyway)."""
    if "MALLOC_ARENA_MAX" in environ or "arena_max" in environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):  # not a glibc platform
        return False
    if not glibc or not glibc.startswith("glibc"):
        return False
    import ctypes  # noqa: PLC0415 - lazy: an answered run needs none

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS))


def _answered(args: list[str]) -> bool:
    """Whether the plan cache answered this command line (its output is then printed)."""
    from rorunner.errors import EXIT_INTERRUPTED  # noqa: PLC0415 - lazy: see the module doc
    from rorunner.records import answer_unchanged, run_key  # noqa: PLC0415

    clock = time.monotonic()
    try:
        key = run_key(["rorunner", *args])
        for arg in args[1:]:
            if arg.startswith("-") or not os.path.isfile(arg):
                continue
            answered = answer_unchanged(Path(arg).resolve(), key)
            if answered is not None:
                _show(*answered, took=time.monotonic() - clock)
                return True
    except KeyboardInterrupt:
        sys.stderr.write("rorunner: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    return False


def _show(cache: PlanCache, record: Path, *, took: float) -> None:
    from rorunner.report import unchanged_run_lines  # noqa: PLC0415 - lazy: see the module doc

    for line in cache.screen["stderr"]:
        sys.stderr.write(f"{line}\n")
    sys.stderr.flush()
    sys.stdout.write(
        "".join(f"{line}\n" for line in unchanged_run_lines(cache.screen, str(record), took))
    )
    sys.stdout.flush()


if __name__ == "__main__":
    # `python -m rorunner` (its own process); run as a module by another program, which
    # goes on after (runpy.run_module without alter_sys), it only raises SystemExit.
    if sys.modules["__main__"].__dict__ is globals():
        run()
    main()
