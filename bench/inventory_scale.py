"""Inventory scale benchmark: parse + resolve + list at 1k, 10k and 100k hosts.

Each size runs in a fresh subprocess so its peak RSS is its own. The generated
inventory has 50 groups under 5 parents, group vars at three levels, host
ranges (names and IPv6 addresses) and some hosts with their own vars.

    python bench/inventory_scale.py                 # INI at 1k/10k/100k, YAML at 1k/10k
    python bench/inventory_scale.py --sizes 10000 --formats ini
    python bench/inventory_scale.py --sizes 1000 --ansible 1000 5000   # vs ansible-inventory
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GROUPS = 50
PARENTS = 5


def _group_hosts(n_hosts: int) -> list[int]:
    base, extra = divmod(n_hosts, GROUPS)
    return [base + (1 if g < extra else 0) for g in range(GROUPS)]


def generate_ini(n_hosts: int) -> str:
    """An INI inventory of exactly n_hosts hosts."""
    out: list[str] = []
    for g, count in enumerate(_group_hosts(n_hosts)):
        out.append(f"[g{g:02d}]")
        singles = count // 10  # a tenth written one per line with their own vars
        names = (count - singles) // 2
        v6 = count - singles - names
        if names:
            out.append(f"g{g:02d}-n[000001:{names:06d}] tier=web")
        if v6:
            out.append(f"2001:db8:{g:x}::[1:{v6}]")
        out += [f"g{g:02d}-s{i:06d} ansible_port={2200 + i % 100} idx={i}" for i in range(singles)]
        out += [f"[g{g:02d}:vars]", f"group_id={g}", f"color=c{g % 7}", "ntp=pool.example.org"]
    for p in range(PARENTS):
        out.append(f"[p{p}:children]")
        out += [f"g{g:02d}" for g in range(p, GROUPS, PARENTS)]
        out += [f"[p{p}:vars]", f"parent={p}", "color=parent"]
    out += ["[all:vars]", "ansible_user=ops", "site=bench"]
    return "\n".join(out) + "\n"


def generate_yaml(n_hosts: int) -> str:
    """The same shape as YAML."""
    out = ["all:", "  vars: {ansible_user: ops, site: bench}", "  children:"]
    counts = _group_hosts(n_hosts)
    for p in range(PARENTS):
        out += [f"    p{p}:", f"      vars: {{parent: {p}, color: parent}}", "      children:"]
        for g in range(p, GROUPS, PARENTS):
            count = counts[g]
            singles = count // 10
            names = (count - singles) // 2
            v6 = count - singles - names
            out += [
                f"        g{g:02d}:",
                f"          vars: {{group_id: {g}, color: c{g % 7}, ntp: pool.example.org}}",
                "          hosts:",
            ]
            if names:
                out.append(f'            "g{g:02d}-n[000001:{names:06d}]": {{tier: web}}')
            if v6:
                out.append(f'            "2001:db8:{g:x}::[1:{v6}]":')
            out += [
                f"            g{g:02d}-s{i:06d}: {{ansible_port: {2200 + i % 100}, idx: {i}}}"
                for i in range(singles)
            ]
    return "\n".join(out) + "\n"


def measure_one(n_hosts: int, fmt: str) -> dict[str, float | int | str]:
    """Generate, then time load_inventory, --list JSON and a pattern; in this process."""
    from rorunner.inventory import load_inventory, select_hosts, to_ansible_list, to_json

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"bench.{fmt if fmt == 'ini' else 'yml'}"
        path.write_text(generate_ini(n_hosts) if fmt == "ini" else generate_yaml(n_hosts))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        inv = load_inventory(str(path))
        t1 = time.perf_counter()
        text = to_json(to_ansible_list(inv))
        t2 = time.perf_counter()
        chosen = select_hosts(inv, "p1:&g06:!g06-s*,2001:db8:3::1")
        t3 = time.perf_counter()
        assert len(inv.hosts) == n_hosts, len(inv.hosts)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "format": fmt,
        "hosts": n_hosts,
        "file_bytes": path.stat().st_size if path.exists() else 0,
        "parse_resolve_s": round(t1 - t0, 3),
        "list_json_s": round(t2 - t1, 3),
        "pattern_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "matched": len(chosen),
        "json_bytes": len(text),
        "peak_rss_mb": round(rss_after / 1024, 1),
        "rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
    }


def compare_with_ansible(n_hosts: int) -> str:
    """Time `ansible-inventory --list` and `rorunner inventory --list` on one file; same bytes?"""
    ansible = Path(sys.executable).with_name("ansible-inventory")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ini"
        path.write_text(generate_ini(n_hosts))
        env = {**os.environ, "ANSIBLE_HOME": tmp}
        t0 = time.perf_counter()
        theirs = subprocess.run(
            [str(ansible), "-i", str(path), "--list"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        t1 = time.perf_counter()
        ours = subprocess.run(
            [sys.executable, "-m", "rorunner", "inventory", "-i", str(path), "--list"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        t2 = time.perf_counter()
    same = "identical output" if ours == theirs else "OUTPUT DIFFERS"
    return (
        f"{n_hosts} hosts: ansible-inventory {t1 - t0:.2f}s, rorunner inventory "
        f"{t2 - t1:.2f}s (x{(t1 - t0) / (t2 - t1):.1f}), {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["ini", "yaml"], choices=["ini", "yaml"])
    parser.add_argument(
        "--yaml-max",
        type=int,
        default=10_000,
        help="skip YAML above this size (ruamel's pure-python parser is slow)",
    )
    parser.add_argument(
        "--ansible",
        type=int,
        nargs="*",
        metavar="HOSTS",
        help="also time ansible-inventory --list at these sizes (default 5000)",
    )
    parser.add_argument("--one", nargs=2, metavar=("HOSTS", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(int(args.one[0]), args.one[1])))
        return
    rows = []
    for fmt in args.formats:
        for size in args.sizes:
            if fmt == "yaml" and size > args.yaml_max:
                continue
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(size), fmt],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(done.stdout))
    print(
        f"{'fmt':5} {'hosts':>7} {'parse+resolve':>14} {'list+json':>10} {'pattern':>8} "
        f"{'total':>7} {'us/host':>8} {'peak RSS':>9} {'RSS growth':>11}"
    )
    for r in rows:
        per_host = float(r["total_s"]) / int(r["hosts"]) * 1e6
        print(
            f"{r['format']:5} {r['hosts']:>7} {r['parse_resolve_s']:>13}s {r['list_json_s']:>9}s "
            f"{r['pattern_s']:>7}s {r['total_s']:>6}s {per_host:>8.1f} {r['peak_rss_mb']:>7}MB "
            f"{r['rss_growth_mb']:>9}MB"
        )
    for size in [5_000] if args.ansible == [] else args.ansible or []:
        print(compare_with_ansible(size))


if __name__ == "__main__":
    main()
