"""The `rorunner play` and `run` processes run as a batch job (SCHED_BATCH, Linux) and the
commands they start get the policy the process started with (rorunner.scheduling)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rorunner.errors import EXIT_USAGE, UsageError
from rorunner.scheduling import wanted
from tests.lab import Lab
from tests.play_project import remote_dir_for

REPO = Path(__file__).resolve().parents[1]
OTHER, BATCH = os.SCHED_OTHER, os.SCHED_BATCH

# In a fresh interpreter (the test process keeps its policy): optionally start under a
# policy of its own, enter_batch(), then report the policy of this thread, of a thread
# started after, and of a command started by each spawning site of rorunner, with and
# without started_policy.
PROBE = """\
import json, os, sys, tempfile, threading
from pathlib import Path
from rorunner.scheduling import enter_batch, started_policy
from rorunner.model import ConnectionSpec
from rorunner.transport._local import LocalTransport
from rorunner.transport._ssh_route import ProxyProcess
from rorunner.vault import _run_password_script

start = sys.argv[1]
if start != "default":
    os.sched_setscheduler(0, getattr(os, start), os.sched_param(0))
switched = enter_batch()
holder = tempfile.TemporaryDirectory()
tmp = Path(holder.name)
out = {"switched": switched, "main": os.sched_getscheduler(0)}
seen = []
thread = threading.Thread(target=lambda: seen.append(os.sched_getscheduler(0)))
thread.start(); thread.join()
out["thread"] = seen[0]
POLICY = "python3 -c 'import os; print(os.sched_getscheduler(0))'"
local = LocalTransport(ConnectionSpec(address="::1", connection="local"))
local.exec(f"{POLICY} > {tmp}/local")
out["local"] = int((tmp / "local").read_text())
proxy = ProxyProcess(f"sh -c \\"{POLICY} > {tmp}/proxy; exec cat\\"", "probe")
for _ in range(3000):
    if (tmp / "proxy").exists() and (tmp / "proxy").read_text().strip():
        break
    threading.Event().wait(0.01)
proxy.stop()
out["proxy"] = int((tmp / "proxy").read_text())
script = tmp / "password.sh"
script.write_text(f"#!/bin/sh\\n{POLICY} > {tmp}/vault\\necho secret\\n")
script.chmod(0o755)
_run_password_script(str(script), None)
out["vault"] = int((tmp / "vault").read_text())
from rorunner.transport import Pool
Pool().load_ssh()
from rorunner.transport._ssh_connect import resolve_target
config = tmp / "ssh_config"
config.write_text(f'Match host probe exec "{POLICY} > {tmp}/match"\\n  Port 2201\\n')
resolve_target(ConnectionSpec(address="probe", ssh_config=str(config)))
out["match"] = int((tmp / "match").read_text())
with started_policy():
    out["inside"] = os.sched_getscheduler(0)
    with started_policy():
        out["nested"] = os.sched_getscheduler(0)
    out["inside_after_nested"] = os.sched_getscheduler(0)
out["after"] = os.sched_getscheduler(0)
holder.cleanup()
print(json.dumps(out))
"""


def _python(*argv: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """This interpreter running `argv` with this checkout first on its path, RORUNNER_SCHED
    as `env` says (else unset), its output captured; never raises on its exit code."""
    environ = {k: v for k, v in os.environ.items() if k != "RORUNNER_SCHED"}
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env={**environ, "PYTHONPATH": str(REPO), **env},
        cwd=cwd,
        timeout=240,
        check=False,
    )


def _probe(start: str = "default", **env: str) -> dict[str, Any]:
    done = _python("-c", PROBE, start, **env)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


POLICIES = ("main", "thread", "local", "proxy", "vault", "match", "inside", "nested")
POLICIES += ("inside_after_nested", "after")


def test_threads_are_batch_and_commands_get_the_policy_the_process_started_with() -> None:
    found = _probe()
    assert found.pop("switched") is True
    assert found["main"] == found["thread"] == found["after"] == BATCH
    assert found["inside"] == found["nested"] == found["inside_after_nested"] == OTHER
    assert found["local"] == found["proxy"] == found["vault"] == found["match"] == OTHER


def test_rorunner_sched_normal_keeps_the_default_policy() -> None:
    found = _probe(RORUNNER_SCHED="normal")
    assert found.pop("switched") is False
    assert found == dict.fromkeys(POLICIES, OTHER)


def test_a_policy_the_user_chose_is_kept() -> None:
    # Started as a batch job already (chrt -b): nothing is switched, and so the commands
    # keep that policy too (had enter_batch taken over, they would get SCHED_OTHER).
    found = _probe("SCHED_BATCH")
    assert found.pop("switched") is False
    assert found == dict.fromkeys(POLICIES, BATCH)


def test_rorunner_sched_values() -> None:
    assert wanted({}) == "batch"
    assert wanted({"RORUNNER_SCHED": ""}) == "batch"
    assert wanted({"RORUNNER_SCHED": "batch"}) == "batch"
    assert wanted({"RORUNNER_SCHED": "normal"}) == "normal"
    with pytest.raises(UsageError, match="RORUNNER_SCHED must be batch or normal, not 'fast'"):
        wanted({"RORUNNER_SCHED": "fast"})
    assert UsageError("x").exit_code == EXIT_USAGE


# A local step after the hosts' remote steps reports its own policy and that of every
# thread of the rorunner process that started it (found up its parents), as JSON.
THREADS = """\
import glob, json, os, sys
def policy(path):
    return int(open(path).read().rsplit(")", 1)[1].split()[38])
