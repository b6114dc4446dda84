"""Transfer benchmark: ship (put) and fetch (get) of a 1 MiB and a 6 MiB file over one pooled
connection to one lab host, through the public Transport API.

Each figure is the median of --repeat transfers on a warm connection (the connection and the
SFTP session are opened before timing). Also a tree of --files small files, shipped as one put.
Prints milliseconds and MB/s; nothing is asserted (numbers for the commit log and reviews).

    python bench/transfer.py [--repeat 15] [--files 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rorunner.transport import Pool, Transport  # noqa: E402
from tests.lab import start_lab  # noqa: E402

SIZES = {"1 MiB": 1 << 20, "6 MiB": 6 << 20}
REMOTE = ".rr-bench-transfer"


def median_ms(action: Callable[[], None], repeat: int) -> float:
    """Median wall-clock milliseconds of `action` over `repeat` calls (after one warm-up)."""
    action()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def run(transport: Transport, scratch: Path, repeat: int, files: int) -> list[str]:
    remote = transport.ensure_dir(REMOTE)
    rows = []
    for label, size in SIZES.items():
        local = scratch / f"data-{size}"
        local.write_bytes(os.urandom(size))
        back = scratch / "fetched.bin"
        put = median_ms(lambda f=local: transport.put(str(f), f"{remote}/data.bin"), repeat)
        get = median_ms(lambda f=back: transport.get(f"{remote}/data.bin", str(f)), repeat)
        mb = size / 1e6
        rows.append(f"ship  {label}: {put:7.1f} ms  {mb / put * 1000:6.1f} MB/s")
        rows.append(f"fetch {label}: {get:7.1f} ms  {mb / get * 1000:6.1f} MB/s")
    tree = scratch / "tree"
    tree.mkdir()
    for i in range(files):
        (tree / f"f{i:03d}.conf").write_bytes(os.urandom(2048))
    ms = median_ms(lambda: transport.put(str(tree), f"{remote}/tree"), repeat)
    rows.append(f"ship  tree of {files} x 2 KiB: {ms:7.1f} ms  {ms / files:5.2f} ms/file")
    transport.exec(f"rm -rf ~/{REMOTE}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python bench/transfer.py")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--files", type=int, default=50)
    args = parser.parse_args()
    lab = start_lab(1, name="benchxfer")
    pool = Pool()
    try:
        transport = pool.get(lab.spec(lab.hosts[0]))
        with tempfile.TemporaryDirectory() as scratch:
            rows = run(transport, Path(scratch), args.repeat, args.files)
    finally:
        pool.close_all()
        lab.stop(remove=True)
    print(f"lab {lab.mode}, median of {args.repeat}, load {os.getloadavg()[0]:.2f}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
