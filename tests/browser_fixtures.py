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


@pytest.fixture(scope="session")
def timings() -> Iterator[dict[str, float]]:
    """Load times the browser tests measured; written to test-artifacts/dashboard/timings.json."""
    figures: dict[str, float] = {}
    try:
        yield figures
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / "timings.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**known, **figures}, indent=2, sort_keys=True) + "\n")
