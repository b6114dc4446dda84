"""Session fixture for fleet features (issue 8): bastions, inner networks, sudo users.

Loaded from tests/conftest.py (`pytest_plugins`). The fleet lab starts only when a test asks
for `fleet_lab`, once per session, and is stopped by PID like the 4-host lab. It needs
network namespaces (root): in loopback mode a test that asks for it fails, never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import session_lab
from tests.lab import FleetLab, start_fleet_lab


@pytest.fixture(scope="session")
def fleet_lab() -> Iterator[FleetLab]:
    """Bastion b1 -> b2, inner1-2 behind b1, deep1 behind b2; users deploy, ops, appuser."""
    yield from session_lab(start_fleet_lab, suffix="fl")
