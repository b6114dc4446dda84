"""The connect lead: how many hosts a run connects ahead of their steps (engine._prewarm)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import rorunner.engine._run as engine_run
from rorunner.engine import EngineOptions, run_plan
from rorunner.engine._prewarm import LEAD, Prewarm
from rorunner.model import ConnectionSpec
from tests.engine_fakes import PlanMaker

WAIT = 5.0  # bound of every wait here, seconds
GRACE = 0.3  # how long a connect that should not start is given to start anyway


class GatedPool:
    """A TransportPool whose connects wait for `release`; it notes each host it connects."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def get(self, spec: ConnectionSpec) -> Any:
        with self._lock:
            self.started.append(spec.name)
        self.release.wait(WAIT)
        return object()

    def close_all(self) -> None:
        """Nothing to close."""

    def count(self) -> int:
        with self._lock:
            return len(self.started)


def _specs(n: int) -> dict[str, ConnectionSpec]:
    return {
        f"h{i}": ConnectionSpec(address=f"2001:db8::{i + 1:x}", label=f"h{i}") for i in range(n)
    }


def _settled(pool: GatedPool, expected: int) -> int:
    """The number of connects started once `expected` have (bounded), after a grace."""
    deadline = time.monotonic() + WAIT
    while pool.count() < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(GRACE)
    return pool.count()


def test_a_run_of_many_forks_connects_at_most_lead_hosts_ahead() -> None:
    pool = GatedPool()
    prewarm = Prewarm(_specs(12), workers=25, pool=pool)
    try:
        assert _settled(pool, LEAD) == LEAD  # 4 connects at a time, not 12 (nor 25)
        pool.release.set()
        assert _settled(pool, LEAD) == LEAD  # connected and unclaimed: the lead is full
        assert prewarm.wait("h0") is None  # a step claims its host: one more may connect
        assert _settled(pool, LEAD + 1) == LEAD + 1
        assert pool.started == [f"h{i}" for i in range(LEAD + 1)]  # in plan order
    finally:
        pool.release.set()
        prewarm.stop()


def test_a_host_past_the_lead_is_connected_by_its_step() -> None:
    pool = GatedPool()
    pool.release.set()
    prewarm = Prewarm(_specs(12), workers=25, pool=pool)
    try:
        assert _settled(pool, LEAD) == LEAD
        assert prewarm.wait("h9") is None  # not reached by the lead: its step connects it
        assert pool.started.count("h9") == 1
    finally:
        prewarm.stop()


def test_fewer_forks_than_the_lead_bound_it() -> None:
    pool = GatedPool()
    prewarm = Prewarm(_specs(12), workers=2, pool=pool)
    try:
        assert _settled(pool, 2) == 2
    finally:
        pool.release.set()
        prewarm.stop()


def _connect_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("rorunner-connect")]


def test_a_run_whose_record_cannot_be_written_stops_its_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Connecting starts before the run record is written: if that fails, the connect
    # threads end (they would otherwise wait for room in the lead for good).
    pool = GatedPool()
    maker = PlanMaker(tmp_path, hosts=tuple(f"h{i}" for i in range(12)), over_ssh=True)
    plan = maker.add("remote", "work", command="true").build()

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine_run, "open_record", refused)
    with pytest.raises(OSError, match="No space left"):
        run_plan(plan, EngineOptions(tmp_path, pool=pool))  # type: ignore[arg-type]
    pool.release.set()
    deadline = time.monotonic() + WAIT
    while _connect_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _connect_threads() == []
    assert pool.count() <= LEAD
