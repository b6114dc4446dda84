"""Planning benchmark: `rorunner play --dry-run` (no connection) at 1k, 10k and 100k hosts.

Workloads: the 7-step inline RTAS play of bench/rtas.py and the example playbooks/site.yml
(two plays, three roles with templates), each as written and with `serial: 50%` on its
plays. Every run is a fresh `rorunner play ... --dry-run` process (stdout to /dev/null) in a
fresh project, so its wall clock and peak RSS are its own; each figure is the median of
--repeat runs, variants alternated within a repeat. Per-host cost and bytes per host are the
slopes between the two largest sizes of a workload (fixed costs cancel out).

    python bench/plan_scale.py [--sizes 1000,10000,100000] [--workloads inline,site]
                               [--serial both|no|yes] [--repeat 5]
    python bench/plan_scale.py --sizes 1000,5000 --repeat 3      # linearity: the 5k/1k ratio
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from workload import rtas_playbook

REPO = Path(__file__).resolve().parents[1]
WORKLOADS = ("inline", "site")


@dataclass(frozen=True)
class Sample:
    """One measured process: wall seconds, CPU seconds, peak RSS in bytes."""

    wall: float
    cpu: float
    rss: int


def _address(net: int, i: int) -> str:
    return f"2001:db8:{net}::{i >> 16:x}:{i & 0xFFFF:x}"


def inventory(n_hosts: int) -> str:
    """An INI inventory of n hosts: two thirds in `web`, a third in `db`, a few own vars."""
    web = n_hosts * 2 // 3
    lines = ["[web]"]
    lines += [f"w{i:06d} ansible_host={_address(1, i)}" for i in range(1, web + 1)]
    lines += ["[db]"]
    lines += [
        f"d{i:06d} ansible_host={_address(2, i)}" + (" app_port=5432" if i % 10 == 0 else "")
        for i in range(1, n_hosts - web + 1)
    ]
    lines += ["[prod:children]", "web", "db", "[prod:vars]", "ansible_user=deploy"]
    return "\n".join(lines) + "\n"


def with_serial(playbook: str) -> str:
    """Every play of `playbook` with `serial: 50%` (an existing serial replaced)."""
    out = []
    for line in playbook.splitlines():
        if line.startswith("  serial:"):
            continue
        out.append(line)
        if line.startswith("- name:"):
            out.append('  serial: "50%"')
    return "\n".join(out) + "\n"


def write_project(root: Path, workload: str, serial: bool, n_hosts: int) -> list[str]:
    """A project under `root`; returns the `rorunner play` arguments after `play`."""
    root.mkdir(parents=True)
    (root / "inventory.ini").write_text(inventory(n_hosts))
    if workload == "inline":
        text = rtas_playbook("rtas", *(['serial: "50%"'] if serial else []))
        for name, data in (("run.sh", b"hostname\n"), ("app.conf", b"k = v\n" * 600)):
            (root / name).write_bytes(data)
        (root / "data.bin").write_bytes(os.urandom(1 << 20))
        extra: list[str] = []
    else:
        text = (REPO / "playbooks" / "site.yml").read_text()
        text = with_serial(text) if serial else text
        extra = ["--roles-path", str(REPO / "roles")]
    (root / "site.yml").write_text(text)
    return [str(root / "site.yml"), "-i", str(root / "inventory.ini"), "--dry-run", *extra]


def bench_env() -> dict[str, str]:
    """The environment of every measured process: bytecode caching on, as when installed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    return env


def measure(args: list[str], cwd: Path) -> Sample:
    """Run `rorunner play ARGS` to /dev/null; its wall, CPU and peak RSS (must exit 0)."""
    argv = [sys.executable, "-m", "rorunner", "play", *args]
    with open(os.devnull, "wb") as sink, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=bench_env(), stdout=sink, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"failed ({proc.returncode}): {argv}\n{err.read().decode()}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


def run_all(
    sizes: list[int], variants: list[tuple[str, bool]], repeat: int, scratch: Path
) -> dict[tuple[str, bool, int], Sample]:
    """Median sample of every (workload, serial, size), variants alternated per repeat."""
    samples: dict[tuple[str, bool, int], list[Sample]] = {}
    for size in sizes:
        for rep in range(repeat):
            order = variants if rep % 2 == 0 else variants[::-1]
            for workload, serial in order:
                root = scratch / f"{workload}-{int(serial)}-{size}-{rep}"
                args = write_project(root, workload, serial, size)
                samples.setdefault((workload, serial, size), []).append(measure(args, root))
                shutil.rmtree(root, ignore_errors=True)
    return {
        key: Sample(
            statistics.median(s.wall for s in runs),
            statistics.median(s.cpu for s in runs),
            int(statistics.median(s.rss for s in runs)),
        )
        for key, runs in samples.items()
    }


def table(results: dict[tuple[str, bool, int], Sample], sizes: list[int]) -> str:
    """Rows per workload and size; serial/plain ratios and per-host slopes."""
    head = (
        f"{'workload':<8} {'serial':>6} {'hosts':>7} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}"
        f" {'serial/plain':>12}"
    )
    lines = [head, "-" * len(head)]
    for (workload, serial, size), sample in sorted(results.items()):
        plain = results.get((workload, False, size))
        ratio = f"{sample.wall / plain.wall:>11.2f}x" if serial and plain else f"{'':>12}"
        lines.append(
            f"{workload:<8} {'50%' if serial else '-':>6} {size:>7} {sample.wall:>8.2f}"
            f" {sample.cpu:>8.2f} {sample.rss / 2**20:>9.1f} {ratio}"
        )
    lines += ["", "per host (slope between the two largest sizes) and growth:"]
    if len(sizes) >= 2:
        small, big = sorted(sizes)[-2:]
        keys = sorted({(w, s) for w, s, _ in results})
        for workload, serial in keys:
            a, b = results[(workload, serial, small)], results[(workload, serial, big)]
            per_host_ms = (b.wall - a.wall) / (big - small) * 1000
            per_host_kb = (b.rss - a.rss) / (big - small) / 1024
            lines.append(
                f"  {workload:<8} serial {'50%' if serial else 'no':<3}  "
                f"{per_host_ms:.3f} ms/host  {per_host_kb:.1f} KiB/host  "
                f"time {big}/{small}: {b.wall / a.wall:.2f}x for {big / small:g}x hosts"
            )
    return "\n".join(lines)


def load() -> str:
    """The 1, 5 and 15 minute load averages, as uptime shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--serial", choices=("both", "no", "yes"), default="both")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    serials = {"both": [False, True], "no": [False], "yes": [True]}[args.serial]
    variants = [(w, s) for w in args.workloads.split(",") for s in serials]
    if unknown := {w for w, _ in variants} - set(WORKLOADS):
        raise SystemExit(f"unknown workloads: {sorted(unknown)}")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "rorunner")],
        env=bench_env(),
        check=True,
    )
    scratch = Path(tempfile.mkdtemp(prefix="rorunner-plan-bench-"))
    load_before = load()
    try:
        results = run_all(sizes, variants, args.repeat, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"dry run (no connection), whole processes; median of {args.repeat}")
    print(f"load average before: {load_before}; after: {load()} ({os.cpu_count()} CPUs)")
    print(table(results, sizes))


if __name__ == "__main__":
    main()
