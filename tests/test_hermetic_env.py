"""The suite's environment is hermetic from the first fixture on, not only inside tests."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
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


def test_the_suite_started_with_sigint_ignored_still_gets_ctrl_c(tmp_path: Path) -> None:
    """A suite launched in the background of a non-interactive shell starts with SIGINT
    ignored; the harness restores Ctrl-C for itself and the rorunner processes it starts."""
    (tmp_path / "test_sigint.py").write_text(
        "import os, signal, subprocess, sys\n"
        "import pytest\n"
        "def test_ctrl_c():\n"
        "    with pytest.raises(KeyboardInterrupt):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        signal.sigtimedwait([], 5)\n"
        "    code = 'import signal; print(signal.getsignal(signal.SIGINT))'\n"
        "    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)\n"
        "    assert 'default_int_handler' in out.stdout\n"
    )
    conftest = Path(__file__).parent / "conftest.py"
    (tmp_path / "conftest.py").write_text("import signal\n" + _configure_hook(conftest.read_text()))
    ignored = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=ignored,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _configure_hook(source: str) -> str:
    """The conftest's pytest_configure, alone (the test runs it in a bare pytest)."""
    start = source.index("def pytest_configure(")
    end = source.index("\ndef ", start + 1)
    return "import pytest\n" + source[start:end]
