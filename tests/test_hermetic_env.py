"""The suite's environment is hermetic from the first fixture on, not only inside tests."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def module_environment() -> dict[str, str]:
    """The environment a module-scoped fixture (a dashboard, a lab run) starts its
    subprocesses with: set up before any test's own fixtures."""
    return dict(os.environ)


def test_module_fixtures_see_a_home_and_cache_of_the_session(
    module_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir).resolve()
    home = Path(module_environment["HOME"]).resolve()
    assert home != real_home
    assert home.is_relative_to(tmp_path_factory.getbasetemp().resolve())
    assert "XDG_CACHE_HOME" not in module_environment  # the lookup cache is under HOME
    assert not any(k.startswith("RORUNNER_KNOWN_HOSTS") for k in module_environment)
