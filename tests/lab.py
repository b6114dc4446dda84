"""A lab of real OpenSSH sshd hosts: one network namespace per host as root, else ports on [::1].

    lab = start_lab(n=4, mode="auto", name="test")   # ... lab.stop()
    python -m tests.lab up --hosts 4 --mode auto --name demo
    python -m tests.lab down --name demo

State lives in `.lab/<name>/` of the repo. Every daemon is started by us, recorded with its
start time in `.lab/<name>/pids`, and stopped by PID; nothing but loopback and the lab's own
addresses is ever contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rorunner.model import ConnectionSpec

Mode = Literal["auto", "netns", "loopback"]
SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parent.parent
LAB_ROOT = REPO / ".lab"
READY_TIMEOUT = 10.0  # banner / namespace readiness, seconds
STOP_TIMEOUT = 3.0  # SIGTERM grace before SIGKILL, seconds
POLL = 0.01
PORT_RANGE = (20000, 32000)  # loopback sshd ports; Linux hands out ephemeral ports from 32768
ULA_BASE = "fd5a:7e57"  # our own ULA /48; the machine's eth0 uses fd00::/64
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")  # also a path part: no dots
ACCEPTED_RE = re.compile(r"\bAccepted \S+ for \S+ from ")


class LabError(RuntimeError):
    """The lab could not be started or stopped; the message says why."""


class LabBusyError(LabError):
    """A live process (not this one) owns a running lab of that name."""


# --- processes we start: (pid, kernel start time) so a reused PID is never signalled ---------


@dataclass(frozen=True)
class _Proc:
    pid: int
    start: int


def _start_time(pid: int) -> int | None:
    """Kernel start time of a live (non-zombie) process, None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in "ZX" else int(fields[19])


def _proc(pid: int) -> _Proc | None:
    start = _start_time(pid)
    return None if start is None else _Proc(pid, start)


def _alive(proc: _Proc | None) -> bool:
    if proc is None:
        return False
    with contextlib.suppress(ChildProcessError):  # reap our dead children: no zombies
        os.waitpid(proc.pid, os.WNOHANG)
    return _start_time(proc.pid) == proc.start


def _spawn(argv: Sequence[str], log: Path, record: Path) -> _Proc:
    """Start a daemon in its own session, stdout+stderr appended to `log`, noted in `record`."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawnp(argv[0], list(argv), dict(os.environ), file_actions=actions, setsid=True)
    proc = _proc(pid) or _Proc(pid, -1)
    with record.open("a") as pids:  # append-only: a restarted sshd is recorded too
        pids.write(f"{proc.pid} {proc.start} {log.parent.name} {Path(argv[0]).name}\n")
    return proc


def _descendants(roots: Iterable[_Proc]) -> list[_Proc]:
    """Live descendants of `roots` (sshd sessions and what they run)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: list[_Proc] = []
    todo = [p.pid for p in roots if _alive(p)]
    while todo:
        for pid in children.get(todo.pop(), []):
            proc = _proc(pid)
            if proc is not None:
                found.append(proc)
                todo.append(pid)
    return found


