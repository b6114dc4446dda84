"""RTAS benchmark: rorunner against a minimal hand-written paramiko script, same workload.

Workload per host: a local pre-step; ship a script, a 4 KB config and a 1 MiB file; three
remote commands; fetch one file; then a local post-step that checks every host's fetched file.
Measured on 1, 10 and 25 lab hosts (one lab of 25 sshd hosts named "bench"), in this one
invocation: rorunner's cold run, its unchanged re-run, and the paramiko script (one
connection and one thread per host). Each figure is the median of --repeat runs, every
run in a fresh project and a fresh remote directory. Wall clock of whole processes
(interpreter start and imports included) for both sides.

    python bench/rtas.py [--sizes 1,10,25] [--repeat 3]      (quick: --sizes 25 --repeat 1)

rorunner prefers an AES-GCM cipher; the paramiko script runs both with paramiko's
default algorithms and with that same cipher, and both ratios are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rorunner.transport._ssh_hostkeys import PREFERRED_CIPHERS  # noqa: E402
from tests.lab import Lab, LabHost, start_lab  # noqa: E402

LAB_SIZE = 25
# The paramiko script twice: paramiko's default algorithms, and only the cipher rorunner
# prefers, so that the ratio can also be read with both sides on the same algorithms.
BASELINE_CIPHERS = {"paramiko": "default", "paramiko_gcm": PREFERRED_CIPHERS[0]}
VARIANTS = (*BASELINE_CIPHERS, "cold", "rerun")

PLAYBOOK = """\
- name: rtas
  hosts: all
  remote_dir: {remote_dir}
  rtas:
    - name: work
      local_pre:
        - run: mkdir -p build && printf 'stamp %s\\n' "$RORUNNER_HOST" > build/stamp-$RORUNNER_HOST
      ship:
        - run.sh
        - app.conf
        - data.bin
      remote:
        - sh run.sh
        - md5sum data.bin > sums.txt
        - wc -c app.conf >> sums.txt
      fetch:
        - sums.txt
      local_post:
        - run: grep -q data.bin "$RORUNNER_FETCH_DIR/sums.txt"
            && grep -q app.conf "$RORUNNER_FETCH_DIR/sums.txt"
"""

RUN_SH = "#!/bin/sh\nhostname > hostname.txt\n"

# The hand-written baseline: what someone would write with paramiko for the same workload.
PARAMIKO_SCRIPT = r"""
import os, subprocess, sys, threading
import paramiko

project, remote_dir, key, known_hosts, ciphers = sys.argv[1:6]
hosts = [h.split(",") for h in sys.argv[6:]]  # name,address,port
errors = []
# "default": paramiko's own choice; else the only ciphers to allow (same as rorunner's pick).
allowed = ciphers.split(",")
disabled = None if ciphers == "default" else {
    "ciphers": [c for c in paramiko.Transport._preferred_ciphers if c not in allowed]}

def one(name, address, port):
    try:
        env = dict(os.environ, RORUNNER_HOST=name)
        subprocess.run(["sh", "-c", "mkdir -p build && printf 'stamp %s\\n' \"$RORUNNER_HOST\""
                        " > build/stamp-$RORUNNER_HOST"], cwd=project, env=env, check=True)
        client = paramiko.SSHClient()
        client.load_host_keys(known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(address, port=int(port), username="root", key_filename=key,
                       allow_agent=False, look_for_keys=False, disabled_algorithms=disabled)
        sftp = client.open_sftp()
        home = sftp.normalize(".")
        work = home + "/" + remote_dir
        path = home
        for part in remote_dir.split("/"):
            path += "/" + part
            try:
                sftp.mkdir(path, 0o700)
            except OSError:
                pass
        for f in ("run.sh", "app.conf", "data.bin"):
            sftp.put(os.path.join(project, f), work + "/" + f)
        for cmd in ("sh run.sh", "md5sum data.bin > sums.txt", "wc -c app.conf >> sums.txt"):
            _, out, err = client.exec_command(f"cd {work} && {cmd}")
            out.read(); err.read()
            if out.channel.recv_exit_status() != 0:
                raise RuntimeError(f"{name}: {cmd} failed")
        local = os.path.join(project, "fetched", name)
        os.makedirs(local, exist_ok=True)
        sftp.get(work + "/sums.txt", os.path.join(local, "sums.txt"))
        sftp.close()
        client.close()
    except Exception as exc:
        errors.append(f"{name}: {exc!r}")

threads = [threading.Thread(target=one, args=h) for h in hosts]
for t in threads: t.start()
for t in threads: t.join()
for name, _, _ in hosts:  # the local post-step: check every host's fetched file
    text = open(os.path.join(project, "fetched", name, "sums.txt")).read()
    assert "data.bin" in text and "app.conf" in text, name
if errors:
    sys.exit("\n".join(errors))
"""


def write_project(root: Path, remote_dir: str) -> Path:
    """The benchmark project: playbook plus the three files to ship."""
    root.mkdir(parents=True)
    (root / "site.yml").write_text(PLAYBOOK.format(remote_dir=remote_dir))
    (root / "run.sh").write_text(RUN_SH)
    (root / "app.conf").write_text(("key = value # padding\n" * 200)[:4096])
    (root / "data.bin").write_bytes(os.urandom(1 << 20))
    return root


def write_inventory(path: Path, lab: Lab, hosts: Sequence[LabHost]) -> Path:
    """An INI inventory of these lab hosts."""
    lines = ["[all]"]
    lines += [f"{h.name} ansible_host={h.address} ansible_port={h.port}" for h in hosts]
    lines += [
        "",
        "[all:vars]",
        f"ansible_user={lab.user}",
        f"ansible_ssh_private_key_file={lab.client_key}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_env() -> dict[str, str]:
    """The environment of every measured process: bytecode caching on, as when installed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    return env


def warm_up() -> None:
    """Compile rorunner once so no measured run pays for it (paramiko ships compiled)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "rorunner")],
        env=bench_env(),
        check=True,
    )


def timed(argv: Sequence[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of a process that must succeed."""
    env = bench_env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(
            f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout}{proc.stderr}"
        )
    return elapsed, cpu


