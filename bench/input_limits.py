"""Input limits benchmark: what reading a file exactly at each size limit costs.

For each kind of file, content of that kind is generated up to the limit and read the way
rorunner reads it (CPU seconds of this process, and peak RSS of a fresh child per row); then
one byte more is refused before parsing. Typical shapes and a dense worst case are both shown.

    python bench/input_limits.py
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rorunner.safe_yaml import TEXT_LIMIT, YAML_LIMIT

PLAY = """\
- name: site {i}
  hosts: web:&prod
  vars: {{greeting: "hello from play {i}", port: {i}}}
  roles: [common, {{role: app, vars: {{version: "1.{i}"}}}}]
  rtas:
    - name: deploy-{i}
      local_pre: [{{run: "tar czf build/app.tgz src/", creates: [build/app.tgz]}}]
      ship: [build/app.tgz, {{src: "files/{{{{ inventory_hostname }}}}.conf", dest: app.conf}}]
      remote: ["tar xzf app.tgz", "./install.sh --port $port"]
      fetch: [logs/install.log]
"""
USER = """\
  - name: user{i}
    uid: {uid}
    groups: [wheel, docker]
    key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{i:032d} user{i}@example.org"
"""
YAML_HOST = '    web-{i:06d}.example.org: {{ansible_host: "2001:db8::{i:x}", rack: r{r}}}\n'
INI_HOST = "web-{i:06d}.example.org ansible_host=2001:db8::{a:x}:{b:x} ansible_user=deploy\n"
LOCAL_HOST = "h{i:07d} ansible_connection=local\n"


def _fill(head: str, item: str, size: int) -> str:
    out, length, i = [head], len(head), 0
    while True:
        text = item.format(i=i, uid=1000 + i, r=i % 40, a=i >> 16, b=i & 0xFFFF)
        if length + len(text) > size:
            return "".join(out) + "#" * (size - length - 1) + "\n"
        out.append(text)
        length += len(text)
        i += 1


def _dense(size: int) -> str:
    body = "x: [" + ",".join(["1"] * ((size - 8) // 2)) + "]\n"
    return body + "#" * (size - len(body) - 1) + "\n"


ROWS = {
    "playbook (YAML)": ("site.yml", lambda n: _fill("", PLAY, n), YAML_LIMIT.max_bytes),
    "vars file (YAML)": ("vars.yml", lambda n: _fill("users:\n", USER, n), YAML_LIMIT.max_bytes),
    "YAML inventory": (
        "hosts.yml",
        lambda n: _fill("web:\n  hosts:\n", YAML_HOST, n),
        YAML_LIMIT.max_bytes,
    ),
    "dense YAML (flow list of 1s)": ("dense.yml", _dense, YAML_LIMIT.max_bytes),
    "INI inventory, v6 + user": (
        "hosts.ini",
        lambda n: _fill("[web]\n", INI_HOST, n),
        TEXT_LIMIT.max_bytes,
    ),
    "INI inventory, local": (
        "local.ini",
        lambda n: _fill("[all]\n", LOCAL_HOST, n),
        TEXT_LIMIT.max_bytes,
    ),
}


def _child(path: str) -> None:
    """Read one file the way its kind is read; print hosts, CPU seconds, peak RSS (KiB), and
    whether the read was refused (the node cap)."""
    from rorunner.errors import InputError
    from rorunner.inventory import load_inventory
    from rorunner.safe_yaml import load_yaml

    start = time.process_time()
    count, outcome = 0, "read"
    try:
        if path.endswith((".ini", "hosts.yml")):
            count = len(load_inventory(path).hosts)
        else:
            load_yaml(path)
    except InputError as exc:
        outcome = "refused:" + exc.message.split(" (")[0].replace(" ", "_")
    elapsed = time.process_time() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(count, f"{elapsed:.2f}", rss, outcome)


def _run(path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return done.stdout.split()


def main() -> None:
    """Print one row per kind: size, hosts, CPU to read at the limit, RSS, the wall time of
    refusing one byte more (a fresh interpreter included), and how the read ended."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    print(f"{'file':32} {'size':>9} {'hosts':>7} {'cpu s':>6} {'rss MB':>6} {'+1 byte':>8}  read")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, make, limit) in ROWS.items():
            path = Path(tmp) / name
            path.write_text(make(limit))
            assert path.stat().st_size == limit, (label, path.stat().st_size)
            hosts, cpu, rss, outcome = _run(path)
            path.write_text(make(limit) + "#")
            start = time.perf_counter()
            refused = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"from rorunner.safe_yaml import load_yaml, read_text\n"
                    f"import sys\ntry:\n  (read_text if {name!r}.endswith('.ini') else load_yaml)"
                    f"({str(path)!r})\nexcept Exception as e:\n  sys.exit(str(e))",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - start
            assert "file is too large" in refused.stderr, refused.stderr
            print(
                f"{label:32} {limit // 1024:>6} KiB {hosts:>7} {cpu:>6} "
                f"{int(rss) // 1024:>6} {wall:>7.2f}s  {outcome.replace('_', ' ')}"
            )


if __name__ == "__main__":
    main()
