"""Session fixtures of the browser tests: one headless Chromium for every test that asks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.browser import ARTIFACTS, Browser, missing_browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium (started once); a missing browser fails, never skips."""
    why = missing_browser()
    if why:
        pytest.fail(
            f"browser tests need Debian's chromium and chromium-driver: {why}", pytrace=False
        )
    session = Browser()
    try:
        yield session
    finally:
        session.quit()


MEASURED: dict[str, float] = {}  # this session's load times, shown at the end of the run


@pytest.fixture(scope="session")
def timings() -> Iterator[dict[str, float]]:
    """Load times the browser tests measured; written to test-artifacts/dashboard/timings.json
    and shown in the terminal summary."""
    figures = MEASURED
    try:
        yield figures
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / "timings.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**known, **figures}, indent=2, sort_keys=True) + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The dashboard's load times (total = the server's callbacks + the browser's work)."""
    if not MEASURED:
        return
    terminalreporter.section("dashboard load times (seconds)")
    for name, seconds in sorted(MEASURED.items()):
        terminalreporter.write_line(f"{name:<28} {seconds:7.3f}")