def rorunner_argv(project: Path, inventory: Path, lab: Lab) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rorunner",
        "play",
        str(project / "site.yml"),
        "-i",
        str(inventory),
        "--known-hosts",
        str(lab.known_hosts),
    ]


def measure(lab: Lab, size: int, repeat: int, scratch: Path) -> dict[str, float]:
    """Median wall and CPU seconds of each variant on the first `size` lab hosts."""
    hosts = lab.hosts[:size]
    inventory = write_inventory(scratch / f"inv-{size}.ini", lab, hosts)
    script = scratch / "baseline.py"
    script.write_text(PARAMIKO_SCRIPT)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in VARIANTS}
    for rep in range(repeat):
        for variant, ciphers in BASELINE_CIPHERS.items():
            remote = f".bench/{variant}-{size}-{rep}"
            base = write_project(scratch / f"{variant}-{size}-{rep}", remote)
            argv = [sys.executable, str(script), str(base), remote]
            argv += [str(lab.client_key), str(lab.known_hosts), ciphers]
            argv += [f"{h.name},{h.address},{h.port}" for h in hosts]
            runs[variant].append(timed(argv, base))
        proj = write_project(scratch / f"r-{size}-{rep}", f".bench/r-{size}-{rep}")
        runs["cold"].append(timed(rorunner_argv(proj, inventory, lab), proj))
        runs["rerun"].append(timed(rorunner_argv(proj, inventory, lab), proj))
    medians = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    medians.update({f"{k}_cpu": statistics.median(c for _, c in v) for k, v in runs.items()})
    return medians


def table(results: dict[int, dict[str, float]]) -> str:
    """The results as a plain-text table with ratios."""
    head = (
        f"{'hosts':>5}  {'paramiko':>9}  {'paramiko gcm':>12}  {'rorunner cold':>13}  "
        f"{'cold/paramiko':>13}  {'cold/gcm':>8}  {'unchanged re-run':>16}   "
        "CPU s: paramiko / paramiko gcm / cold / re-run"
    )
    lines = [head, "-" * len(head)]
    for size, r in results.items():
        lines.append(
            f"{size:>5}  {r['paramiko']:>8.3f}s  {r['paramiko_gcm']:>11.3f}s  "
            f"{r['cold']:>12.3f}s  {r['cold'] / r['paramiko']:>12.2f}x  "
            f"{r['cold'] / r['paramiko_gcm']:>7.2f}x  {r['rerun']:>15.3f}s   "
            f"{r['paramiko_cpu']:.2f} / {r['paramiko_gcm_cpu']:.2f} / {r['cold_cpu']:.2f} / "
            f"{r['rerun_cpu']:.2f}"
        )
    return "\n".join(lines)


def load() -> str:
    """The 1, 5 and 15 minute load averages, as uptime shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,25")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lab = start_lab(max(LAB_SIZE, *sizes), mode="auto", name="bench")
    scratch = Path(tempfile.mkdtemp(prefix="rorunner-bench-"))
    warm_up()
    load_before = load()
    try:
        results = {size: measure(lab, size, args.repeat, scratch) for size in sizes}
    finally:
        lab.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"lab mode: {lab.mode}; median of {args.repeat} runs; whole processes, wall clock")
    print(f"load average before: {load_before}; after: {load()} ({os.cpu_count()} CPUs)")
    print(
        f"ciphers: rorunner prefers {PREFERRED_CIPHERS[0]} (AEAD, no separate MAC); "
        "'paramiko' uses paramiko's default choice, 'paramiko gcm' allows only that cipher"
    )
    print(table(results))


if __name__ == "__main__":
    main()
