"""rorunner.testing (the in-memory fleet users test their dodo.py with), the engine over it,
and the hermetic environment every test gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rorunner import gen_task_fetch_files, gen_task_remote_exec, gen_task_ship_files
from rorunner.engine import STATE_FILE, EngineOptions, run_plan
from rorunner.errors import UnreachableError
from rorunner.tasks import StepFailure, step_error
from rorunner.testing import FakePool, installed, run_task
from rorunner.transport import Pool, default_pool
from tests.engine_fakes import PlanMaker, count_cmd, counts

REPO = Path(__file__).resolve().parents[1]


def test_the_documented_example() -> None:
    pool = FakePool()
    pool.host("2001:db8::1").on("uname", stdout=b"Linux\n")
    task = gen_task_remote_exec("uname -r", "2001:db8::1")
    assert run_task(task, pool) is None
    assert pool.host("2001:db8::1").commands == ["uname -r"]
    assert pool.opened == 1


def test_ship_then_fetch_round_trips_through_the_fake_host(tmp_path: Path) -> None:
    (tmp_path / "app.conf").write_text("port=80\n")
    pool = FakePool()
    shipped = gen_task_ship_files([str(tmp_path / "app.conf")], "2001:db8::1", "s", remote_dir="w")
    assert run_task(shipped, pool) is None
    host = pool.host("2001:db8::1")
    assert host.files == {"/home/fake/w/app.conf": b"port=80\n"}
    assert host.modes["/home/fake/w/app.conf"] == (tmp_path / "app.conf").stat().st_mode & 0o777
    fetched = gen_task_fetch_files(["app.conf"], "2001:db8::1", "f", remote_dir="w",
                                   local_dir=str(tmp_path / "got"))  # fmt: skip
    assert run_task(fetched, pool) is None
    assert (tmp_path / "got" / "2001:db8::1" / "app.conf").read_text() == "port=80\n"
    missing = gen_task_fetch_files(["nope"], "2001:db8::1", "f", local_dir=str(tmp_path))
    assert "no such file" in str(run_task(missing, pool))


def test_rules_replies_and_effects() -> None:
    pool = FakePool()
    host = pool.host("2001:db8::7")
    host.on("deploy", status=4, stderr=b"no space\n")
    host.on("make", effect=lambda h, run: h.files.update({h.path("made"): run.command.encode()}))
    fail = run_task(gen_task_remote_exec(["true", "deploy", "never"], "2001:db8::7"), pool)
    assert isinstance(fail, StepFailure) and fail.exit_status == 4 and "no space" in str(fail.error)
    assert host.commands == ["true", "deploy"]
    assert run_task(gen_task_remote_exec("make it", "2001:db8::7"), pool) is None
    assert host.files == {"/home/fake/made": b"make it"}


def test_an_unreachable_fake_host_fails_like_a_real_one() -> None:
    pool = FakePool()
    pool.host("2001:db8::9").unreachable = "connect: no route to host"
    fail = run_task(gen_task_remote_exec("true", "2001:db8::9"), pool)
    assert isinstance(step_error(fail), UnreachableError)  # type: ignore[arg-type]
    assert pool.opened == 0


def test_installed_is_the_default_pool_inside_the_block_only() -> None:
    pool = FakePool()
    with installed(pool):
        assert default_pool() is pool
        (action,) = gen_task_remote_exec("true", "2001:db8::1")["actions"]
        assert action() is None  # as plain doit calls it
    assert isinstance(default_pool(), Pool)
    assert pool.host("2001:db8::1").commands == ["true"]


def test_the_engine_runs_on_the_pool_it_is_given(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, over_ssh=True)
    maker.add("local_pre", "prep", command=count_cmd("prep"))  # on the controller, for real
    maker.add("remote", "work", command="deploy")
    pool = FakePool()
    first = run_plan(maker.build(), EngineOptions(tmp_path, pool=pool))
    assert {o.status for o in first.outcomes} == {"ok", "changed"}
    # One command: the step's, which also appends its record to the host's state (issue 10).
    (command,) = pool.host("a").commands
    assert "\ndeploy\n" in command and STATE_FILE in command
    assert pool.opened == 2
    assert pool.closed == 0  # the caller's pool stays open for the caller
    again = run_plan(maker.build(), EngineOptions(tmp_path, pool=pool))
    assert {o.status for o in again.outcomes} == {"skipped"}
    assert pool.opened == 2  # an unchanged re-run connects nowhere
    assert counts(tmp_path) == {"a.prep": 1, "b.prep": 1}


def test_the_engine_reports_a_fake_unreachable_host(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, over_ssh=True).add("remote", "work", command="true")
    pool = FakePool()
    pool.host("b").unreachable = "connect: timed out"
    result = run_plan(maker.build(), EngineOptions(tmp_path, pool=pool))
    assert {o.host: o.status for o in result.outcomes} == {"a": "changed", "b": "unreachable"}
    assert result.any_unreachable


INNER_TEST = """
import os
import subprocess
import sys
from pathlib import Path

def test_sees_nothing_of_the_callers_environment():
    assert os.environ["HOME"] != {home!r}
    assert not (Path(os.environ["HOME"]) / ".ssh").exists()
    assert "RORUNNER_USER" not in os.environ and "RORUNNER_KNOWN_HOSTS" not in os.environ
    assert os.environ["RORUNNER_LAB_MODE"] == "loopback"  # the harness's own setting stays
"""


def test_every_test_gets_an_empty_home_and_no_rorunner_variables(tmp_path: Path) -> None:
    home = tmp_path / "realhome"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host *\n  User intruder\n")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "test_inner.py").write_text(INNER_TEST.format(home=str(home)))
    env = {
        **os.environ,
        "HOME": str(home),
        "RORUNNER_USER": "intruder",
        "RORUNNER_KNOWN_HOSTS": "/dev/null",
        "RORUNNER_LAB_MODE": "loopback",
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
            "--rootdir", str(tmp_path / "inner"), str(tmp_path / "inner")]  # fmt: skip
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["RORUNNER_USER", "RORUNNER_SSH_CONFIG"])
def test_this_session_has_no_rorunner_variable(name: str) -> None:
    assert name not in os.environ
    assert not (Path.home() / ".ssh").exists()


def test_the_example_in_docs_seed_api_runs(tmp_path: Path) -> None:
    text = (REPO / "docs" / "seed-api.md").read_text()
    section = text.split("## Testing your dodo.py without hosts", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/seed-api.md", "exec"), namespace)
    namespace["test_deploy"](tmp_path)  # type: ignore[operator]
