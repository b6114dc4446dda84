"""bench/noop.py keeps working: a few local hosts, one cold run, one measured re-run.

No timing is asserted (the figures are the bench's to report); the bench fails when a run
exits non-zero or when its re-run runs a step, so this keeps its project valid.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_noop_bench_runs_small() -> None:
    argv = [sys.executable, str(REPO / "bench" / "noop.py"), "--hosts", "3", "--repeat", "1"]
    done = subprocess.run(
        argv,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 local hosts x 7 steps" in done.stdout, done.stdout
    assert "every step up to date" in done.stdout, done.stdout
