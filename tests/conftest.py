"""Session fixtures: one sshd lab for the whole run (tests/lab.py), stopped even on failure."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest

from rorunner.model import ConnectionSpec
from rorunner.transport import Pool
from tests.lab import Lab, LabBusyError, LabError, LabHost, start_lab

# the fleet lab (bastions, sudo users) and the session's headless Chromium, on demand
pytest_plugins = ["tests.fleet_fixtures", "tests.browser_fixtures"]

LabT = TypeVar("LabT", bound=Lab)
LAB_HOSTS = 4
LAB_NAME = "test"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# Settings of the test harness itself (lab mode and name, golden updates), not of rorunner.
HARNESS_VARS = ("RORUNNER_LAB_", "RORUNNER_UPDATE_GOLDEN")


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for name in list(os.environ):
        if name.startswith("RORUNNER_") and not name.startswith(HARNESS_VARS):
            monkeypatch.delenv(name)
    return home


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same isolation for session and module fixtures (a dashboard, a lab run), which
    start before any test's own: nothing of the suite reads or writes the real ~/.cache."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _isolate(monkeypatch, tmp_path_factory.mktemp("session-home"))


@pytest.fixture(autouse=True)
def _hermetic_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every test gets an empty HOME (no ~/.ssh/config or ~/.ssh/known_hosts of the machine
    leaks in, and the known_hosts lookup cache is its own ~/.cache) and no RORUNNER_*
    variable of the caller's shell; subprocesses inherit both."""
    return _isolate(monkeypatch, tmp_path_factory.mktemp("home"))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in its tmp_path: `rorunner run` records its runs in ./.rorunner, which
    must not land in the checkout."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as at a terminal, even when the suite was started in the background of a
    non-interactive shell (which starts it with SIGINT ignored, and every rorunner it runs
    would inherit that): the interrupt tests send real SIGINTs."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a lab (the 4 hosts or the fleet) carry the `lab` marker, so
    `-m 'not lab'` runs without sshd."""
    for item in items:
        if {"lab", "fleet_lab"}.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


def _stop_on_signals(lab: Lab) -> Callable[[], None]:
    """Stop the lab on SIGTERM/SIGHUP and at interpreter exit; returns the undo."""
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        lab.stop()
        signal.signal(signum, previous[signal.Signals(signum)] or signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, on_signal)
    atexit.register(lab.stop)

    def undo() -> None:
        atexit.unregister(lab.stop)
        for sig, handler in previous.items():
            signal.signal(sig, handler or signal.SIG_DFL)

    return undo


def session_lab(start: Callable[[str], LabT], suffix: str = "") -> Iterator[LabT]:
    """The body of a session lab fixture: `start(name)` with name "test" + suffix (or
    RORUNNER_LAB_NAME + suffix; a per-process name when another run holds it), a test
    failure (never a skip) when it cannot start, stopped by PID at the end or on a signal."""
    name = (os.environ.get("RORUNNER_LAB_NAME") or LAB_NAME) + suffix
    try:
        try:
            started = start(name)
        except LabBusyError:
            started = start(f"{name}{os.getpid()}")
    except (LabError, OSError, subprocess.SubprocessError) as err:
        pytest.fail(f"the sshd lab {name!r} could not start: {err}", pytrace=False)
    undo = _stop_on_signals(started)
    try:
        yield started
    finally:
        started.stop(remove=started.name.endswith(str(os.getpid())))  # a throwaway name
        undo()


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """A lab of 4 sshd hosts named "test"; mode from RORUNNER_LAB_MODE (default auto)."""
    yield from session_lab(lambda name: start_lab(LAB_HOSTS, mode="auto", name=name))


@pytest.fixture(scope="session")
def lab_spec(lab: Lab) -> Callable[..., ConnectionSpec]:
    """`lab_spec(host, **overrides)` -> the ConnectionSpec that reaches a lab host."""

    def spec(host: LabHost, **overrides: Any) -> ConnectionSpec:
        return lab.spec(host, **overrides)

    return spec


@pytest.fixture
def pool() -> Iterator[Pool]:
    """A connection pool of the test's own, closed after it: tests share no connection."""
    own = Pool()
    yield own
    own.close_all()