def _signal_all(procs: Iterable[_Proc], sig: signal.Signals) -> None:
    for proc in procs:
        if _alive(proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
                if sig == signal.SIGTERM:  # a test may have left it SIGSTOPped
                    os.kill(proc.pid, signal.SIGCONT)


def _wait_dead(procs: list[_Proc], timeout: float) -> list[_Proc]:
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(POLL)
        alive = [p for p in alive if _alive(p)]
    return alive


def _terminate(procs: Iterable[_Proc]) -> None:
    """SIGTERM, bounded wait, then SIGKILL; only the exact processes given."""
    procs = list(procs)
    _signal_all(procs, signal.SIGTERM)
    left = _wait_dead(procs, STOP_TIMEOUT)
    _signal_all(left, signal.SIGKILL)
    left = _wait_dead(left, STOP_TIMEOUT)
    if left:
        raise LabError(f"processes survived SIGKILL: {[p.pid for p in left]}")


def _run(argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def _must(argv: Sequence[str], stdin: str | None = None) -> str:
    done = _run(argv, stdin)
    if done.returncode != 0:
        raise LabError(f"{shlex.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


# --- readiness -------------------------------------------------------------------------------


def read_banner(address: str, port: int, timeout: float = 1.0) -> str | None:
    """The SSH identification line a server sends on connect, None when it does not."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\n", 1)[0].decode(errors="replace").strip()
    return line if line.startswith("SSH-2.0-") else None


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_banners(hosts: Sequence[LabHost], timeout: float = READY_TIMEOUT) -> None:
    """Poll every host's port until it speaks SSH; fail fast when an sshd dies."""
    deadline = time.monotonic() + timeout
    pending = list(hosts)
    while pending:
        for host in list(pending):
            if read_banner(host.address, host.port):
                pending.remove(host)
            elif not _alive(host._sshd):
                raise LabError(f"{host.name}: sshd exited: {_tail(host.log)}")
        if pending and time.monotonic() > deadline:
            names = ", ".join(h.name for h in pending)
            raise LabError(f"no SSH banner within {timeout:.0f}s from {names}")
        if pending:
            time.sleep(POLL)


# --- hosts and the lab -----------------------------------------------------------------------


@dataclass(eq=False)
class LabHost:
    """One lab host: a real sshd, in its own namespaces (netns mode) or on a [::1] port."""

    name: str
    address: str
    port: int
    hostname: str
    log: Path
    home: Path
    netns: str | None
    config: Path
    _pids: Path = field(repr=False)  # the lab's append-only PID record
    veth: str | None = None  # our end of the host's link (netns mode)
    _sshd: _Proc | None = field(default=None, repr=False)
    _holder: _Proc | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """PID of the host's sshd (listener)."""
        if self._sshd is None:
            raise LabError(f"{self.name}: sshd is not running")
        return self._sshd.pid

    def accepted(self) -> int:
        """Successful logins so far: "Accepted <method> for <user>" lines in the sshd log.

        LogLevel VERBOSE also logs "Accepted key ... found at" per key check; not counted.
        """
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return 0
        return len(ACCEPTED_RE.findall(text))

    def _enter(self) -> list[str]:
        if self.netns is None:
            return []
        if not _alive(self._holder):
            raise LabError(f"{self.name}: the host's namespaces are gone")
        assert self._holder is not None
        return ["nsenter", "-t", str(self._holder.pid), "-m", "-u", "-n"]

    def sh(
        self, cmd: str, timeout: float = 60.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command in the host's view (its net, mount and UTS namespaces), with
        the HOME an SSH login of this user gets there (tests run with a HOME of their own)."""
        argv = [*self._enter(), "sh", "-c", cmd]
        env = {**os.environ, "HOME": pwd.getpwuid(os.getuid()).pw_dir}
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=check, env=env
        )

    def _spawn_sshd(self) -> None:
        argv = [*self._enter(), SSHD, "-D", "-e", "-f", str(self.config)]
        self._sshd = _spawn(argv, self.log, self._pids)

    def start_sshd(self) -> None:
        """Start sshd again (same address, port, keys) and wait for its banner."""
        if _alive(self._sshd):
            return
        self._spawn_sshd()
        _wait_banners([self])

    def stop_sshd(self) -> None:
        """Stop sshd and its sessions; the namespaces (and /tmp) stay."""
        if self._sshd is not None:
            _terminate([*_descendants([self._sshd]), self._sshd])
        self._sshd = None

    def _procs(self) -> list[_Proc]:
        return [p for p in (self._sshd, self._holder) if p is not None]

    # --- faults: a full disk, a dead or slow link, a frozen server --------------------------

    def _netns_only(self, fault: str) -> None:
        if self.netns is None or self.veth is None:
            raise LabError(f"{self.name}: {fault} needs the netns lab (loopback hosts share ours)")

    def mount_tmpfs(self, path: str, size: str) -> None:
        """Mount a private (0700) tmpfs of `size` ("64k") at `path`, in the host's namespace."""
        self._netns_only("a tmpfs mount")
        where = shlex.quote(path)
        self.sh(
            f"mkdir -p {where} && mount -t tmpfs -o size={size},mode=0700 rrfault {where}",
            check=True,
        )

    def resize_tmpfs(self, path: str, size: str) -> None:
        """Grow (or shrink) the tmpfs at `path`; its files stay."""
        self._netns_only("a tmpfs mount")
        self.sh(f"mount -o remount,size={size} {shlex.quote(path)}", check=True)

    def unmount(self, path: str) -> None:
        """Unmount what `mount_tmpfs` mounted at `path` (lazily: a server may still hold it)."""
        self._netns_only("a tmpfs mount")
        self.sh(f"umount -l {shlex.quote(path)}", check=True)

    def set_link(self, up: bool) -> None:
        """`ip link set eth0 up|down` in the host's netns (the address survives down/up)."""
        self._netns_only("a link fault")
        self.sh(f"ip link set eth0 {'up' if up else 'down'}", check=True)

    def limit_rate(self, rate: str | None) -> None:
        """Shape the host's link both ways to `rate` ("16mbit", tc tbf); None removes it."""
        self._netns_only("a slow link")
        assert self.veth is not None
        ends = [(self._enter(), "eth0"), ([], self.veth)]  # host -> controller, controller -> host
        for enter, dev in ends:
            _run([*enter, "tc", "qdisc", "del", "dev", dev, "root"])  # none yet: that is fine
            if rate is not None:
                tbf = ["tbf", "rate", rate, "burst", "32kb", "latency", "1s"]
                _must([*enter, "tc", "qdisc", "add", "dev", dev, "root", *tbf])

    def sessions(self) -> list[_Proc]:
        """The processes serving connections: everything below the sshd listener."""
        return _descendants([self._sshd]) if self._sshd is not None else []

    def freeze_sessions(self, frozen: bool) -> None:
        """SIGSTOP (or SIGCONT) every session process: a server that stops reading."""
        _signal_all(self.sessions(), signal.SIGSTOP if frozen else signal.SIGCONT)


@dataclass(eq=False)
class Lab:
    """A running lab: hosts plus the files a client needs (keys, known_hosts, inventories)."""

    name: str
    mode: Literal["netns", "loopback"]
    dir: Path
    hosts: list[LabHost]
    user: str
    bridge: str | None = None
    prefix: str | None = None  # the lab's /64 in netns mode

    @property
    def client_key(self) -> Path:
        """The lab-only ed25519 private key that every host accepts."""
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """known_hosts with every host's key (`addr` on port 22, else `[addr]:port`)."""
        return self.dir / "known_hosts"

    @property
    def inventory_ini(self) -> Path:
        """INI inventory: groups web (first half) and db (the rest)."""
        return self.dir / "inventory.ini"

    @property
    def inventory_yaml(self) -> Path:
        """The same inventory in YAML."""
        return self.dir / "inventory.yml"

    @property
    def ssh_config(self) -> Path:
        """An ssh_config with one `Host hN` block per host."""
        return self.dir / "ssh_config"

    def env(self) -> dict[str, str]:
        """RORUNNER_* variables that point the seed API at this lab."""
        return {
            "RORUNNER_KNOWN_HOSTS": str(self.known_hosts),
            "RORUNNER_PRIVATE_KEY": str(self.client_key),
            "RORUNNER_USER": self.user,
        }

    def host(self, name: str) -> LabHost:
        """The host called `name` (h1..hN)."""
        return next(h for h in self.hosts if h.name == name)

    def spec(self, host: LabHost, **overrides: Any) -> ConnectionSpec:
        """The rorunner ConnectionSpec that reaches `host` (fields may be overridden)."""
        from rorunner.model import ConnectionSpec  # here: the lab itself runs without it

        base = ConnectionSpec(
            address=host.address,
            port=host.port,
            user=self.user,
            key_file=str(self.client_key),
            known_hosts=(str(self.known_hosts),),
            label=host.name,
        )
        return dataclasses.replace(base, **overrides)

    def stop(self, remove: bool = False) -> None:
        """Stop every process we started, remove namespaces and bridge; idempotent.

        `remove` also deletes the lab dir (keys, logs) and the name's lock: for throwaway names.
        """
        procs = [p for h in self.hosts for p in h._procs()]
        _terminate([*_descendants(procs), *procs])
        for host in self.hosts:
            host._sshd = host._holder = None
        with _name_lock(self.name):
            if not _owned_by_others(self.name):  # stop() twice must not hit a newer run
                _cleanup_stale(self.name)
                if remove:
                    _remove(self.name)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _remove(name: str) -> None:
    shutil.rmtree(LAB_ROOT / name, ignore_errors=True)
    (_state_dir() / f"{name}.lock").unlink(missing_ok=True)


# --- naming: distinct interfaces and subnets per lab name ------------------------------------


def _tag(name: str) -> str:
    """Short id for interface names (<= 15 chars): the name itself or a hash of it."""
    if re.fullmatch(r"[a-z0-9]{1,8}", name):
        return name
    return f"{zlib.crc32(name.encode()):08x}"


def _bridge_name(name: str) -> str:
    return f"rr{_tag(name)}br"


def _veth_name(name: str, index: int) -> str:
    return f"rr{_tag(name)}v{index}"


def _netns_name(name: str, index: int) -> str:
    return f"rr{name}-h{index}"


def _netns_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"rr{re.escape(name)}-h\d+")


def _prefix(name: str) -> str:
    return f"{ULA_BASE}:{zlib.crc32(name.encode()) & 0xFFFF:x}::"


def _address(prefix: str, index: int) -> str:
    return str(ipaddress.IPv6Address(f"{prefix}{index + 10}"))


# --- stale state ------------------------------------------------------------------------------


def _recorded(lab_dir: Path, file: str = "pids") -> list[_Proc]:
    procs = []
    try:
        lines = (lab_dir / file).read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].lstrip("-").isdigit():
            procs.append(_Proc(int(parts[0]), int(parts[1])))
    return procs


def _our_namespaces(name: str) -> list[str]:
    done = _run(["ip", "netns", "list"]) if shutil.which("ip") else None
    if done is None or done.returncode != 0:
        return []
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    return [ns for ns in names if _netns_re(name).fullmatch(ns)]


def _namespace_procs(namespaces: Iterable[str]) -> list[_Proc]:
    procs = []
    for ns in namespaces:
        for pid in _run(["ip", "netns", "pids", ns]).stdout.split():
            proc = _proc(int(pid))
            if proc is not None:
                procs.append(proc)
    return procs


def _state_dir() -> Path:
    """Machine-wide registry of lab names: namespaces, bridges and subnets are machine-wide."""
    base = Path("/run") if os.geteuid() == 0 else Path(tempfile.gettempdir())
    path = base / f"rorunner-lab-{os.geteuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _owner(name: str) -> tuple[_Proc, Path] | None:
    """Who started lab `name` last (process, lab dir), from any checkout."""
    try:
        pid, start, lab_dir = (_state_dir() / f"{name}.owner").read_text().split(maxsplit=2)
        return _Proc(int(pid), int(start)), Path(lab_dir.strip())
    except (OSError, ValueError):
        return None


def _claim(name: str, lab_dir: Path) -> None:
    """Refuse a name a live process uses (any checkout); else take it over."""
    owner = _owner(name)
    if owner and owner[0].pid != os.getpid() and _alive(owner[0]):
        raise LabBusyError(f"lab {name!r} is in use by process {owner[0].pid} ({owner[1]})")
    _cleanup_stale(name)
    me = _Proc(os.getpid(), _start_time(os.getpid()) or -1)
    (_state_dir() / f"{name}.owner").write_text(f"{me.pid} {me.start} {lab_dir}\n")


def _cleanup_stale(name: str) -> None:
    """Stop what a run of lab `name` left: recorded PIDs, namespaces, veths, bridge."""
    owner = _owner(name)
    dirs = {LAB_ROOT / name} | ({owner[1]} if owner else set())
    recorded = [p for d in dirs for p in _recorded(d) if _alive(p)]
    namespaces = _our_namespaces(name)
    _terminate([*_descendants(recorded), *recorded, *_namespace_procs(namespaces)])
    # Deleting our end of each veth pair is synchronous; a netns deletion is not.
    ours = re.compile(rf"rr{_tag(name)}(v\d+|br)")
    links = [d.name for d in Path("/sys/class/net").iterdir() if ours.fullmatch(d.name)]
    batch = [f"link del {link}" for link in links] + [f"netns del {ns}" for ns in namespaces]
    if batch:
        _run(["ip", "-force", "-batch", "-"], "\n".join(batch) + "\n")
    for lab_dir in dirs:
        (lab_dir / "pids").unlink(missing_ok=True)
    (_state_dir() / f"{name}.owner").unlink(missing_ok=True)


def _owned_by_others(name: str) -> bool:
    owner = _owner(name)
    return owner is not None and owner[0].pid != os.getpid() and _alive(owner[0])


@contextlib.contextmanager
def _name_lock(name: str) -> Iterator[None]:
    """Serialise start/stop of one lab name across processes (bounded wait)."""
    with (_state_dir() / f"{name}.lock").open("w") as handle:
        deadline = time.monotonic() + 30.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"lab {name!r} stayed locked for 30s") from None
                time.sleep(0.05)
        yield


# --- files: keys, sshd configs, known_hosts, inventories, ssh_config --------------------------


def _keygen_one(path: Path) -> str:
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rorunner-lab", "-f", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    return "" if done.returncode == 0 else f"{path}: {done.stderr.strip()}"


def _keygen(paths: Sequence[Path]) -> None:
    """Generate ed25519 keys in parallel with ssh-keygen."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        errors = [e for e in pool.map(_keygen_one, paths) if e]
    if errors:
        raise LabError("ssh-keygen failed: " + "; ".join(errors))


def _sshd_config(lab: Lab, host: LabHost, extra: Sequence[str]) -> str:
    hostdir = host.config.parent
    lines = [
        f"Port {host.port}",
        "AddressFamily inet6",
        f"ListenAddress {host.address}",
        f"HostKey {hostdir / 'ssh_host_ed25519_key'}",
        "PidFile none",
        f"AuthorizedKeysFile {lab.dir / 'authorized_keys'}",
        "StrictModes no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UseDNS no",
        "LogLevel VERBOSE",
        "MaxSessions 64",
        "MaxStartups 100:30:200",
        "PrintMotd no",
        "AcceptEnv LANG LC_*",
        "Subsystem sftp internal-sftp",
        *extra,
    ]
    return "\n".join(lines) + "\n"


_EXTRAS: list[list[str]] = []  # cache: what this machine's sshd accepts


def _supported_extras(lab: Lab, host: LabHost) -> list[str]:
    """`PerSourcePenalties no` where sshd knows it (>= 9.8), so failing tests don't ban ::1."""
    if not _EXTRAS:
        extra = ["PerSourcePenalties no"]
        probe = host.config.with_name("probe_config")
        probe.write_text(_sshd_config(lab, host, extra))
        ok = _run([SSHD, "-t", "-f", str(probe)]).returncode == 0
        probe.unlink()
        _EXTRAS.append(extra if ok else [])
    return _EXTRAS[0]


def _write_sshd_configs(lab: Lab, hosts: Sequence[LabHost]) -> None:
    for host in hosts:
        host.config.write_text(_sshd_config(lab, host, _supported_extras(lab, host)))


def _host_key_line(lab: Lab, host: LabHost) -> str:
    key = (host.config.parent / "ssh_host_ed25519_key.pub").read_text().split()
    where = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    return f"{where} {key[0]} {key[1]}"


def _host_vars(lab: Lab, host: LabHost) -> dict[str, str | int]:
    hv: dict[str, str | int] = {"ansible_host": host.address}
    if host.port != 22:
        hv["ansible_port"] = host.port
    if lab.mode == "loopback":
        hv["remote_dir"] = str(host.home / "work")
    return hv


def _groups(lab: Lab) -> dict[str, list[LabHost]]:
    half = max(1, (len(lab.hosts) + 1) // 2)
    return {"web": lab.hosts[:half], "db": lab.hosts[half:]}


def _all_vars(lab: Lab) -> dict[str, str]:
    return {"ansible_user": lab.user, "ansible_ssh_private_key_file": str(lab.client_key)}


def _inventory_ini(lab: Lab) -> str:
    out = []
    for group, members in _groups(lab).items():
        out.append(f"[{group}]")
        for host in members:
            hv = " ".join(f"{k}={v}" for k, v in _host_vars(lab, host).items())
            out.append(f"{host.name} {hv}")
        out.append("")
    out.append("[all:vars]")
    out += [f"{k}={v}" for k, v in _all_vars(lab).items()]
    return "\n".join(out) + "\n"


def _yaml_scalar(value: str | int) -> str:
    return str(value) if isinstance(value, int) else json.dumps(value)


def _inventory_yaml(lab: Lab) -> str:
    out = ["all:", "  vars:"]
    out += [f"    {k}: {_yaml_scalar(v)}" for k, v in _all_vars(lab).items()]
    out.append("  children:")
    for group, members in _groups(lab).items():
        out.append(f"    {group}:")
        out.append("      hosts:" + ("" if members else " {}"))
        for host in members:
            out.append(f"        {host.name}:")
            out += [f"          {k}: {_yaml_scalar(v)}" for k, v in _host_vars(lab, host).items()]
    return "\n".join(out) + "\n"


def _ssh_config_text(lab: Lab) -> str:
    out = []
    for host in lab.hosts:
        out += [
            f"Host {host.name}",
            f"  HostName {host.address}",
            f"  Port {host.port}",
            f"  User {lab.user}",
            f"  IdentityFile {lab.client_key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {lab.known_hosts}",
            "  StrictHostKeyChecking yes",
            "",
        ]
    return "\n".join(out)


def _write_client_files(lab: Lab) -> None:
    lab.known_hosts.write_text("".join(_host_key_line(lab, h) + "\n" for h in lab.hosts))
    lab.inventory_ini.write_text(_inventory_ini(lab))
    lab.inventory_yaml.write_text(_inventory_yaml(lab))
    lab.ssh_config.write_text(_ssh_config_text(lab))


def _prepare_files(lab: Lab) -> None:
    """HOME dirs, keys for the client and every host, sshd configs."""
    for host in lab.hosts:
        host.home.mkdir(parents=True)
    keys = [lab.client_key] + [h.config.parent / "ssh_host_ed25519_key" for h in lab.hosts]
    _keygen(keys)
    (lab.dir / "authorized_keys").write_text(Path(f"{lab.client_key}.pub").read_text())
    _write_sshd_configs(lab, lab.hosts)


# --- netns mode --------------------------------------------------------------------------------


def _netns_batch(lab: Lab) -> str:
    """Root-namespace `ip -batch`: the bridge, then a netns and a veth pair per host."""
    assert lab.bridge is not None
    lines = [
        f"link add {lab.bridge} type bridge",
        f"addr add {lab.prefix}1/64 dev {lab.bridge} nodad",
        f"link set {lab.bridge} up",
    ]
    for i, host in enumerate(lab.hosts, 1):
        assert host.netns is not None
        veth = _veth_name(lab.name, i)
        lines += [
            f"netns add {host.netns}",
            f"link add {veth} type veth peer name eth0 netns {host.netns}",
            f"link set {veth} master {lab.bridge} up",
        ]
    return "\n".join(lines) + "\n"


def _holder_script(lab: Lab, host: LabHost) -> str:
    """Inside the new netns + mount/UTS namespaces: address, private /tmp, HOME, hostname."""
    q = shlex.quote
    steps = [
        "set -e",
        "ip link set lo up",
        f"ip addr add {host.address}/64 dev eth0 nodad",
        # so that `ip link set eth0 down` / `up` (a fault tests inject) keeps the address
        "echo 1 > /proc/sys/net/ipv6/conf/eth0/keep_addr_on_down",
        "ip link set eth0 up",
        # The new tmpfs is built at /root (replaced by HOME below), then moved over /tmp.
        "mount -t tmpfs -o mode=1777,size=256m rrtmp /root",
    ]
    if lab.dir.is_relative_to("/tmp"):  # keep the lab dir visible under the new /tmp
        inside = q(str(Path("/root") / lab.dir.relative_to("/tmp")))
        steps.append(f"mkdir -p {inside} && mount --bind {q(str(lab.dir))} {inside}")
    steps += [
        "mount --move /root /tmp",
        f"mount --bind {q(str(host.home))} /root",
        f"echo {q(host.hostname)} > /proc/sys/kernel/hostname",  # our own UTS namespace
        "exec sleep infinity",
    ]
    return "; ".join(steps)


def _wait_holders(hosts: Sequence[LabHost]) -> None:
    """A holder is ready once its shell exec'd `sleep` (all mounts done)."""
    deadline = time.monotonic() + READY_TIMEOUT
    pending = list(hosts)
    while pending:
        for host in list(pending):
            assert host._holder is not None
            try:
                comm = Path(f"/proc/{host._holder.pid}/comm").read_text().strip()
            except OSError:
                comm = ""
            if comm == "sleep" and _alive(host._holder):
                pending.remove(host)
            elif not _alive(host._holder):
                raise LabError(f"{host.name}: namespace setup failed: {_tail(host.log)}")
        if pending and time.monotonic() > deadline:
            raise LabError(f"namespace setup timed out for {[h.name for h in pending]}")
        if pending:
            time.sleep(POLL)


def _check_prefix_free(lab: Lab) -> None:
    """Two lab names whose hash picks the same /64 would fight over routes: say so."""
    used = _must(["ip", "-6", "-o", "addr", "show", "to", f"{lab.prefix}/64"]).split()
    if used:
        raise LabError(f"{lab.prefix}/64 is already on {used[1]}: rename lab {lab.name!r}")


def _start_netns(lab: Lab) -> None:
    _check_prefix_free(lab)
    _must(["ip", "-batch", "-"], _netns_batch(lab))
    for host in lab.hosts:
        assert host.netns is not None
        script = _holder_script(lab, host)
        argv = ["ip", "netns", "exec", host.netns, "unshare", "--mount", "--uts", "sh", "-c"]
        host._holder = _spawn([*argv, script], host.log, host._pids)
    _wait_holders(lab.hosts)


def _netns_hosts(lab_dir: Path, name: str, n: int) -> list[LabHost]:
    prefix = _prefix(name)
    hosts = [
        _new_host(lab_dir, i, _address(prefix, i), 22, _netns_name(name, i), f"h{i}")
        for i in range(1, n + 1)
    ]
    for i, host in enumerate(hosts, 1):
        host.veth = _veth_name(name, i)
    return hosts


# --- loopback mode ----------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    """Ports free on [::1], below the ephemeral range so client sockets never take them."""
    ports: list[int] = []
    for _ in range(50 * n):
        port = secrets.randbelow(PORT_RANGE[1] - PORT_RANGE[0]) + PORT_RANGE[0]
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("::1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
        if len(ports) == n:
            return ports
    raise LabError(f"no {n} free ports on [::1] in {PORT_RANGE}")


def _start_loopback(lab: Lab) -> None:
    """Start every sshd; one that lost its port to another process gets a new one."""
    for _ in range(3):
        for host in lab.hosts:
            if not _alive(host._sshd):
                host._spawn_sshd()
        try:
            _wait_banners(lab.hosts)
            return
        except LabError:
            lost = [h for h in lab.hosts if not _alive(h._sshd) and "in use" in _tail(h.log)]
            if not lost:
                raise
        for host, port in zip(lost, _free_ports(len(lost)), strict=True):
            host.port = port
        _write_sshd_configs(lab, lost)
    raise LabError("sshd kept losing its port on [::1]")


def _loopback_hosts(lab_dir: Path, n: int) -> list[LabHost]:
    hostname = socket.gethostname()
    return [
        _new_host(lab_dir, i, "::1", port, None, hostname)
        for i, port in enumerate(_free_ports(n), 1)
    ]


# --- start ----------------------------------------------------------------------------------


def _new_host(
    lab_dir: Path, i: int, address: str, port: int, netns: str | None, hostname: str
) -> LabHost:
    hostdir = lab_dir / "hosts" / f"h{i}"
    return LabHost(
        name=f"h{i}",
        address=address,
        port=port,
        hostname=hostname,
        log=hostdir / "sshd.log",
        home=hostdir / "home",
        netns=netns,
        config=hostdir / "sshd_config",
        _pids=lab_dir / "pids",
    )


def netns_available() -> bool:
    """Root, iproute2, nsenter/unshare and permission to create a network namespace."""
    tools = all(shutil.which(t) for t in ("ip", "nsenter", "unshare"))
    if os.geteuid() != 0 or not tools:
        return False
    return _run(["unshare", "--net", "--mount", "true"]).returncode == 0


def _resolve_mode(mode: Mode) -> Literal["netns", "loopback"]:
    if mode == "auto":
        env = os.environ.get("RORUNNER_LAB_MODE", "auto")
        if env not in ("auto", "netns", "loopback"):
            raise LabError(f"RORUNNER_LAB_MODE={env!r}: expected auto, netns or loopback")
        mode = env  # type: ignore[assignment]
    if mode == "auto":
        return "netns" if netns_available() else "loopback"
    if mode == "netns" and not netns_available():
        raise LabError("netns mode needs root, iproute2, nsenter and unshare")
    return mode


def _check_tools() -> None:
    missing = [t for t in (SSHD, "ssh-keygen") if not shutil.which(t)]
    if missing:
        raise LabError(f"missing {', '.join(missing)} (install openssh-server / openssh-client)")
    if os.geteuid() == 0:  # sshd's privilege separation dir (only used when root)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)


def start_lab(n: int = 4, mode: Mode = "auto", name: str = "test") -> Lab:
    """Start `n` sshd hosts (after cleaning up an earlier run of lab `name`) and wait for them."""
    if not NAME_RE.fullmatch(name) or not 1 <= n <= 200:
        raise LabError(f"bad lab name {name!r} or host count {n}")
    resolved = _resolve_mode(mode)
    _check_tools()
    lab_dir = LAB_ROOT / name
    with _name_lock(name):
        _claim(name, lab_dir)
        shutil.rmtree(lab_dir, ignore_errors=True)
        lab_dir.mkdir(parents=True)
    return _launch(lab_dir, name, resolved, n)


def _launch(lab_dir: Path, name: str, resolved: Literal["netns", "loopback"], n: int) -> Lab:
    netns = resolved == "netns"
    hosts = _netns_hosts(lab_dir, name, n) if netns else _loopback_hosts(lab_dir, n)
    user = "root" if netns else pwd.getpwuid(os.geteuid()).pw_name
    lab = Lab(name, resolved, lab_dir, hosts, user)
    if netns:
        lab.bridge, lab.prefix = _bridge_name(name), _prefix(name)
    try:
        _prepare_files(lab)
        _start_sshds(lab)
    except BaseException:
        lab.stop()
        raise
    return lab


def _start_sshds(lab: Lab) -> None:
    if lab.mode == "netns":
        _start_netns(lab)
        for host in lab.hosts:
            host._spawn_sshd()
        _wait_banners(lab.hosts)
    else:
        _start_loopback(lab)
    _write_client_files(lab)


# --- fleet lab: bastions in front of inner networks, non-root users with sudo (issue 8) --------
#
#   controller ==outer bridge (root ns)== b1 ==mid bridge (in b1's ns)== b2, inner1..N
#                                                   b2 ==deep bridge (in b2's ns)== deep1..M
#
# The mid and deep bridges live inside the bastions' namespaces, so the controller has no
# interface on those links, and the root namespace gets `unreachable` routes for their /64s
# (its default route would otherwise send the packets off the machine; now a connect fails at
# once). Bastions do not forward packets: an inner host is reached only through a bastion's
# sshd (direct-tcpip). Accounts: each fleet host sees, in its own mount namespace only,
# private /etc/passwd, /etc/group, /etc/shadow and /etc/sudoers (bind mounts of files in the
# lab dir), a tmpfs /home and a tmpfs /run (sudo's timestamps, sshd's privsep dir); nothing
# of the controller's /etc, /home or /run is written.

SUDO = "/usr/bin/sudo"
FIRST_LAB_UID = 2000
LISTENING = "Server listening on "


@dataclass(frozen=True)
class FleetUsers:
    """The non-root accounts of every fleet host; none of them exists on the controller."""

    nopasswd: str = "deploy"  # logs in with the lab key; `sudo` without a password
    passwd: str = "ops"  # logs in with the lab key; `sudo` asks for `password`
    app: str = "appuser"  # a become_user target: no login key, no sudo
    password: str = field(default="", repr=False)  # ops's password, generated per lab start
    uids: dict[str, int] = field(default_factory=dict)  # uid = gid (one group per user)

    @property
    def names(self) -> tuple[str, str, str]:
        """All three account names."""
        return (self.nopasswd, self.passwd, self.app)

    @property
    def logins(self) -> tuple[str, str]:
        """The accounts that log in with the lab key."""
        return (self.nopasswd, self.passwd)


@dataclass(eq=False)
class FleetHost(LabHost):
    """A fleet host: readiness from sshd's own log, as most are unreachable from here."""

    def start_sshd(self) -> None:
        """Start sshd again (same address, keys) and wait until it listens."""
        if _alive(self._sshd):
            return
        before = _listening(self)
        self._spawn_sshd()
        _wait_listening([(self, before)])

    def set_link(self, up: bool) -> None:
        """`ip link set eth0 up|down` in the host's netns (its peer is in a bastion's netns)."""
        self.sh(f"ip link set eth0 {'up' if up else 'down'}", check=True)


@dataclass(eq=False, kw_only=True)
class FleetLab(Lab):
    """A running fleet lab: bastion b1, then b2 and the inner hosts, then the deep hosts.

    Its files: `known_hosts` (every host), `inventory_ini` / `inventory_yaml` (groups inner
    and deep, ansible_user the NOPASSWD sudo user), `ssh_config` (b1 direct, b2 and inner
    hosts `ProxyJump b1`, deep hosts `ProxyJump b1,b2`) and `ssh_config_proxycommand`.
    """

    users: FleetUsers
    mid_prefix: str  # the /64 behind b1 (b2 and the inner hosts)
    deep_prefix: str  # the /64 behind b2 (the deep hosts)

    @property
    def bastions(self) -> list[LabHost]:
        """b1 (reachable from the controller) and b2 (reachable only through b1)."""
        return [self.host("b1"), self.host("b2")]

    @property
    def inner(self) -> list[LabHost]:
        """Hosts one hop away, through b1."""
        return [h for h in self.hosts if h.name.startswith("inner")]

    @property
    def deep(self) -> list[LabHost]:
        """Hosts two hops away, through b1 then b2."""
        return [h for h in self.hosts if h.name.startswith("deep")]

    @property
    def ssh_config_proxycommand(self) -> Path:
        """The same hosts through `ProxyCommand ssh -W [%h]:%p` (deep: two nested commands)."""
        return self.dir / "ssh_config_proxycommand"

    def ssh(
        self,
        host: str,
        command: str,
        *,
        proxycommand: bool = False,
        stdin: str | None = None,
        options: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """OpenSSH's own client with one of the lab's ssh_configs (`host` may be `user@name`)."""
        config = self.ssh_config_proxycommand if proxycommand else self.ssh_config
        argv = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        argv += [*options, host, command]
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )

    def stop(self, remove: bool = False) -> None:
        """Stop as a Lab does, and drop the root namespace's routes for the inner networks."""
        with _name_lock(self.name):
            if not _owned_by_others(self.name):
                _drop_fleet_routes(self.name)
        super().stop(remove)


def _fleet_prefix(name: str, net: str) -> str:
    return _prefix(f"{name}.{net}")  # lab names have no dots: never another lab's outer /64


def _fleet_routes(name: str) -> list[str]:
    return [f"{_fleet_prefix(name, net)}/64" for net in ("mid", "deep")]


def _drop_fleet_routes(name: str) -> None:
    for route in _fleet_routes(name):
        _run(["ip", "-6", "route", "del", "unreachable", route])


def _check_fleet_prefixes_free(fleet: FleetLab) -> None:
    assert fleet.prefix is not None
    for prefix in (fleet.prefix, fleet.mid_prefix, fleet.deep_prefix):
        taken = _must(["ip", "-6", "-o", "addr", "show", "to", f"{prefix}/64"]).split()
        taken += _must(["ip", "-6", "route", "show", "exact", f"{prefix}/64"]).split()
        if taken:
            raise LabError(f"{prefix}/64 is already in use ({' '.join(taken[:4])}): rename lab")


def _fleet_hosts(lab_dir: Path, name: str, inner: int, deep: int) -> list[LabHost]:
    outer, mid, low = _prefix(name), _fleet_prefix(name, "mid"), _fleet_prefix(name, "deep")
    plan = [("b1", f"{outer}11"), ("b2", f"{mid}2")]
    plan += [(f"inner{i}", f"{mid}{10 + i}") for i in range(1, inner + 1)]
    plan += [(f"deep{i}", f"{low}{10 + i}") for i in range(1, deep + 1)]
    hosts: list[LabHost] = []
    for index, (host, address) in enumerate(plan, 1):
        hostdir = lab_dir / "hosts" / host
        hosts.append(
            FleetHost(
                name=host,
                address=str(ipaddress.IPv6Address(address)),
                port=22,
                hostname=host,
                log=hostdir / "sshd.log",
                home=hostdir / "home",
                netns=_netns_name(name, index),
                config=hostdir / "sshd_config",
                _pids=lab_dir / "pids",
            )
        )
    return hosts


def _new_fleet(lab_dir: Path, name: str, inner: int, deep: int) -> FleetLab:
    names = FleetUsers().names
    uids = dict(zip(names, _free_ids(len(names)), strict=True))
    users = FleetUsers(password=secrets.token_urlsafe(12), uids=uids)
    return FleetLab(
        name=name,
        mode="netns",
        dir=lab_dir,
        hosts=_fleet_hosts(lab_dir, name, inner, deep),
        user=users.nopasswd,
        bridge=_bridge_name(name),
        prefix=_prefix(name),
        users=users,
        mid_prefix=_fleet_prefix(name, "mid"),
        deep_prefix=_fleet_prefix(name, "deep"),
    )


# accounts: private passwd/group/shadow/sudoers, bind-mounted inside each fleet host only


def _free_ids(count: int) -> list[int]:
    """Ids unused as uid and gid on the controller, so lab files never alias a real account."""
    used = set()
    for path, column in ((Path("/etc/passwd"), 2), (Path("/etc/group"), 2)):
        for line in path.read_text().splitlines():
            fields = line.split(":")
            if len(fields) > column and fields[column].isdigit():
                used.add(int(fields[column]))
    free = (i for i in range(FIRST_LAB_UID, 60000) if i not in used)
    return [next(free) for _ in range(count)]


def _sha512_crypt(password: str) -> str:
    """A crypt(3) SHA-512 hash by the system's libcrypt (what pam_unix checks sudo against)."""
    import ctypes.util  # only the fleet lab needs it: the 4-host lab starts no slower

    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.crypt.restype = ctypes.c_char_p
    alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    salt = "$6$" + "".join(secrets.choice(alphabet) for _ in range(16))
    hashed = lib.crypt(password.encode(), salt.encode())
    if not hashed or not hashed.startswith(b"$6$"):
        raise LabError("libcrypt could not hash the lab password")
    return str(hashed.decode())


def _without(lines: Iterable[str], names: Sequence[str], ids: Sequence[int]) -> list[str]:
    """/etc/passwd or /etc/group lines minus any entry that would clash with a lab account."""
    kept = []
    for line in lines:
        fields = line.split(":")
        if fields[0] in names or (len(fields) > 2 and fields[2] in {str(i) for i in ids}):
            continue
        kept.append(line)
    return kept


def _fleet_accounts(users: FleetUsers) -> dict[str, str]:
    """The text of the private passwd, group, shadow and sudoers files."""
    names, ids = users.names, [users.uids[n] for n in users.names]
    passwd = _without(Path("/etc/passwd").read_text().splitlines(), names, ids)
    passwd += [
        f"{n}:x:{users.uids[n]}:{users.uids[n]}:rorunner lab:/home/{n}:/bin/sh" for n in names
    ]
    group = _without(Path("/etc/group").read_text().splitlines(), names, ids)
    group += [f"{n}:x:{users.uids[n]}:" for n in names]
    today = int(time.time() // 86400)
    hashes = {users.passwd: _sha512_crypt(users.password)}
    # "*": no password login, yet not locked ("!"), which would make sshd refuse the key too
    shadow = [
        f"{line.split(':')[0]}:{hashes.get(line.split(':')[0], '*')}:{today}:0:99999:7:::"
        for line in passwd
    ]
    return {
        "passwd": "\n".join(passwd) + "\n",
        "group": "\n".join(group) + "\n",
        "shadow": "\n".join(shadow) + "\n",
        "sudoers": _fleet_sudoers(users),
    }


def _fleet_etc_hosts(fleet: FleetLab) -> str:
    """Names of the fleet hosts, so that sudo finds its own host name without DNS."""
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{h.address} {h.name}" for h in fleet.hosts]
    return "\n".join(lines) + "\n"


def _fleet_sudoers(users: FleetUsers) -> str:
    return "\n".join(
        [
            "# rorunner fleet lab: bind-mounted over /etc/sudoers inside each fleet host only",
            "Defaults env_reset",
            'Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"',
            "Defaults lecture=never",  # else sudo records lectures in the shared /var/lib/sudo
            "Defaults timestamp_timeout=0",  # every sudo asks again: no state between steps
            "Defaults !syslog",  # the machine's journal is not the lab's
            "root ALL=(ALL:ALL) ALL",
            f"{users.nopasswd} ALL=(ALL:ALL) NOPASSWD: ALL",
            f"{users.passwd} ALL=(ALL:ALL) ALL",
            "",
        ]
    )


def _write_fleet_accounts(fleet: FleetLab) -> None:
    etc = fleet.dir / "etc"
    etc.mkdir(mode=0o755)
    modes = {"passwd": 0o644, "group": 0o644, "shadow": 0o600, "sudoers": 0o440, "hosts": 0o644}
    files = {**_fleet_accounts(fleet.users), "hosts": _fleet_etc_hosts(fleet)}
    for file, text in files.items():
        path = etc / file
        path.write_text(text)
        path.chmod(modes[file])
    (fleet.dir / "sudo_password").write_text(fleet.users.password + "\n")
    (fleet.dir / "sudo_password").chmod(0o600)


# files: sshd configs, known_hosts, ssh_config (ProxyJump and ProxyCommand), inventories


def _write_fleet_sshd_configs(fleet: FleetLab) -> None:
    for host in fleet.hosts:
        extra = list(_supported_extras(fleet, host))
        if host.name in ("b1", "b2"):
            extra += ["AllowTcpForwarding yes", "PermitOpen any"]
        # sshd reads a user's keys as that user: each login has its own copy in its home
        extra += [
            f"Match User {','.join(fleet.users.logins)}",
            "  AuthorizedKeysFile .ssh/authorized_keys",
        ]
        host.config.write_text(_sshd_config(fleet, host, extra))


def _fleet_block(fleet: FleetLab, host: LabHost, extra: Sequence[str]) -> list[str]:
    user = "root" if host in fleet.bastions else fleet.user
    return [
        f"Host {host.name} {host.address}",
        f"  HostName {host.address}",
        "  Port 22",
        f"  User {user}",
        f"  IdentityFile {fleet.client_key}",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {fleet.known_hosts}",
        "  StrictHostKeyChecking yes",
        *[f"  {line}" for line in extra],
        "",
    ]


def _fleet_ssh_config_text(fleet: FleetLab) -> str:
    jumps = {"b1": [], "b2": ["ProxyJump b1"]}
    out: list[str] = []
    for host in fleet.hosts:
        default = ["ProxyJump b1"] if host in fleet.inner else ["ProxyJump b1,b2"]
        out += _fleet_block(fleet, host, jumps.get(host.name, default))
    return "\n".join(out)


def _fleet_proxycommand_text(fleet: FleetLab) -> str:
    q = shlex.quote
    b1 = fleet.host("b1")
    through_b1 = (
        f"ProxyCommand ssh -F none -i {q(str(fleet.client_key))} -o IdentitiesOnly=yes"
        f" -o UserKnownHostsFile={q(str(fleet.known_hosts))} -o StrictHostKeyChecking=yes"
        f" -o BatchMode=yes -W [%h]:%p root@{b1.address}"
    )
    through_b2 = f"ProxyCommand ssh -F {q(str(fleet.ssh_config_proxycommand))} -W [%h]:%p b2"
    out: list[str] = []
    for host in fleet.hosts:
        proxy = [] if host is b1 else [through_b2] if host in fleet.deep else [through_b1]
        out += _fleet_block(fleet, host, proxy)
    return "\n".join(out)


def _fleet_inventories(fleet: FleetLab) -> tuple[str, str]:
    """INI and YAML inventories of the inner and deep hosts (not the bastions)."""
    groups = {"inner": fleet.inner, "deep": fleet.deep}
    all_vars = {"ansible_user": fleet.user, "ansible_ssh_private_key_file": str(fleet.client_key)}
    ini, yaml = [], ["all:", "  vars:"]
    yaml += [f"    {k}: {_yaml_scalar(v)}" for k, v in all_vars.items()]
    yaml.append("  children:")
    for group, members in groups.items():
        ini.append(f"[{group}]")
        ini += [f"{h.name} ansible_host={h.address}" for h in members]
        ini.append("")
        yaml += [f"    {group}:", "      hosts:"]
        for host in members:
            yaml += [
                f"        {host.name}:",
                f"          ansible_host: {_yaml_scalar(host.address)}",
            ]
    ini += ["[all:vars]", *[f"{k}={v}" for k, v in all_vars.items()]]
    return "\n".join(ini) + "\n", "\n".join(yaml) + "\n"


def _write_fleet_client_files(fleet: FleetLab) -> None:
    fleet.known_hosts.write_text("".join(_host_key_line(fleet, h) + "\n" for h in fleet.hosts))
    fleet.ssh_config.write_text(_fleet_ssh_config_text(fleet))
    fleet.ssh_config_proxycommand.write_text(_fleet_proxycommand_text(fleet))
    ini, yaml = _fleet_inventories(fleet)
    fleet.inventory_ini.write_text(ini)
    fleet.inventory_yaml.write_text(yaml)


# namespaces: root-ns batch (outer bridge, veths, routes), then one holder per host


def _veth(fleet: FleetLab, index: int) -> str:
    return f"rr{_tag(fleet.name)}v{index}"  # the name `_cleanup_stale` removes if ever left


def _fleet_batch(fleet: FleetLab) -> str:
    """Root-namespace `ip -batch`: outer bridge, namespaces, veths into b1 / b2, routes."""
    assert fleet.bridge is not None
    lines = [
        f"link add {fleet.bridge} type bridge",
        f"addr add {fleet.prefix}1/64 dev {fleet.bridge} nodad",
        f"link set {fleet.bridge} up",
        *[f"netns add {h.netns}" for h in fleet.hosts],
        f"link add {_veth(fleet, 1)} type veth peer name eth0 netns {fleet.hosts[0].netns}",
        f"link set {_veth(fleet, 1)} master {fleet.bridge} up",
    ]
    for index, host in enumerate(fleet.hosts[1:], 2):
        side = fleet.host("b2") if host in fleet.deep else fleet.host("b1")
        lines.append(
            f"link add {_veth(fleet, index)} netns {side.netns}"
            f" type veth peer name eth0 netns {host.netns}"
        )
    lines += [f"route add unreachable {route}" for route in _fleet_routes(fleet.name)]
    return "\n".join(lines) + "\n"


def _bridge_steps(
    fleet: FleetLab, bridge: str, address: str, ports: Sequence[LabHost]
) -> list[str]:
    steps = [
        f"ip link add {bridge} type bridge",
        f"ip addr add {address}/64 dev {bridge} nodad",
        f"ip link set {bridge} up",
    ]
    for host in ports:
        steps.append(f"ip link set {_veth(fleet, fleet.hosts.index(host) + 1)} master {bridge} up")
    return steps


def _account_steps(fleet: FleetLab) -> list[str]:
    q, etc = shlex.quote, fleet.dir / "etc"
    files = ("passwd", "group", "shadow", "sudoers", "hosts")
    steps = [f"mount --bind {q(str(etc / f))} /etc/{f}" for f in files]
    steps += [
        "mount -t tmpfs -o mode=755,size=16m rrrun /run",
        "mkdir -m 755 /run/sshd",
        "mount -t tmpfs -o mode=755,size=64m rrhome /home",
    ]
    keys = q(str(fleet.dir / "authorized_keys"))
    for user in fleet.users.names:
        uid = fleet.users.uids[user]
        steps.append(f"mkdir -m 700 /home/{user}")
        if user in fleet.users.logins:
            steps.append(f"mkdir -m 700 /home/{user}/.ssh && cp {keys} /home/{user}/.ssh/")
        steps.append(f"chown -R {uid}:{uid} /home/{user}")
    return steps


def _fleet_holder_script(fleet: FleetLab, host: LabHost) -> str:
    """Accounts, no forwarding, a bastion's inner bridge; then what every lab host gets."""
    steps = ["set -e", *_account_steps(fleet), "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding"]
    if host.name == "b1":
        ports = [fleet.host("b2"), *fleet.inner]
        steps += _bridge_steps(fleet, "mid", f"{fleet.mid_prefix}1", ports)
    elif host.name == "b2":
        steps += _bridge_steps(fleet, "deep", f"{fleet.deep_prefix}1", fleet.deep)
    return "; ".join(steps) + "; " + _holder_script(fleet, host)


def _listening(host: LabHost) -> int:
    try:
        return host.log.read_text(errors="replace").count(LISTENING)
    except OSError:
        return 0


def _wait_listening(pending: list[tuple[LabHost, int]]) -> None:
    """Wait until each sshd logs one more "Server listening on" than before; fail fast on exit."""
    deadline = time.monotonic() + READY_TIMEOUT
    while pending:
        for item in list(pending):
            host, before = item
            if _listening(host) > before:
                pending.remove(item)
            elif not _alive(host._sshd):
                raise LabError(f"{host.name}: sshd exited: {_tail(host.log)}")
        if pending and time.monotonic() > deadline:
            raise LabError(
                f"sshd not listening within {READY_TIMEOUT:.0f}s: {[h.name for h, _ in pending]}"
            )
        if pending:
            time.sleep(POLL)


def _start_fleet(fleet: FleetLab) -> None:
    _check_fleet_prefixes_free(fleet)
    _must(["ip", "-batch", "-"], _fleet_batch(fleet))
    for host in fleet.hosts:
        assert host.netns is not None
        argv = ["ip", "netns", "exec", host.netns, "unshare", "--mount", "--uts", "sh", "-c"]
        host._holder = _spawn([*argv, _fleet_holder_script(fleet, host)], host.log, host._pids)
    _wait_holders(fleet.hosts)
    for host in fleet.hosts:
        host._spawn_sshd()
    _wait_listening([(h, 0) for h in fleet.hosts])
    _write_fleet_client_files(fleet)


def start_fleet_lab(name: str = "fleet", inner: int = 2, deep: int = 1) -> FleetLab:
    """Start b1, b2, `inner` hosts behind b1 and `deep` hosts behind b2; netns mode only."""
    if not NAME_RE.fullmatch(name) or not 1 <= inner <= 50 or not 1 <= deep <= 50:
        raise LabError(f"bad lab name {name!r} or host counts {inner}, {deep}")
    if _resolve_mode("auto") != "netns":
        raise LabError(
            "the fleet lab needs network namespaces (root, iproute2, nsenter, unshare):"
            " the loopback fallback cannot hide hosts behind a bastion"
        )
    _check_tools()
    if not os.access(SUDO, os.X_OK):
        raise LabError(f"missing {SUDO} (`make sshd` installs sudo)")
    lab_dir = LAB_ROOT / name
    with _name_lock(name):
        _claim(name, lab_dir)
        _drop_fleet_routes(name)
        shutil.rmtree(lab_dir, ignore_errors=True)
        lab_dir.mkdir(parents=True)
    fleet = _new_fleet(lab_dir, name, inner, deep)
    try:
        _prepare_files(fleet)
        _write_fleet_sshd_configs(fleet)
        _write_fleet_accounts(fleet)
        _start_fleet(fleet)
    except BaseException:
        fleet.stop()
        raise
    return fleet


# --- command line ---------------------------------------------------------------------------


def _summary(lab: Lab) -> str:
    rows = [f"lab {lab.name!r} ({lab.mode}) in {lab.dir}"]
    rows += [f"  {h.name}  [{h.address}]:{h.port}  pid {h.pid}" for h in lab.hosts]
    rows += [
        f"  inventory: {lab.inventory_ini}  known_hosts: {lab.known_hosts}",
        f"  key: {lab.client_key}  ssh: ssh -F {lab.ssh_config} h1",
    ]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """`up` / `down` a named lab from the shell (used by `make lab-up` / `make lab-down`)."""
    parser = argparse.ArgumentParser(prog="python -m tests.lab")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--mode", choices=["auto", "netns", "loopback"], default="auto")
    parser.add_argument("--name", default="lab")
    parser.add_argument("--remove", action="store_true", help="down: also delete .lab/NAME")
    args = parser.parse_args(argv)
    try:
        if args.action == "down":
            with _name_lock(args.name):
                _cleanup_stale(args.name)
                if args.remove:
                    _remove(args.name)
            print(f"lab {args.name!r} stopped")
            return 0
        started = time.monotonic()
        lab = start_lab(args.hosts, args.mode, args.name)
    except LabError as err:
        print(f"lab: {err}", file=sys.stderr)
        return 1
    print(_summary(lab))
    print(f"  started in {time.monotonic() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