def is_rorunner(pid):
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    return any(a == b"-m" and b == b"rorunner" for a, b in zip(argv, argv[1:]))
pid = os.getppid()
while pid > 1 and not is_rorunner(pid):
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
threads = sorted({policy(t + "/stat") for t in glob.glob(f"/proc/{pid}/task/*")})
count = len(glob.glob(f"/proc/{pid}/task/*"))
seen = {"own": os.sched_getscheduler(0), "threads": threads, "count": count}
json.dump(seen, open(sys.argv[1], "w"))
"""

BOOK = """\
- name: sched
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: probe
      remote:
        - echo ran > ran.txt
      local_post:
        - run: python3 {probe} "$RORUNNER_HOST.json"
"""


def _lab_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "threads.py").write_text(THREADS)
    book = BOOK.format(remote_dir=remote_dir_for(tmp_path.name), probe=project / "threads.py")
    (project / "site.yml").write_text(book)
    return project


def _play(project: Path, lab: Lab, **env: str) -> subprocess.CompletedProcess[str]:
    argv = ["-m", "rorunner", "play", str(project / "site.yml")]
    argv += ["-i", str(lab.inventory_ini), "--known-hosts", str(lab.known_hosts)]
    # One fork: no other worker is starting a command (its thread briefly back to the
    # default policy) while a probe reads the threads' policies.
    argv += ["--private-key", str(lab.client_key), "--forks", "1"]
    return _python(*argv, cwd=project, **env)


@pytest.mark.lab
def test_play_runs_as_a_batch_job_and_its_local_steps_do_not(lab: Lab, tmp_path: Path) -> None:
    project = _lab_project(tmp_path)
    done = _play(project, lab)
    assert done.returncode == 0, done.stderr
    for host in lab.hosts:
        seen = json.loads((project / f"{host.name}.json").read_text())
        assert seen["own"] == OTHER
        assert seen["count"] > 2  # the dispatcher, its workers, ...
        assert seen["threads"] == [BATCH]


@pytest.mark.lab
def test_rorunner_sched_normal_and_a_bad_value(lab: Lab, tmp_path: Path) -> None:
    project = _lab_project(tmp_path)
    refused = _play(project, lab, RORUNNER_SCHED="turbo")
    assert refused.returncode == EXIT_USAGE
    assert "rorunner: error: RORUNNER_SCHED must be batch or normal, not 'turbo'" in refused.stderr
    assert not (project / ".rorunner").exists()
    done = _play(project, lab, RORUNNER_SCHED="normal")
    assert done.returncode == 0, done.stderr
    for host in lab.hosts:
        seen = json.loads((project / f"{host.name}.json").read_text())
        assert seen["own"] == OTHER
        assert seen["threads"] == [OTHER]


def test_run_runs_as_a_batch_job_and_its_command_does_not(tmp_path: Path) -> None:
    (tmp_path / "threads.py").write_text(THREADS)
    (tmp_path / "inventory.ini").write_text("[all]\nctl ansible_connection=local\n")
    out = tmp_path / "seen.json"
    argv = ["run", "all", "-i", "inventory.ini", "-a", f"python3 threads.py {out}"]
    done = _python("-m", "rorunner", *argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(out.read_text())
    assert seen["own"] == OTHER
    assert seen["threads"] == [BATCH]


def test_a_bad_rorunner_sched_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "inventory.ini").write_text("[all]\nctl ansible_connection=local\n")
    argv = ["run", "all", "-i", "inventory.ini", "-a", "touch ran"]
    done = _python("-m", "rorunner", *argv, cwd=tmp_path, RORUNNER_SCHED="turbo")
    assert done.returncode == EXIT_USAGE
    assert done.stderr == "rorunner: error: RORUNNER_SCHED must be batch or normal, not 'turbo'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.ini"]
