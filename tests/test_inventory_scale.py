"""bench/inventory_scale.py keeps working: its generated inventories load at the size they claim.

No timing is asserted (the figures are the bench's to report); this only keeps the script honest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_inventory_scale_bench_runs_small() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "inventory_scale.py"), "--sizes", "1000", "1234"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # it asserts its own host counts
    rows = {tuple(line.split()[:2]) for line in done.stdout.splitlines()[1:]}
    assert rows == {(fmt, size) for fmt in ("ini", "yaml") for size in ("1000", "1234")}
