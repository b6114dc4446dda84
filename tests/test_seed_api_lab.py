"""The seed API against the sshd lab: examples/dodo.py under plain doit and under -n 3 -P thread."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rorunner.errors import RemoteFailure, UnreachableError
from rorunner.model import ConnectionSpec
from rorunner.tasks import (
    StepFailure,
    gen_task_fetch_files,
    gen_task_remote_exec,
    gen_task_ship_files,
    host_dir,
    host_token,
    step_error,
)
from rorunner.transport import Pool
from tests.lab import Lab, LabHost

REPO = Path(__file__).resolve().parent.parent
DODO = REPO / "examples" / "dodo.py"
DATA = REPO / "examples" / "data"


def host_arg(host: LabHost) -> str:
    """How a user names the host to the seed API: bare address on port 22, else [addr]:port."""
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


def run_dodo(lab: Lab, hosts: list[LabHost], out: Path, *args: str, **extra: str) -> Any:
    """Run `doit -f examples/dodo.py ARGS` in a subprocess with the lab's environment."""
    env = {
        **os.environ,
        **lab.env(),
        "RORUNNER_LAB_HOSTS": ",".join(host_arg(h) for h in hosts),
        "RORUNNER_EXAMPLE_DIR": str(out),
        "PYTHONPATH": str(REPO),
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(DODO), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def clean_remote(hosts: list[LabHost]) -> None:
    """Remove what an earlier run left on the hosts, so every check below sees this run's work."""
    for host in hosts:
        token = host_token(host_arg(host))
        done = host.sh(f"rm -rf /tmp/rorunner-seed-{token} /tmp/rorunner-rtas-{token}")
        assert done.returncode == 0, done.stderr


def remote_text(host: LabHost, path: str) -> str:
    """A file's content as the host itself sees it."""
    done = host.sh(f"cat {path}")
    assert done.returncode == 0, f"{host.name}: {path}: {done.stderr}"
    return done.stdout


def test_seed_examples_run_under_plain_doit(lab: Lab, tmp_path: Path) -> None:
    hosts = lab.hosts[:3]
    clean_remote(hosts)
    before = {h.name: h.accepted() for h in hosts}
    done = run_dodo(lab, hosts, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for host in hosts:
        arg = host_arg(host)
        seed = f"/tmp/rorunner-seed-{host_token(arg)}"
        assert remote_text(host, f"{seed}/file1.txt") == (DATA / "file1.txt").read_text()
        assert remote_text(host, f"{seed}/file2.txt") == (DATA / "file2.txt").read_text()
        assert remote_text(host, f"{seed}/hello.txt") == "Hello, World!\n"
        assert remote_text(host, f"{seed}/ping.txt") == f"ping {arg} -c 5\n"
        assert host.sh(f"stat -c %a {seed}").stdout.strip() == "700"
        fetched = tmp_path / "fetched" / host_dir(arg)
        assert (fetched / "hello.txt").read_text() == "Hello, World!\n"
        rtas = f"/tmp/rorunner-rtas-{host_token(arg)}"
        result = remote_text(host, f"{rtas}/result.txt")
        assert result == f"input for {arg}\nseen {arg}\n"
        assert (tmp_path / "rtas" / host_token(arg) / "post.txt").read_text() == "checked\n"
        # every task of this run reached the host over one pooled SSH connection
        assert host.accepted() - before[host.name] == 1
    assert (tmp_path / "add_task.txt").read_text() == "30\n"
    other = (tmp_path / "other_task.txt").read_text().split()
    assert "add_task:10_20" in other
    assert f"seed_remote_exec:{host_token(host_arg(hosts[0]))}_hello" in other


def test_rtas_graph_over_three_hosts_runs_in_parallel(lab: Lab, tmp_path: Path) -> None:
    hosts = lab.hosts[:3]
    clean_remote(hosts)
    done = run_dodo(lab, hosts, tmp_path, "-n", "3", "-P", "thread", RORUNNER_RENDEZVOUS="3")
    assert done.returncode == 0, done.stdout + done.stderr
    # the rendezvous let every local_pre finish only once all three were running at once
    markers = sorted(p.name for p in (tmp_path / "rendezvous").iterdir())
    assert markers == sorted(host_token(host_arg(h)) for h in hosts)
    for host in hosts:
        arg = host_arg(host)
        rtas = f"/tmp/rorunner-rtas-{host_token(arg)}"
        assert remote_text(host, f"{rtas}/input.txt") == f"input for {arg}\n"
        assert remote_text(host, f"{rtas}/result.txt") == f"input for {arg}\nseen {arg}\n"
        assert host.sh(f"stat -c %a {rtas}").stdout.strip() == "700"
        assert (tmp_path / "rtas" / host_token(arg) / "post.txt").read_text() == "checked\n"


def test_rendezvous_fails_when_the_hosts_run_one_after_another(lab: Lab, tmp_path: Path) -> None:
    """The parallelism check can fail: run serially, the first host never meets the others."""
    done = run_dodo(
        lab, lab.hosts[:3], tmp_path, "rtas", RORUNNER_RENDEZVOUS="3",
        RORUNNER_RENDEZVOUS_TIMEOUT="1",
    )  # fmt: skip
    assert done.returncode != 0
    assert "rendezvous: only 1/3" in done.stdout + done.stderr


def test_a_host_down_fails_only_its_own_chain(lab: Lab, tmp_path: Path) -> None:
    hosts = lab.hosts[:3]
    clean_remote(hosts)
    down = hosts[1]
    down.stop_sshd()
    try:
        done = run_dodo(lab, hosts, tmp_path, "--continue", "rtas")
    finally:
        down.start_sshd()
    assert done.returncode != 0
    assert f"rtas.ship:{host_token(host_arg(down))}" in done.stdout + done.stderr
    for host in (hosts[0], hosts[2]):
        arg = host_arg(host)
        rtas = f"/tmp/rorunner-rtas-{host_token(arg)}"
        assert remote_text(host, f"{rtas}/result.txt") == f"input for {arg}\nseen {arg}\n"
        assert (tmp_path / "rtas" / host_token(arg) / "post.txt").read_text() == "checked\n"
    assert not (tmp_path / "rtas" / host_token(host_arg(down)) / "post.txt").exists()


# --- the generated actions against one real host ---------------------------------------------


def run_action(task: dict[str, Any], pool: Pool) -> object:
    """Run the task's single action as the engine does, with the pool."""
    (action,) = task["actions"]
    return action(pool)


def test_ship_exec_fetch_on_a_real_host(
    lab: Lab, lab_spec: Callable[..., ConnectionSpec], tmp_path: Path, pool: Pool
) -> None:
    host = lab.hosts[3]
    spec = lab_spec(host)
    work = "/tmp/rorunner-seed-unit"
    assert host.sh(f"rm -rf {work}").returncode == 0
    shipped = gen_task_ship_files([str(DATA / "file1.txt")], spec, "ship", remote_dir=work)
    assert run_action(shipped, pool) is None
    assert host.sh(f"stat -c %a {work}").stdout.strip() == "700"
    ran = gen_task_remote_exec(
        'printf "%s %s\\n" "$GREETING" "$1" > greeting.txt; pwd >> greeting.txt',
        spec, args=["from args"], remote_dir=work, env={"GREETING": "hi"},
    )  # fmt: skip
    assert run_action(ran, pool) is None
    assert remote_text(host, f"{work}/greeting.txt") == f"hi from args\n{work}\n"
    fetch = gen_task_fetch_files(
        ["greeting.txt", f"{work}/file1.txt"], spec, "fetch", remote_dir=work,
        local_dir=str(tmp_path),
    )  # fmt: skip
    assert run_action(fetch, pool) is None
    root = tmp_path / host.name
    assert (root / "greeting.txt").read_text().startswith("hi from args")
    assert (root / work.lstrip("/") / "file1.txt").read_text() == (DATA / "file1.txt").read_text()


def test_real_failures_are_classified(
    lab: Lab, lab_spec: Callable[..., ConnectionSpec], tmp_path: Path, pool: Pool
) -> None:
    host = lab.hosts[3]
    failed = run_action(gen_task_remote_exec("echo nope >&2; exit 5", lab_spec(host)), pool)
    assert isinstance(failed, StepFailure) and failed.exit_status == 5
    assert isinstance(step_error(failed), RemoteFailure)
    assert "nope" in str(failed.error)
    missing = run_action(gen_task_fetch_files(["no-such-file"], lab_spec(host), "f",
                                              local_dir=str(tmp_path)), pool)  # fmt: skip
    assert isinstance(step_error(missing), RemoteFailure)  # type: ignore[arg-type]
    closed = lab_spec(host, port=1, label="closed")
    unreachable = run_action(gen_task_remote_exec("true", closed), pool)
    assert isinstance(step_error(unreachable), UnreachableError)  # type: ignore[arg-type]


def test_output_streams_to_the_log_files_and_a_failure_quotes_its_end(
    lab: Lab, lab_spec: Callable[..., ConnectionSpec], tmp_path: Path, pool: Pool
) -> None:
    """docs/seed-api.md, Output: with log_dir the output is in the files as it arrives, and
    a failed step's message quotes the last 20 lines of stderr with the log's path."""
    host = lab.hosts[3]
    work = "/tmp/rorunner-seed-stream"
    assert host.sh(f"rm -rf {work}; mkdir -p {work}").returncode == 0
    command = (
        'i=1; while [ $i -le 30 ]; do echo "err $i" >&2; i=$((i+1)); done; echo out; '
        "n=0; while [ ! -e go ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; exit 4"
    )
    task = gen_task_remote_exec(
        command, lab_spec(host), remote_dir=work, log_dir=str(tmp_path), name="streamed"
    )
    result: list[object] = []
    runner = threading.Thread(target=lambda: result.append(run_action(task, pool)))
    runner.start()
    try:
        err_log = next(iter(tmp_path.glob("*.stderr")), None)
        deadline = time.monotonic() + 60
        while (err_log is None or "err 30" not in err_log.read_text()) and runner.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.05)
            err_log = next(iter(tmp_path.glob("*.stderr")), None)
        assert runner.is_alive()  # still waiting for `go`: the lines were streamed
        assert err_log is not None and err_log.with_suffix(".stdout").read_text() == "out\n"
    finally:
        host.sh(f"touch {work}/go")
        runner.join(timeout=60)
    (failed,) = result
    assert isinstance(failed, StepFailure) and failed.exit_status == 4
    message = str(failed.error).splitlines()
    assert message[1] == f"stderr, last 20 of 30 lines; full log: {err_log}:"
    assert message[2:] == [f"| err {i}" for i in range(11, 31)]
