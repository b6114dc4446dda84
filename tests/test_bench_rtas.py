"""bench/rtas.py keeps working: one host, one repeat, both workloads must succeed.

No timing is asserted (the figures are the bench's to report); this keeps the script honest:
it exits non-zero when the rorunner run, the paramiko baseline or their checks fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.lab  # the bench starts a lab of its own


def test_rtas_bench_runs_on_one_host() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "rtas.py"), "--sizes", "1", "--repeat", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["1"], done.stdout
    assert all(cell.endswith(("s", "x")) for cell in rows[0][1:7]), done.stdout
