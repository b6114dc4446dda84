"""Real faults through `rorunner play`: a full remote disk, a link that dies (mid-ship, mid-step,
mid-fetch), a controller killed mid-ship. Each runs against a small lab of its own, so the
session lab never sees a fault.

Full disks and dead links need the netns lab (a host's own mount and network namespace): in
the loopback lab (no root) those tests fail with a message saying so; they never skip. A
frozen server (sshd stopped) and a killed controller work in both modes.
Keepalives are set to 1 s x 3 through an ssh_config file, so the dead-peer bound is 3 s.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rorunner.errors import RemoteFailure, UnreachableError
from rorunner.transport import Pool
from rorunner.transport._ssh import SshTransport
from rorunner.transport._temps import STALE_AFTER, controller_id
from tests.lab import Lab, LabBusyError, LabError, LabHost, start_lab
from tests.play_project import remote_base

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[1]
ALIVE_INTERVAL, ALIVE_COUNT = 1, 3
BOUND = ALIVE_INTERVAL * ALIVE_COUNT  # the documented dead-peer bound for these settings
SLACK = 12.0  # scheduling under load; the defect was a hang of minutes
TMP = ".rorunner-tmp-"

SHIP = """\
- name: faults
  hosts: all
  remote_dir: "{{{{ remote_dir | default('.') }}}}/.rr-faults/{tag}"
  rtas:
    - name: data
      ship:
        - big.bin
"""

LONG_STEP = """\
- name: faults
  hosts: all
  remote_dir: "{{{{ remote_dir | default('.') }}}}/.rr-faults/{tag}"
  rtas:
    - name: wait
      remote:
        - run: if [ "$RORUNNER_HOST" = h3 ]; then touch started; sleep 30; fi; echo x > done
          timeout: 60
"""

FETCH = """\
- name: faults
  hosts: all
  remote_dir: "{{{{ remote_dir | default('.') }}}}/.rr-faults/{tag}"
  rtas:
    - name: back
      remote:
        - head -c {size} /dev/urandom > big.out
      fetch:
        - big.out
"""


@pytest.fixture(scope="module")
def flab() -> Iterator[Lab]:
    """A lab of three hosts for fault tests only (another run holding the name: a pid name)."""
    try:
        lab = start_lab(3, mode="auto", name="faults")
    except LabBusyError:
        lab = start_lab(3, mode="auto", name=f"faults{os.getpid()}")
    except LabError as err:
        pytest.fail(f"the fault lab could not start: {err}", pytrace=False)
    try:
        yield lab
    finally:
        lab.stop(remove=lab.name != "faults")


def _fast_keepalive(path: Path) -> Path:
    """Write an ssh_config with 1 s x 3 keepalives (a dead-peer bound of 3 s) to `path`."""
    path.write_text(
        f"Host *\n  ServerAliveInterval {ALIVE_INTERVAL}\n  ServerAliveCountMax {ALIVE_COUNT}\n"
    )
    return path


class Play:
    """One playbook in a test's tmp dir, run with `rorunner play` against the fault lab."""

    def __init__(self, root: Path, lab: Lab, playbook: str) -> None:
        self.root, self.lab, self.tag = root, lab, root.name
        (root / "site.yml").write_text(playbook.format(tag=self.tag))
        self.ssh_config = _fast_keepalive(root / "ssh_config")

    def argv(self) -> list[str]:
        lab = self.lab
        return [
            *(sys.executable, "-m", "rorunner", "play", str(self.root / "site.yml")),
            *("-i", str(lab.inventory_ini), "--known-hosts", str(lab.known_hosts)),
            *("--private-key", str(lab.client_key), "--ssh-config", str(self.ssh_config)),
        ]

    def run(self) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        argv = self.argv()
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd=self.root, timeout=120
        )

    def start(self) -> Running:
        return Running(self.argv(), self.root)

    def workdir(self, host: LabHost) -> Path:
        """The host's remote work dir, as the controller sees it (its HOME is ours)."""
        return remote_base(self.lab, host) / ".rr-faults" / self.tag

    def remote_workdir(self, host: LabHost) -> str:
        """The same dir as the host itself names it."""
        return _host_view(self.lab, host, f".rr-faults/{self.tag}")


