"""No-op benchmark: an unchanged re-run of N local hosts x 7 steps after a completed run.

The hosts use `ansible_connection=local` with a remote dir of their own (so 1,000 hosts run
on one machine); the play is bench/rtas.py's 7-step RTAS play with small files. One cold
run completes the project, then each measured re-run is a whole `rorunner play` process
(interpreter start and imports included) that must report every step up to date. Wall
clock and CPU are medians of --repeat re-runs; the load average is printed beside them.

    python bench/noop.py [--hosts 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import rtas_playbook

REPO = Path(__file__).resolve().parents[1]


def write_project(root: Path, hosts: int) -> Path:
    """The project: N local hosts, the 7-step play and its three small files."""
    root.mkdir(parents=True)
    (root / "site.yml").write_text(
        rtas_playbook("noop", f'remote_dir: "{root}/remote/{{{{ inventory_hostname }}}}"')
    )
    (root / "run.sh").write_text("#!/bin/sh\necho ran > ran.txt\n")
    (root / "app.conf").write_text("key = value\n" * 20)
    (root / "data.bin").write_bytes(os.urandom(4096))
    lines = ["[all]"] + [f"h{i:05d} ansible_connection=local" for i in range(1, hosts + 1)]
    (root / "inventory.ini").write_text("\n".join(lines) + "\n")
    return root


def run(root: Path) -> tuple[float, float, str]:
    """One `rorunner play` of the project: wall, CPU (user + system) and its output."""
    argv = [sys.executable, "-m", "rorunner", "play", "site.yml", "-i", "inventory.ini"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rorunner failed:\n{text}")
    return wall, usage.ru_utime + usage.ru_stime, text


def load() -> str:
    """The 1, 5 and 15 minute load averages, as uptime shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "rorunner")], check=True)
    scratch = Path(tempfile.mkdtemp(prefix="rorunner-noop-bench-"))
    try:
        root = write_project(scratch / "project", args.hosts)
        cold_wall, cold_cpu, _ = run(root)
        load_before = load()
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu, text = run(root)
            ran = re.findall(r"\b(?:ok|changed)=(\d+)", text)
            if len(ran) != 2 * args.hosts or any(n != "0" for n in ran):
                raise SystemExit(f"the re-run ran steps:\n{text[-2000:]}")
            walls.append(wall)
            cpus.append(cpu)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{args.hosts} local hosts x 7 steps; cold run {cold_wall:.2f}s ({cold_cpu:.2f} CPU-s)")
    print(f"load average before: {load_before}; after: {load()} ({os.cpu_count()} CPUs)")
    print(
        f"unchanged re-run (median of {args.repeat}): {statistics.median(walls):.3f}s wall, "
        f"{statistics.median(cpus):.3f} CPU-s; every step up to date, no connection "
        "(local hosts)"
    )


if __name__ == "__main__":
    main()
