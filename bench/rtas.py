"""RTAS benchmark: rorunner against a minimal hand-written paramiko script, same workload.

Workload per host: a local pre-step; ship a script, a 4 KB config and a 1 MiB file; three
remote commands; fetch one file; then a local post-step that checks the host's fetched file.
Both sides run the same shell commands for the local steps (the playbook's `run:` lines, one
`sh -c` per host each, with RORUNNER_HOST / RORUNNER_FETCH_DIR set as rorunner sets them).
Measured on 1 to 200 lab hosts (one lab named "bench", as many hosts as the largest size), in
this one invocation: the paramiko script (one connection and one thread per host, known_hosts
parsed once and shared by its threads), rorunner's cold run, its unchanged re-run, and
rorunner's cold run with a 10,000-line known_hosts that holds the lab's keys among others,
twice: its first run (an empty known_hosts lookup cache) and a second one (another fresh
project, the lookup cache the first run left, which stays empty: every host is found by
its key, nothing is scanned; docs/transport.md, "Host keys").
Every rorunner run gets a lookup cache of its own (RORUNNER_KNOWN_HOSTS_CACHE), empty unless
it is the warm big-kh run, so no run profits from the user's cache or another variant's.
Each figure is the median of --repeat rounds; within a round the variants run in turn, the
order reversed every other round (alternated pairs); every run is in a fresh project and a
fresh remote directory. At up to 25 hosts the big known_hosts runs and the 'cold' runs they
are compared to get more rounds (--kh-pairs, 31): their ratio, a few per cent, is otherwise
lost in this machine's noise (5-round medians of the same code read 1.00x and 1.10x; the
ratios of 16 back-to-back pairs ranged from 0.88 to 1.19, CPU time moving with them).
Wall clock, CPU and peak RSS of whole processes (interpreter start and imports included) for
both sides; ratios are against the paramiko script of the same invocation.

    python bench/rtas.py [--sizes 1,10,25,50,100,200] [--repeat 5] [--known-hosts-lines 10000]
                         [--kh-pairs 31]
    python bench/rtas.py --sizes 25 --repeat 1                               (quick)

The unchanged re-runs' SSH logins are counted in the lab's sshd logs and printed (none
expected: an unchanged re-run connects to nothing).

rorunner prefers an AES-GCM cipher; the paramiko script runs both with paramiko's
default algorithms and with that same cipher, and both ratios are printed.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paramiko  # noqa: E402
from workload import rtas_playbook  # noqa: E402

from rorunner.transport import PREFERRED_CIPHERS  # noqa: E402
from tests.lab import Lab, LabHost, start_lab  # noqa: E402

DEFAULT_SIZES = "1,10,25,50,100,200"
# The big known_hosts runs' rounds (--kh-pairs) at these sizes: their ratio to 'cold', a few
# per cent, needs more rounds than the 5 that the script's ratio gets to hold on a noisy machine.
KH_PAIRS_UP_TO = 25
# The paramiko script twice: paramiko's default algorithms, and only the cipher rorunner
# prefers, so that the ratio can also be read with both sides on the same algorithms.
BASELINE_CIPHERS = {"paramiko": "default", "paramiko_gcm": PREFERRED_CIPHERS[0]}

RUN_SH = "#!/bin/sh\nhostname > hostname.txt\n"

# The hand-written baseline: what someone would write with paramiko for the same workload.
# known_hosts is parsed once (paramiko.HostKeys) and shared by the threads; each client asks
# a policy that looks the server's key up there (the client itself holds no host keys).
PARAMIKO_SCRIPT = r"""
import os, subprocess, sys, threading
import paramiko

project, remote_dir, user, key, known_hosts, ciphers = sys.argv[1:7]
hosts = [h.split(",") for h in sys.argv[7:]]  # name,address,port
errors = []
# "default": paramiko's own choice; else the only ciphers to allow (same as rorunner's pick).
allowed = ciphers.split(",")
disabled = None if ciphers == "default" else {
    "ciphers": [c for c in paramiko.Transport._preferred_ciphers if c not in allowed]}