def _host_view(lab: Lab, host: LabHost, relative: str) -> str:
    """How the host names `relative` under the remote base (see remote_base)."""
    if lab.mode == "loopback":  # the host's view is ours
        return str(remote_base(lab, host) / relative)
    return f"{host.sh('echo ~').stdout.strip()}/{relative}"


class Running:
    """A `rorunner play` in the background; every stdout line kept with the time it came."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
        )
        self.lines: list[tuple[float, str]] = []
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        with self.proc.stdout, self.proc.stderr:
            for line in self.proc.stdout:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
            self.stderr = self.proc.stderr.read()

    def wait(self, limit: float = 90.0) -> int:
        """The exit status; a run still going after `limit` seconds is killed and fails."""
        try:
            code = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
            self._reader.join(30)
            pytest.fail(f"rorunner still running after {limit:.0f}s:\n{self.output()}")
        self._reader.join(30)
        return code

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(30)

    def first(self, pattern: str) -> tuple[float, str] | None:
        """The first stdout line matching `pattern`, with its arrival time."""
        return next(((t, line) for t, line in self.lines if re.search(pattern, line)), None)

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines) + "\n" + self.stderr


def _wait_for(predicate: Callable[[], bool], running: Running, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if running.proc.poll() is not None or time.monotonic() > deadline:
            running.wait(30)
            pytest.fail(f"the fault point never came:\n{running.output()}")
        time.sleep(0.005)


def _temps(directory: Path) -> list[Path]:
    return sorted(directory.glob(f".*{TMP}*")) if directory.is_dir() else []


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path` a MiB at a time; returns their sha256. (Big files
    never sit in this process's memory: later tests measure the peak RSS of their children,
    which starts from ours.)"""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for start in range(0, size, 1 << 20):
            chunk = os.urandom(min(1 << 20, size - start))
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _file_sha(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _remote_sha(host: LabHost, path: str) -> str:
    return host.sh(f"sha256sum {path}", check=True).stdout.split()[0]


def _remote_listing(host: LabHost, directory: str) -> list[str]:
    return host.sh(f"ls -A {directory}", check=True).stdout.split()


def _status(result_stdout: str, host: str) -> set[str]:
    return {
        line.split()[0]
        for line in result_stdout.splitlines()
        if re.match(r"^(ok|changed|failed|unreachable|skipped)\s", line) and f"[{host}]" in line
    }


def _needs_netns(lab: Lab) -> None:
    """Full disks and dead links are injected in a host's own namespaces: in the loopback lab
    the test fails, saying so (never a skip, never a pass that tested nothing)."""
    if lab.mode != "netns":
        with pytest.raises(LabError, match="needs the netns lab"):
            lab.hosts[0].set_link(False)  # the lab refuses the fault too
        pytest.fail("this fault needs the netns lab (root, network namespaces)", pytrace=False)


# --- a full disk ----------------------------------------------------------------------------


def test_full_disk_fails_that_host_keeps_the_old_file_and_leaves_no_temp(
    flab: Lab, tmp_path: Path
) -> None:
    _needs_netns(flab)
    play = Play(tmp_path, flab, SHIP)
    full = flab.host("h2")
    workdir = play.remote_workdir(full)
    old = b"old contents\n" * 100
    full.mount_tmpfs(workdir, "64k")
    try:
        (tmp_path / "big.bin").write_bytes(old)
        first = play.run()
        assert first.returncode == 0, first.stdout + first.stderr
        assert _remote_sha(full, f"{workdir}/big.bin") == _sha(old)

        new = _random_file(tmp_path / "big.bin", 1 << 20)
        second = play.run()
        assert second.returncode == 2, second.stdout + second.stderr
        assert _status(second.stdout, "h2") == {"failed"}
        failed = _with_reason(second.stdout.splitlines(), "[h2]")
        assert "No space left on device" in failed and f"{workdir}/big.bin" in failed, failed
        assert _remote_sha(full, f"{workdir}/big.bin") == _sha(old)  # the old file, intact
        # no temp file left (beside the shipped file, the host's state of the first run)
        assert _remote_listing(full, workdir) == [".rorunner-state.json", "big.bin"]
        for name in ("h1", "h3"):
            assert _status(second.stdout, name) == {"changed"}
            assert _file_sha(play.workdir(flab.host(name)) / "big.bin") == new

        full.resize_tmpfs(workdir, "4m")  # space freed: the re-run ships the new file
        third = play.run()
        assert third.returncode == 0, third.stdout + third.stderr
        assert _status(third.stdout, "h2") == {"changed"}
        assert _remote_sha(full, f"{workdir}/big.bin") == new
        assert _remote_listing(full, workdir) == [".rorunner-state.json", "big.bin"]
    finally:
        full.unmount(workdir)


# --- a link that dies -----------------------------------------------------------------------


def _link_down_when(host: LabHost, running: Running, ready: Callable[[], bool]) -> float:
    """Take the host's link down as soon as `ready()`; returns when it went down."""
    _wait_for(ready, running)
    host.set_link(False)
    return time.monotonic()


def _assert_unreachable_in_bound(running: Running, down_at: float, host: str) -> str:
    code = running.wait()
    assert code == 4, running.output()
    found = running.first(rf"^unreachable\s+\[{host}\]")
    assert found is not None, running.output()
    took = found[0] - down_at
    assert took < BOUND + SLACK, f"unreachable only {took:.1f}s after the link died"
    return _with_reason([line for _, line in running.lines], found[1])


def _with_reason(lines: list[str], step: str) -> str:
    """The first line holding `step` and the reason indented under it, as one text."""
    start = next(i for i, line in enumerate(lines) if step in line)
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return "\n".join(lines[start:end])


@pytest.fixture
def h3(flab: Lab) -> Iterator[LabHost]:
    """h3, whose link a test may slow down and take down: restored afterwards."""
    _needs_netns(flab)
    host = flab.host("h3")
    try:
        yield host
    finally:
        host.set_link(True)
        host.limit_rate(None)


def test_link_down_mid_ship_is_unreachable_within_the_bound_and_the_rerun_cleans_up(
    flab: Lab, h3: LabHost, tmp_path: Path
) -> None:
    play = Play(tmp_path, flab, SHIP)
    data = _random_file(tmp_path / "big.bin", 6 << 20)
    workdir = play.workdir(h3)
    h3.limit_rate("16mbit")  # 6 MB take 3 s: the link dies mid-way, however loaded we are
    running = play.start()
    down_at = _link_down_when(h3, running, lambda: any(_temps(workdir)))
    line = _assert_unreachable_in_bound(running, down_at, "h3")
    assert "keepalive" in line, line
    for name in ("h1", "h2"):
        assert _status(running.output(), name) == {"changed"}
        assert _file_sha(play.workdir(flab.host(name)) / "big.bin") == data
    assert _temps(workdir), "the dead link left no temp file: the fault came too late"
    h3.set_link(True)
    h3.limit_rate(None)
    again = play.run()
    assert again.returncode == 0, again.stdout + again.stderr
    assert _file_sha(workdir / "big.bin") == data
    assert _temps(workdir) == []


def test_link_down_before_connecting_is_unreachable_within_the_connect_bound(
    flab: Lab, h3: LabHost, tmp_path: Path
) -> None:
    """Connecting is bounded by --timeout: TCP connect, then at most twice that to negotiate."""
    play = Play(tmp_path, flab, SHIP)
    (tmp_path / "big.bin").write_bytes(b"small\n")
    h3.set_link(False)
    started = time.monotonic()
    running = Running([*play.argv(), "--timeout", "2"], tmp_path)
    assert running.wait() == 4, running.output()
    found = running.first(r"^unreachable\s+\[h3\]")
    assert found is not None, running.output()
    assert found[0] - started < 3 * 2 + SLACK
    for name in ("h1", "h2"):
        assert _status(running.output(), name) == {"changed"}


def test_link_down_during_a_long_remote_step_is_unreachable_within_the_bound(
    flab: Lab, h3: LabHost, tmp_path: Path
) -> None:
    play = Play(tmp_path, flab, LONG_STEP)
    running = play.start()
    down_at = _link_down_when(h3, running, (play.workdir(h3) / "started").exists)
    _assert_unreachable_in_bound(running, down_at, "h3")  # well before `sleep 30` ends
    for name in ("h1", "h2"):
        assert _status(running.output(), name) == {"changed"}
        assert (play.workdir(flab.host(name)) / "done").exists()


def test_link_down_mid_fetch_leaves_no_partial_local_file(
    flab: Lab, h3: LabHost, tmp_path: Path
) -> None:
    size = 8 << 20
    play = Play(tmp_path, flab, FETCH.replace("{size}", str(size)))
    local_dir = tmp_path / "fetched" / "h3"
    h3.limit_rate("16mbit")  # 8 MB take 4 s
    running = play.start()
    down_at = _link_down_when(h3, running, lambda: any(_temps(local_dir)))
    _assert_unreachable_in_bound(running, down_at, "h3")
    for name in ("h1", "h2"):
        assert (tmp_path / "fetched" / name / "big.out").stat().st_size == size
    assert sorted(p.name for p in local_dir.iterdir()) == []  # no partial file, no temp


# --- a controller killed mid-ship -----------------------------------------------------------


def test_killed_mid_ship_the_next_run_removes_the_temp_and_ships(flab: Lab, tmp_path: Path) -> None:
    play = Play(tmp_path, flab, SHIP)
    data = _random_file(tmp_path / "big.bin", 24 << 20)
    host = flab.host("h1")
    workdir = play.workdir(host)
    if flab.mode == "netns":
        host.limit_rate("64mbit")  # 3 s; the loopback lab has no link to slow: 24 MB suffice
    running = play.start()
    try:
        # The server stops reading once the temp file exists: the ship is surely mid-way.
        _wait_for(lambda: any(_temps(workdir)), running)
        host.freeze_sessions(True)
        running.kill()
    finally:
        host.freeze_sessions(False)
        if flab.mode == "netns":
            host.limit_rate(None)
    assert _temps(workdir), "no temp file left behind: the kill came too late"
    again = play.run()
    assert again.returncode == 0, again.stdout + again.stderr
    assert _file_sha(workdir / "big.bin") == data
    assert _temps(workdir) == []


# --- the same faults at the transport level, in both lab modes --------------------------------


@pytest.fixture
def fast_alive(tmp_path: Path) -> str:
    """An ssh_config with 1 s x 3 keepalives (a dead-peer bound of 3 s)."""
    return str(_fast_keepalive(tmp_path / "ssh_config"))


@pytest.fixture
def scratch(flab: Lab, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fresh remote dir on h1 (as the host names it, as the controller sees it)."""
    host = flab.host("h1")
    relative = f".rr-faults/{tmp_path.name}"
    remote = _host_view(flab, host, relative)
    yield remote, remote_base(flab, host) / relative
    host.sh(f"rm -rf {remote}")


class Background:
    """Run `action` in a thread; keep its exception and when it ended."""

    def __init__(self, action: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.ended = 0.0
        self._action = action
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._action()
        except BaseException as exc:  # the test looks at it
            self.error = exc
        self.ended = time.monotonic()

    def join(self, limit: float = 60.0) -> BaseException | None:
        self._thread.join(limit)
        assert not self._thread.is_alive(), f"still blocked after {limit:.0f}s"
        return self.error


def _until(predicate: Callable[[], bool], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "the fault point never came"
        time.sleep(0.005)


def test_a_frozen_server_mid_command_is_unreachable_within_the_bound(
    flab: Lab, pool: Pool, fast_alive: str, scratch: tuple[str, Path]
) -> None:
    """sshd stopped (its kernel still ACKs, so only keepalives that expect a reply see it)."""
    remote, seen = scratch
    host = flab.host("h1")
    transport = pool.get(flab.spec(host, ssh_config=fast_alive))
    transport.ensure_dir(remote)
    running = Background(lambda: transport.exec("touch started; sleep 30", cwd=remote))
    _until((seen / "started").exists)
    host.freeze_sessions(True)
    frozen_at = time.monotonic()
    try:
        error = running.join()
    finally:
        host.freeze_sessions(False)
    assert isinstance(error, UnreachableError), error
    assert "no reply to SSH keepalives for 3s" in str(error)
    assert running.ended - frozen_at < BOUND + SLACK
    assert pool.get(flab.spec(host, ssh_config=fast_alive)).exec("true") == 0  # a new connection


def test_a_healthy_link_outlives_the_bound_its_prober_started_only_once_due(
    flab: Lab, pool: Pool, fast_alive: str, tmp_path: Path
) -> None:
    """The watch starts a connection's prober when its first probe is due, and the replies
    keep a healthy link up: a command quiet for three times the bound ends normally."""
    transport = pool.get(flab.spec(flab.host("h1"), ssh_config=fast_alive))
    assert isinstance(transport, SshTransport)
    assert transport.exec(f"sleep {3 * BOUND}") == 0
    assert transport.connection._watchdog.probing
    hourly = tmp_path / "hourly_config"
    hourly.write_text("Host *\n  ServerAliveInterval 3600\n")
    other = pool.get(flab.spec(flab.host("h2"), ssh_config=str(hourly)))
    assert isinstance(other, SshTransport)
    assert other.exec("true") == 0
    assert not other.connection._watchdog.probing  # its first probe is an hour away


def test_a_sender_blocked_on_a_full_window_is_unreachable_within_the_bound(
    flab: Lab, pool: Pool, fast_alive: str, scratch: tuple[str, Path], tmp_path: Path
) -> None:
    remote, seen = scratch
    host = flab.host("h1")
    transport = pool.get(flab.spec(host, ssh_config=fast_alive))
    transport.ensure_dir(remote)
    local = tmp_path / "big.bin"
    _random_file(local, 32 << 20)
    running = Background(lambda: transport.put(str(local), f"{remote}/big.bin"))
    _until(lambda: any(_temps(seen)))
    host.freeze_sessions(True)  # the server stops reading: our writes fill window and socket
    frozen_at = time.monotonic()
    try:
        temp_modes = {stat.S_IMODE(p.stat().st_mode) for p in _temps(seen)}
        error = running.join()
    finally:
        host.freeze_sessions(False)
    assert temp_modes == {0o600}  # nobody else reads a file while it is being written
    assert isinstance(error, UnreachableError), error
    assert f"put {local} -> {remote}/big.bin" in str(error) and "keepalives" in str(error)
    assert running.ended - frozen_at < BOUND + SLACK
    assert not (seen / "big.bin").exists()


def test_a_fetch_of_a_file_truncated_mid_way_keeps_nothing(
    flab: Lab, pool: Pool, scratch: tuple[str, Path], tmp_path: Path
) -> None:
    remote, _ = scratch
    host = flab.host("h1")
    transport = pool.get(flab.spec(host))
    transport.ensure_dir(remote)
    size = 32 << 20
    host.sh(f"head -c {size} /dev/urandom > {remote}/big.bin", check=True)
    local_dir = tmp_path / "fetched"
    running = Background(lambda: transport.get(f"{remote}/big.bin", str(local_dir / "big.bin")))
    _until(lambda: any(_temps(local_dir)))
    host.freeze_sessions(True)
    try:
        host.sh(f"truncate -s 1M {remote}/big.bin", check=True)
    finally:
        host.freeze_sessions(False)
    error = running.join()
    assert isinstance(error, RemoteFailure), error
    assert re.search(
        rf"get {remote}/big.bin: incomplete copy: got \d+ of its {size} bytes", str(error)
    )
    assert list(local_dir.iterdir()) == []


def test_prepare_dir_and_tree_puts_remove_only_abandoned_temps(
    flab: Lab, pool: Pool, scratch: tuple[str, Path], tmp_path: Path
) -> None:
    remote, seen = scratch
    transport = pool.get(flab.spec(flab.host("h1")))
    transport.ensure_dir(f"{remote}/tree/sub")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    me, other = controller_id(), "0" * 8 if controller_id() != "0" * 8 else "1" * 8
    names = {
        "gone": f".a{TMP}{me}-{dead}-00000000",  # its writer, on this controller, has ended
        "live": f".b{TMP}{me}-{os.getpid()}-00000000",  # a live writer: never touched
        "young": f".c{TMP}{other}-1-00000000",  # another controller's, recent: kept
        "old": f".d{TMP}{other}-1-00000000",  # another controller's, untouched for long
        "legacy": f".e{TMP}0123456789ab",  # an older rorunner's name, untouched for long
        "user": f"e{TMP}0123456789ab",  # not a name we make
    }
    for where in (seen, seen / "tree" / "sub"):
        for key, name in names.items():
            (where / name).write_text(key)
            if key in ("old", "legacy", "user"):
                past = time.time() - STALE_AFTER - 60
                os.utime(where / name, (past, past))
    expected = sorted(names[k] for k in ("live", "young", "user"))
    transport.prepare_dir(remote)
    assert sorted(p.name for p in seen.iterdir() if TMP in p.name) == expected
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f\n")
    transport.put(str(tree), f"{remote}/tree")
    assert sorted(p.name for p in (seen / "tree" / "sub").iterdir() if TMP in p.name) == expected
    assert (seen / "tree" / "sub" / "f").read_text() == "f\n"


def test_fetch_sizes_of_pseudo_files_and_stale_local_temps(
    flab: Lab, pool: Pool, tmp_path: Path
) -> None:
    """/proc files claim a size of 0 and are read to their end; /sys files claim 4096 and are
    refused. A fetch first removes the stale temp files in its local destination dir."""
    transport = pool.get(flab.spec(flab.host("h2")))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".version{TMP}{controller_id()}-{dead}-00000000"
    stale.write_text("partial")
    transport.get("/proc/version", str(tmp_path / "version"))
    assert (tmp_path / "version").read_text().startswith("Linux version")
    assert not stale.exists()
    with pytest.raises(RemoteFailure, match=r"incomplete copy: got 18 of its 4096 bytes"):
        transport.get("/sys/class/net/lo/address", str(tmp_path / "sys" / "address"))
    assert list((tmp_path / "sys").iterdir()) == []


def test_a_read_only_filesystem_is_named(flab: Lab, pool: Pool, tmp_path: Path) -> None:
    _needs_netns(flab)
    host = flab.host("h2")
    path = f"/tmp/rr-ro-{tmp_path.name}"
    host.mount_tmpfs(path, "1m")
    try:
        host.sh(f"echo old > {path}/f && mount -o remount,ro {path}", check=True)
        transport = pool.get(flab.spec(host))
        with pytest.raises(RemoteFailure, match=f"put {path}/f: Read-only file system"):
            transport.put_bytes(b"new\n", f"{path}/f")
        assert host.sh(f"cat {path}/f").stdout == "old\n"
    finally:
        host.unmount(path)
