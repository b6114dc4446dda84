"""A fleet run as a batch job: the `rorunner play` and `run` processes ask Linux for
SCHED_BATCH (what `chrt -b 0` gives), and the commands they start on the controller get
back the policy the process started with.

A run is many threads taking turns at one GIL: doit's dispatcher, a worker per fork, a
transport thread per connection. Every hand-off wakes a thread (a step's result queued for
the dispatcher, an SFTP reply for the step waiting on it), and under the default policy the
woken thread may preempt the one that woke it, which still holds the GIL: the CPU switches
twice and neither runs Python in between. SCHED_BATCH is the default policy without that
wakeup preemption; CPU shares (nice) are unchanged. Measured on the RTAS bench (2 cores,
alternated whole runs): 100 hosts 3-4% less wall time and 5-7% less controller CPU,
25 hosts 2% less wall time.

`RORUNNER_SCHED=normal` keeps the default policy (unset or empty: batch); a process started
under another policy than the default (`chrt -b`, `-i`, `-f`, `-r`) keeps it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from rorunner.errors import UsageError

ENV = "RORUNNER_SCHED"
CHOICES = ("batch", "normal")


class _Switched:
    """Whether this process moved its threads to SCHED_BATCH (enter_batch)."""

    on = False


def wanted(environ: Mapping[str, str] = os.environ) -> str:
    """The policy RORUNNER_SCHED asks for: "batch" (also when unset) or "normal"."""
    choice = environ.get(ENV, "") or "batch"
    if choice not in CHOICES:
        raise UsageError(f"{ENV} must be batch or normal, not {choice!r}")
    return choice


def enter_batch(environ: Mapping[str, str] = os.environ) -> bool:
    """Move the calling thread, and so every thread it starts after, to SCHED_BATCH when it
    runs under the default policy and RORUNNER_SCHED does not say normal; whether it did.
    Called by the main thread before any other thread starts; UsageError when
    RORUNNER_SCHED is neither."""
    batch = getattr(os, "SCHED_BATCH", None)
    if wanted(environ) != "batch" or batch is None:
        return False
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            return False  # the user chose a policy for this process
        os.sched_setscheduler(0, batch, os.sched_param(0))
    except OSError:  # refused (a seccomp filter): the run goes on as it was
        return False
    _Switched.on = True
    return True


@contextlib.contextmanager
def started_policy() -> Iterator[None]:
    """Processes started inside get the policy this process started with: the calling
    thread is back to it meanwhile (Linux keeps a policy per thread, and a child inherits
    its parent thread's), and to the policy it had after."""
    if not _Switched.on:
        yield
        return
    before = os.sched_getscheduler(0)  # SCHED_BATCH, or SCHED_OTHER when nested
    _set(os.SCHED_OTHER)
    try:
        yield
    finally:
        _set(before)


def _set(policy: int) -> None:
    # Moving between these two unprivileged policies is always allowed.
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, policy, os.sched_param(0))
