"""bench/plan_scale.py keeps working: every workload and variant plans at two small sizes.

No timing is asserted (the figures are the bench's to report); the bench fails when a dry run
exits non-zero, so this keeps its generated projects valid for both workloads and serial.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_plan_bench_runs_small() -> None:
    argv = [sys.executable, str(REPO / "bench" / "plan_scale.py"), "--sizes", "30,60"]
    done = subprocess.run(
        [*argv, "--repeat", "1"],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {
        tuple(line.split()[:3])
        for line in done.stdout.splitlines()
        if " -  " in line or "50%" in line
    }
    expected = {(w, s, n) for w in ("inline", "site") for s in ("-", "50%") for n in ("30", "60")}
    assert expected <= rows, done.stdout
    assert done.stdout.count("ms/host") == 4, done.stdout
