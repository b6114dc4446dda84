"""Session fixture for fleet features (issue 8): bastions, inner networks, sudo users.

Loaded from tests/conftest.py (`pytest_plugins`). The fleet lab starts only when a test asks
for `fleet_lab`, once per session, and is stopped by PID like the 4-host lab. It needs
network namespaces (root): in loopback mode a test that asks for it fails, never skips.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import LAB_NAME, _stop_on_signals
from tests.lab import FleetLab, LabBusyError, LabError, start_fleet_lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the fleet lab carry the `lab` marker too (`-m 'not lab'` leaves them)."""
    for item in items:
        if "fleet_lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


def _start_session_fleet() -> FleetLab:
    """Lab "testfl" (or RORUNNER_LAB_NAME + "fl"); a per-process name when another run holds it."""
    name = (os.environ.get("RORUNNER_LAB_NAME") or LAB_NAME) + "fl"
    try:
        return start_fleet_lab(name)
    except LabBusyError:
        return start_fleet_lab(f"{name}{os.getpid()}")


@pytest.fixture(scope="session")
def fleet_lab() -> Iterator[FleetLab]:
    """Bastion b1 -> b2, inner1-2 behind b1, deep1 behind b2; users deploy, ops, appuser."""
    try:
        started = _start_session_fleet()
    except (LabError, OSError, subprocess.SubprocessError) as err:
        pytest.fail(f"the fleet lab could not start: {err}", pytrace=False)
    undo = _stop_on_signals(started)
    try:
        yield started
    finally:
        started.stop(remove=started.name.endswith(str(os.getpid())))  # a throwaway name
        undo()