shared = paramiko.HostKeys(known_hosts)

class Known(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        known = shared.lookup(hostname)
        if known is None or known.get(key.get_name()) != key:
            raise paramiko.SSHException(f"host key for {hostname} not known or changed")

def one(name, address, port):
    try:
        env = dict(os.environ, RORUNNER_HOST=name)
        subprocess.run(["sh", "-c", "mkdir -p build && printf 'stamp %s\\n' \"$RORUNNER_HOST\""
                        " > build/stamp-$RORUNNER_HOST"], cwd=project, env=env, check=True)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(Known())
        client.connect(address, port=int(port), username=user, key_filename=key,
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
        # the local post-step, the same shell command the playbook runs for the host
        subprocess.run(["sh", "-c", 'grep -q data.bin "$RORUNNER_FETCH_DIR/sums.txt"'
                        ' && grep -q app.conf "$RORUNNER_FETCH_DIR/sums.txt"'],
                       cwd=project, env=dict(env, RORUNNER_FETCH_DIR=local), check=True)
    except Exception as exc:
        errors.append(f"{name}: {exc!r}")

threads = [threading.Thread(target=one, args=h) for h in hosts]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit("\n".join(errors))
"""


def write_project(root: Path, remote_dir: str) -> Path:
    """The benchmark project: playbook plus the three files to ship."""
    root.mkdir(parents=True)
    (root / "site.yml").write_text(rtas_playbook("rtas", f"remote_dir: {remote_dir}"))
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


@dataclass(frozen=True)
class Sample:
    """One measured process: wall seconds, CPU seconds (user + system), peak RSS in bytes,
    and the CPU seconds the whole machine was busy meanwhile (the lab's hosts and the kernel
    included: a process's rusage cannot see the sshd sessions its run costs)."""

    wall: float
    cpu: float
    rss: int
    logins: int = 0  # SSH logins the lab's sshds accepted during the run
    machine: float = 0.0


def machine_busy() -> float:
    """CPU seconds the machine has been busy since boot (all CPUs; /proc/stat less idle and
    iowait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def timed(
    argv: Sequence[str], cwd: Path, timeout: float = 900.0, kh_cache: Path | None = None
) -> Sample:
    """Wall clock, CPU and peak RSS of one process that must succeed (its own rusage);
    `kh_cache`: its known_hosts lookup cache (a fresh one beside `cwd` when None)."""
    env = bench_env()
    env["RORUNNER_KNOWN_HOSTS_CACHE"] = str(kh_cache or cwd.with_name(cwd.name + ".khcache"))
    with tempfile.TemporaryFile() as out:
        busy = machine_busy()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        busy = machine_busy() - busy
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            text = out.read().decode(errors="replace")
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{text}")
    return Sample(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, machine=busy)


def _ed25519_blob(rng: random.Random) -> str:
    message = paramiko.Message()
    message.add_string("ssh-ed25519")
    message.add_string(rng.randbytes(32))
    return base64.b64encode(message.asbytes()).decode()


def _filler_line(i: int, rng: random.Random) -> str:
    """Lines as operators' files hold them: half hashed, plain names and ports, some patterns."""
    kind = i % 20
    if kind < 10:
        names = paramiko.HostKeys.hash_host(f"2001:db8:{i:x}::1")
    elif kind < 15:
        names = f"host-{i}.example.org,2001:db8:{i:x}::2"
    elif kind < 19:
        names = f"[2001:db8:{i:x}::3]:2222"
    else:
        names = f"*.zone{i}.example.net,2001:db8:{i:x}::*,!2001:db8:{i:x}::5"
    return f"{names} ssh-ed25519 {_ed25519_blob(rng)}"


def big_known_hosts(lab: Lab, lines: int, path: Path) -> Path:
    """A known_hosts of `lines` lines with the lab's keys spread among them (every other one
    hashed, as HashKnownHosts writes them)."""
    rng = random.Random(1)
    own = []
    for index, line in enumerate(lab.known_hosts.read_text().splitlines()):
        names, rest = line.split(" ", 1)
        own.append(f"{paramiko.HostKeys.hash_host(names)} {rest}" if index % 2 else line)
    filler = [_filler_line(i, rng) for i in range(max(lines - len(own), 0))]
    step = max(len(filler) // (len(own) + 1), 1)
    for number, line in enumerate(own, 1):
        filler.insert(min(number * step + number - 1, len(filler)), line)
    path.write_text("\n".join(filler) + "\n")
    return path


def rorunner_argv(project: Path, inventory: Path, known_hosts: Path) -> list[str]:
    """`rorunner play` of the bench project."""
    argv = [sys.executable, "-m", "rorunner", "play", str(project / "site.yml")]
    return [*argv, "-i", str(inventory), "--known-hosts", str(known_hosts)]


@dataclass(frozen=True)
class Setup:
    """What every run of one size shares."""

    lab: Lab
    hosts: Sequence[LabHost]
    inventory: Path
    script: Path
    big_known_hosts: Path | None
    scratch: Path


def run_unit(setup: Setup, unit: str, size: int, rep: int) -> dict[str, Sample]:
    """One unit of a round: a paramiko script, rorunner cold + re-run, or cold with the big
    known_hosts; each in its own fresh project and remote dir."""
    remote = f".bench/{unit}-{size}-{rep}"
    project = write_project(setup.scratch / f"{unit}-{size}-{rep}", remote)
    lab = setup.lab
    if unit in BASELINE_CIPHERS:
        argv = [sys.executable, str(setup.script), str(project), remote, lab.user]
        argv += [str(lab.client_key), str(lab.known_hosts), BASELINE_CIPHERS[unit]]
        argv += [f"{h.name},{h.address},{h.port}" for h in setup.hosts]
        return {unit: timed(argv, project)}
    if unit == "cold_kh":
        # The 2nd run gets a remote dir of its own too: in the 1st run's, it would replace
        # that run's files and host state, work the fresh 'cold' run it is compared to does
        # not do.
        warm = write_project(setup.scratch / f"warm-{size}-{rep}", f"{remote}-warm")
        return big_kh_runs(setup, project, warm)
    argv = rorunner_argv(project, setup.inventory, lab.known_hosts)
    cold = timed(argv, project)
    before = sum(host.accepted() for host in setup.hosts)
    rerun = timed(argv, project)
    logins = sum(host.accepted() for host in setup.hosts) - before
    return {"cold": cold, "rerun": replace(rerun, logins=logins)}


def _recorded(cache: Path) -> int:
    """Records in a lookup cache (a header line per known_hosts content)."""
    logs = list(cache.iterdir()) if cache.is_dir() else []
    return sum(len(log.read_text().splitlines()) - 1 for log in logs)


def big_kh_runs(setup: Setup, first: Path, warm: Path) -> dict[str, Sample]:
    """The big known_hosts run with an empty lookup cache, then in another fresh project with
    the cache it left (checked: empty before and after both, every host found by its key)."""
    assert setup.big_known_hosts is not None
    cache = first.with_name(first.name + ".khcache")
    assert _recorded(cache) == 0
    cold = timed(rorunner_argv(first, setup.inventory, setup.big_known_hosts), first)
    recorded = _recorded(cache)
    if recorded:
        raise SystemExit(f"big kh: {recorded} hosts scanned for, not found by their keys")
    argv = rorunner_argv(warm, setup.inventory, setup.big_known_hosts)
    again = timed(argv, warm, kh_cache=cache)
    if _recorded(cache) != recorded:
        raise SystemExit("big kh: the 2nd run scanned for a host (its cache grew)")
    return {"cold_kh": cold, "warm_kh": again}


def measure(setup: Setup, size: int, repeat: int, kh_pairs: int) -> dict[str, list[Sample]]:
    """Every variant `repeat` times, the order of units reversed every other round; then,
    with the big known_hosts, more rounds of only 'cold' and the big kh runs, until the
    big kh runs have `kh_pairs` rounds (the 'cold' runs they are compared to: 'kh_base')."""
    units = [*BASELINE_CIPHERS, "cold"] + (["cold_kh"] if setup.big_known_hosts else [])
    runs: dict[str, list[Sample]] = {}
    for rep in range(repeat):
        for unit in units if rep % 2 == 0 else units[::-1]:
            for variant, sample in run_unit(setup, unit, size, rep).items():
                runs.setdefault(variant, []).append(sample)
    if setup.big_known_hosts is None:
        return runs
    runs["kh_base"] = list(runs["cold"])
    for rep in range(repeat, max(repeat, kh_pairs)):
        for unit in ("cold", "cold_kh") if rep % 2 == 0 else ("cold_kh", "cold"):
            for variant, sample in run_unit(setup, unit, size, rep).items():
                if variant != "rerun":
                    runs["kh_base" if variant == "cold" else variant].append(sample)
    return runs


def _median(runs: dict[str, list[Sample]], variant: str, field: str) -> float:
    return statistics.median(getattr(s, field) for s in runs[variant])


def _ratio(runs: dict[str, list[Sample]], top: str, bottom: str, field: str = "wall") -> float:
    """Median over rounds of top/bottom (each round's pair measured side by side)."""
    pairs = zip(runs[top], runs[bottom], strict=True)
    return statistics.median(getattr(a, field) / getattr(b, field) for a, b in pairs)


def time_table(results: dict[int, dict[str, list[Sample]]]) -> list[str]:
    """Wall clock: medians and median ratios per size."""
    kh = all("cold_kh" in r for r in results.values())
    head = (
        f"{'hosts':>5}  {'paramiko':>9}  {'paramiko gcm':>12}  {'rorunner cold':>13}  "
        f"{'cold/paramiko':>13}  {'cold/gcm':>8}  {'unchanged re-run':>16}"
    )
    head += (
        f"  {'big kh 1st':>10}  {'big kh/cold':>11}  {'big kh warm':>11}  {'warm/cold':>9}"
        if kh
        else ""
    )
    lines = [head, "-" * len(head)]
    for size, runs in results.items():
        line = (
            f"{size:>5}  {_median(runs, 'paramiko', 'wall'):>8.3f}s  "
            f"{_median(runs, 'paramiko_gcm', 'wall'):>11.3f}s  "
            f"{_median(runs, 'cold', 'wall'):>12.3f}s  "
            f"{_ratio(runs, 'cold', 'paramiko'):>12.2f}x  "
            f"{_ratio(runs, 'cold', 'paramiko_gcm'):>7.2f}x  "
            f"{_median(runs, 'rerun', 'wall'):>15.3f}s"
        )
        if kh:
            line += (
                f"  {_median(runs, 'cold_kh', 'wall'):>9.3f}s  "
                f"{_ratio(runs, 'cold_kh', 'kh_base'):>10.3f}x  "
                f"{_median(runs, 'warm_kh', 'wall'):>10.3f}s  "
                f"{_ratio(runs, 'warm_kh', 'kh_base'):>8.3f}x"
            )
        lines.append(line)
    return lines


def resource_table(results: dict[int, dict[str, list[Sample]]]) -> list[str]:
    """CPU seconds and peak RSS per size (medians), memory ratio against the script."""
    variants = ["paramiko", "paramiko_gcm", "cold", "rerun", "kh_base", "cold_kh", "warm_kh"]
    head = (
        f"{'hosts':>5}  CPU s: {' / '.join(variants)}"
        f"{'':>4}machine CPU s: paramiko / cold"
        f"{'':>4}peak MiB: paramiko / cold / re-run   cold/paramiko   big kh/cold CPU"
    )
    lines = [head, "-" * len(head)]
    for size, runs in results.items():
        cpu = " / ".join(f"{_median(runs, v, 'cpu'):.2f}" if v in runs else "-" for v in variants)
        busy = " / ".join(f"{_median(runs, v, 'machine'):.2f}" for v in ("paramiko", "cold"))
        mib = " / ".join(
            f"{_median(runs, v, 'rss') / 2**20:.0f}" for v in ("paramiko", "cold", "rerun")
        )
        rss = _ratio(runs, "cold", "paramiko", "rss")
        kh = f"{_ratio(runs, 'cold_kh', 'kh_base', 'cpu'):.3f}x" if "cold_kh" in runs else "-"
        lines.append(f"{size:>5}  {cpu}    {busy}    {mib}   {rss:.2f}x   {kh:>15}")
    return lines


def load() -> str:
    """The 1, 5 and 15 minute load averages, as uptime shows them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--known-hosts-lines",
        type=int,
        default=10_000,
        help="lines of the big known_hosts variant; 0 leaves that variant out",
    )
    parser.add_argument(
        "--kh-pairs",
        type=int,
        default=31,
        help="rounds of the big known_hosts runs and their 'cold' runs, at the sizes up to 25",
    )
    parser.add_argument("--lab-name", default="bench", help="a lab of this name is (re)started")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    lab = start_lab(max(sizes), mode="auto", name=args.lab_name)
    lab_start = time.perf_counter() - started
    scratch = Path(tempfile.mkdtemp(prefix="rorunner-bench-"))
    warm_up()
    load_before = load()
    results: dict[int, dict[str, list[Sample]]] = {}
    try:
        script = scratch / "baseline.py"
        script.write_text(PARAMIKO_SCRIPT)
        big = None
        if args.known_hosts_lines:
            big = big_known_hosts(lab, args.known_hosts_lines, scratch / "known_hosts.big")
        for size in sizes:
            hosts = lab.hosts[:size]
            inventory = write_inventory(scratch / f"inv-{size}.ini", lab, hosts)
            setup = Setup(lab, hosts, inventory, script, big, scratch)
            pairs = args.kh_pairs if size <= KH_PAIRS_UP_TO else args.repeat
            results[size] = measure(setup, size, args.repeat, pairs)
    finally:
        lab.stop(remove=args.lab_name != "bench")
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"lab mode: {lab.mode} ({len(lab.hosts)} hosts started in {lab_start:.1f}s); "
        f"median of {args.repeat} alternated rounds; whole processes"
    )
    print(f"load average before: {load_before}; after: {load()} ({os.cpu_count()} CPUs)")
    print(
        f"ciphers: rorunner prefers {PREFERRED_CIPHERS[0]} (AEAD, no separate MAC); "
        "'paramiko' uses paramiko's default choice, 'paramiko gcm' allows only that cipher; "
        "ratios are medians of per-round ratios"
    )
    print(
        "CPU s: the measured process's own (its rusage, children included); machine CPU s: "
        "what the whole machine spent while it ran (the lab's sshd sessions, shells and "
        "commands and the kernel too)"
    )
    if args.known_hosts_lines:
        print(
            f"big kh: rorunner cold with a {args.known_hosts_lines}-line known_hosts (the lab's "
            "keys among them, half the lines hashed) instead of the lab's own file: '1st' with "
            "an empty known_hosts lookup cache, 'warm' a 2nd run with the cache the 1st left "
            "(empty: hosts are found by their keys; every other rorunner run: an empty cache of "
            "its own), each run in a fresh remote dir as 'cold'; ratios against 'cold', median "
            f"of {max(args.kh_pairs, args.repeat)} alternated rounds of 'cold' and the big kh runs "
            f"at up to {KH_PAIRS_UP_TO} hosts (the first {args.repeat} within the rounds above)"
        )
    print("\n".join(time_table(results)))
    print()
    print("\n".join(resource_table(results)))
    logins = sum(s.logins for runs in results.values() for s in runs["rerun"])
    print(f"\nunchanged re-runs: {logins} SSH logins in all (the sshd logs; none expected)")


if __name__ == "__main__":
    main()
