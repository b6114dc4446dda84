"""bench/rtas.py keeps working: one host, one round, every variant must succeed.

No timing is asserted (the figures are the bench's to report); this keeps the script honest:
it exits non-zero when a rorunner run, the paramiko baseline or their checks fail.
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
    argv = [sys.executable, str(REPO / "bench" / "rtas.py"), "--sizes", "1", "--repeat", "1"]
    done = subprocess.run(
        # a lab of its own name: another checkout may be running the bench at the same time
        [
            *argv,
            "--known-hosts-lines",
            "300",
            "--kh-pairs",
            "2",
            "--lab-name",
            f"bench{os.getpid()}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:1].isdigit()]
    # one row of times (every cell a duration or a ratio), one of CPU and memory
    assert [row[0] for row in rows] == ["1", "1"], done.stdout
    times, resources = rows
    assert len(times) == 11 and all(cell.endswith(("s", "x")) for cell in times[1:]), done.stdout
    # the memory ratio, then the big kh runs' CPU against 'cold'
    assert all(r.endswith("x") for r in resources[-2:]) and "-" not in resources, done.stdout
    assert "unchanged re-runs: 0 SSH logins in all" in done.stdout, done.stdout
    assert "300-line known_hosts" in done.stdout
    assert "'warm' a 2nd run with the cache the 1st left" in done.stdout
    assert "each run in a fresh remote dir as 'cold'" in done.stdout
    assert "median of 2 alternated rounds of 'cold' and the big kh runs" in done.stdout
    assert "machine CPU s: what the whole machine spent while it ran" in done.stdout
