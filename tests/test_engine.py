"""Engine tests without the lab: steps on hosts reached with connection=local."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from rorunner.engine import STATE_FILE, EngineOptions, ProjectLock, dry_run, lower, run_plan
from rorunner.engine._db import StateDB
from rorunner.engine._state import RunState
from rorunner.engine._step import StepAction
from rorunner.errors import LockedError
from rorunner.model import FileMove, PlanStep, StepSpec
from rorunner.outcome import StepOutcome, StepRef
from rorunner.plan import task_name
from rorunner.testing import FakePool
from tests.engine_fakes import PlanMaker, count_cmd, counts, slow_chain

REPO = Path(__file__).resolve().parents[1]


def _three_steps(tmp_path: Path, **kw: object) -> PlanMaker:
    maker = PlanMaker(tmp_path, **kw)  # type: ignore[arg-type]
    maker.add("local_pre", "prep", command=count_cmd("prep"))
    maker.add("remote", "work", command=count_cmd("work"))
    maker.add("local_post", "check", command=count_cmd("check"))
    return maker


def _run(tmp_path: Path, plan: object, **kw: object):  # type: ignore[no-untyped-def]
    return run_plan(plan, EngineOptions(tmp_path, **kw))  # type: ignore[arg-type]


def _statuses(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f"{o.host}.{o.step}": o.status for o in result.outcomes}


def test_names_are_readable_doit_safe_and_follow_predecessors(tmp_path: Path) -> None:
    plan = _three_steps(tmp_path, hosts=("a", "2001:db8::1")).build()
    lowered = lower(plan, project_dir=str(tmp_path))
    names = [lt.name for lt in lowered]
    assert names[:3] == [
        "a/01-play/r/local_pre/prep",
        "a/01-play/r/remote/work",
        "a/01-play/r/local_post/check",
    ]
    assert names[3] == "2001:db8::1/01-play/r/local_pre/prep"
    for lt in lowered:
        assert not set("=*?[] ") & set(lt.name)
    assert lowered[1].task["task_dep"] == ["a/01-play/r/local_pre/prep"]
    # Log files keep doit-safe names: <host>.<play>.<role>.<phase>.<step>.
    assert lowered[3].log_stem == "2001_db8__1.01-play.r.local_pre.prep"


def test_cold_run_then_everything_up_to_date(tmp_path: Path) -> None:
    plan = _three_steps(tmp_path).build()
    first = _run(tmp_path, plan)
    assert set(_statuses(first).values()) == {"ok", "changed"}
    assert _statuses(first)["a.work"] == "changed" and _statuses(first)["a.prep"] == "ok"
    second = _run(tmp_path, plan)
    assert set(_statuses(second).values()) == {"skipped"}
    assert counts(tmp_path) == {f"{h}.{t}": 1 for h in "ab" for t in ("check", "prep", "work")}
    record = json.loads(Path(second.record or "").read_text())
    assert record["hosts"]["a"]["skipped"] == 3 and len(record["steps"]) == 6
    # A record's step is named by its task name, the one doit ran it under.
    assert [step["task"] for step in record["steps"]] == [task_name(s) for s in plan.steps]


def test_a_local_connection_host_gets_its_work_dir_without_a_ship_step(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, hosts=("a",))
    maker.add("remote", "work", command="echo here > made.txt")
    plan = maker.build()
    work = tmp_path / "remote" / "a"
    work.rmdir()  # PlanMaker makes it; this host must get it from the step itself
    assert _statuses(_run(tmp_path, plan)) == {"a.work": "changed"}
    assert (work / "made.txt").read_text() == "here\n"
    assert stat.S_IMODE(work.stat().st_mode) == 0o700


def test_changed_input_reruns_that_step_and_what_follows_only(tmp_path: Path) -> None:
    maker = _three_steps(tmp_path)
    _run(tmp_path, maker.build())
    result = _run(tmp_path, maker.build(salt={("b", "work"): "changed"}))
    assert _statuses(result) == {
        "a.prep": "skipped",
        "a.work": "skipped",
        "a.check": "skipped",
        "b.prep": "skipped",
        "b.work": "changed",
        "b.check": "ok",
    }
    assert counts(tmp_path)["b.work"] == 2 and counts(tmp_path)["a.work"] == 1


def test_force_reruns_all_and_the_next_run_is_up_to_date(tmp_path: Path) -> None:
    plan = _three_steps(tmp_path).build()
    _run(tmp_path, plan)
    forced = _run(tmp_path, plan, force=True)
    assert "skipped" not in _statuses(forced).values()
    assert set(_statuses(_run(tmp_path, plan)).values()) == {"skipped"}


def test_always_steps_always_run(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, hosts=("a",))
    maker.add("remote", "once", command=count_cmd("once"))
    maker.add("remote", "every", command=count_cmd("every"), always=True)
    plan = maker.build()
    _run(tmp_path, plan)
    second = _run(tmp_path, plan)
    assert _statuses(second) == {"a.once": "skipped", "a.every": "changed"}


def test_failure_stops_only_its_host_and_is_retried_next_time(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path)
    maker.add("remote", "one", command=count_cmd("one"))
    maker.add("remote", "two", command='test "$RORUNNER_HOST" != a || { echo boom >&2; exit 3; }')
    maker.add("remote", "three", command=count_cmd("three"))
    plan = maker.build()
    result = _run(tmp_path, plan)
    assert _statuses(result) == {
        "a.one": "changed",
        "a.two": "failed",
        "a.three": "not_run",
        "b.one": "changed",
        "b.two": "changed",
        "b.three": "changed",
    }
    failed = next(o for o in result.outcomes if o.status == "failed")
    assert failed.rc == 3 and Path(failed.stderr or "").read_text() == "boom\n"
    assert result.any_failed and not result.any_unreachable
    again = _statuses(_run(tmp_path, plan))
    assert again["a.one"] == "skipped" and again["a.two"] == "failed"
    assert again["b.three"] == "skipped"


def test_serial_barrier_does_not_spread_a_failure(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, hosts=("a", "b", "c", "d"), serial=(2,), barrier=True)
    maker.add("remote", "go", command='test "$RORUNNER_HOST" != a')
    result = _run(tmp_path, maker.build())
    assert _statuses(result) == {
        "a.go": "failed",
        "b.go": "changed",
        "c.go": "changed",
        "d.go": "changed",
    }


def test_max_fail_percentage_stops_the_remaining_hosts_of_the_play(tmp_path: Path) -> None:
    maker = PlanMaker(
        tmp_path, hosts=("a", "b", "c", "d"), serial=(2,), barrier=True, max_fail_percentage=0
    )
    maker.add("remote", "go", command='test "$RORUNNER_HOST" != a')
    result = _run(tmp_path, maker.build())
    got = _statuses(result)
    assert got["a.go"] == "failed" and got["c.go"] == "not_run" and got["d.go"] == "not_run"
    assert "max_fail_percentage" in next(o.reason for o in result.outcomes if o.host == "c")


def test_dry_run_says_why_and_runs_nothing(tmp_path: Path) -> None:
    maker = _three_steps(tmp_path, hosts=("a",))
    maker.add("remote", "every", command="true", always=True)
    options = EngineOptions(tmp_path)
    assert {e.reason for e in dry_run(maker.build(), options)} == {"new", "always"}
    assert not (tmp_path / ".rorunner").exists()
    _run(tmp_path, maker.build())
    changed = maker.build(salt={("a", "work"): "x"})
    entries = {e.step: (e.would_run, e.reason) for e in dry_run(changed, options)}
    assert entries == {
        "prep": (False, ""),
        "work": (True, "inputs changed"),
        "check": (True, "inputs changed"),
        "every": (True, "always"),
    }
    forced = dry_run(changed, EngineOptions(tmp_path, force=True))
    assert {e.reason for e in forced if e.step == "prep"} == {"forced"}
    assert counts(tmp_path)["a.work"] == 1


def test_lock_names_the_holder_and_a_dead_holders_lock_is_stale(tmp_path: Path) -> None:
    path = tmp_path / ".rorunner" / "lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from pathlib import Path; from rorunner.engine import ProjectLock;"
            "ProjectLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(30)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            ProjectLock(path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert path.read_text().strip() == str(holder.pid)  # left behind by the killed run
    with ProjectLock(path):
        assert path.read_text().strip() == str(os.getpid())


KILL_SCRIPT = """
import sys
from pathlib import Path
from rorunner.plan import task_name
from rorunner.engine import EngineOptions, run_plan
from tests.engine_fakes import slow_chain
root = Path(sys.argv[1])
result = run_plan(slow_chain(root), EngineOptions(root, forks=1, force="--force" in sys.argv))
print("interrupted" if result.interrupted else "done", flush=True)
"""


def _start_kill_script(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    """Run KILL_SCRIPT until host a's slow step has started (it then waits for "release")."""
    started = tmp_path / "counters" / "a.started"
    started.unlink(missing_ok=True)
    argv = [sys.executable, str(_kill_script(tmp_path)), str(tmp_path), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    for _ in range(4000):  # polled often: the kill comes within moments of the step's start
        if started.exists() or proc.poll() is not None:
            break
        time.sleep(0.005)
    assert started.exists(), proc.communicate(timeout=60)
    return proc


def _kill_script(tmp_path: Path) -> Path:
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    return script


def _run_kill_script(tmp_path: Path, *extra: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(_kill_script(tmp_path)), str(tmp_path), *extra]
    done = subprocess.run(argv, cwd=REPO, env=env, check=True, timeout=60, capture_output=True)
    return done.stdout.decode().strip()


def test_kill_minus_9_repeats_only_the_step_in_flight(tmp_path: Path) -> None:
    proc = _start_kill_script(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    (tmp_path / "counters" / "release").touch()
    assert _run_kill_script(tmp_path) == "done"
    got = counts(tmp_path)
    assert got["a.one"] == 1 and got["a.slow"] == 2 and got["a.three"] == 1
    assert got["b.one"] == 1 and got["b.slow"] == 1 and got["b.three"] == 1


def test_a_step_interrupted_under_force_runs_again_without_force(tmp_path: Path) -> None:
    (tmp_path / "counters").mkdir()
    (tmp_path / "counters" / "release").touch()
    assert _run_kill_script(tmp_path) == "done"  # everything succeeded once
    (tmp_path / "counters" / "release").unlink()
    proc = _start_kill_script(tmp_path, "--force")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert out.strip() == "interrupted"
    verdicts = {
        (e.host, e.step): e.reason for e in dry_run(slow_chain(tmp_path), EngineOptions(tmp_path))
    }
    assert verdicts[("a", "slow")] == "did not finish last time"
    assert verdicts[("a", "one")] == "" and verdicts[("a", "three")] == ""
    (tmp_path / "counters" / "release").touch()
    assert _run_kill_script(tmp_path) == "done"
    got = counts(tmp_path)
    # The forced run repeated a.one and started a.slow; the plain re-run repeats a.slow only.
    assert got["a.one"] == 2 and got["a.slow"] == 3 and got["a.three"] == 1
    assert got["b.one"] == 1 and got["b.slow"] == 1 and got["b.three"] == 1


def test_a_file_every_host_rewrites_is_never_shipped_half_written(tmp_path: Path) -> None:
    shared = tmp_path / "build" / "shared.txt"
    maker = PlanMaker(tmp_path, hosts=("a", "b", "c", "d"))
    maker.add(
        "local_pre",
        "make",
        command=f"printf a > {shared}; sleep 0.2; printf b >> {shared}",
        creates=(str(shared),),
    )
    maker.add("ship", "files", files=(FileMove(str(shared), "s.txt"),))
    plan = maker.build()
    lowered = lower(plan, project_dir=str(tmp_path))
    assert all(lt.shared_files == (str(shared),) for lt in lowered)
    assert all("targets" not in lt.task or not lt.task["targets"] for lt in lowered)
    result = _run(tmp_path, plan)
    assert {o.status for o in result.outcomes} == {"ok", "changed"}
    for host in "abcd":
        assert (tmp_path / "remote" / host / "s.txt").read_text() == "ab"


@pytest.mark.parametrize("padding", [0, 70 * 1024], ids=["inline", "shipped"])
def test_remote_role_scripts_arrive_intact_and_run(tmp_path: Path, padding: int) -> None:
    script = tmp_path / "10-s.sh"
    script.write_text(
        "#!/bin/sh\n# " + "x" * padding + "\n"
        "cat <<'EOF' > out.txt\n'quoted' \"double\" $HOME `tick` \\\\ EOF\nEOF\n"
        'echo "$0" >> out.txt\n'
    )
    script.chmod(0o755)
    maker = PlanMaker(tmp_path, hosts=("a",))
    maker.add("remote", "first", command="true")
    maker.add("remote", "10-s.sh", script=str(script))
    result = _run(tmp_path, maker.build())
    assert {o.status for o in result.outcomes} == {"changed"}, result.outcomes
    out = (tmp_path / "remote" / "a" / "out.txt").read_text().splitlines()
    assert out[0] == "'quoted' \"double\" $HOME `tick` \\\\ EOF"
    assert out[1] == "./.rorunner-scripts/01-play/r/10-s.sh"
    landed = tmp_path / "remote" / "a" / ".rorunner-scripts" / "01-play" / "r" / "10-s.sh"
    assert landed.read_bytes() == script.read_bytes() and landed.stat().st_mode & 0o777 == 0o700


def test_only_the_newest_run_records_and_their_logs_are_kept(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, hosts=("a",))
    maker.add("remote", "work", command="echo out; echo err >&2", always=True)
    plan = maker.build()
    state = tmp_path / ".rorunner"
    (state / "logs" / "19700101T000000-1-1").mkdir(parents=True)  # a killed run's logs
    records = [Path(_run(tmp_path, plan, keep_runs=2).record or "") for _ in range(3)]
    assert len({r.name for r in records}) == 3  # every run has its own id
    kept = records[1:]  # each with its plan graph beside it
    expected = [r.name for r in kept] + [f"{r.stem}.plan.json" for r in kept]
    assert sorted(p.name for p in (state / "runs").iterdir()) == sorted(expected)
    assert sorted(p.name for p in (state / "logs").iterdir()) == sorted(r.stem for r in records[1:])


def test_a_step_that_writes_nothing_leaves_no_log_file(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, hosts=("a", "b"))
    maker.add("remote", "quiet", command="true")
    maker.add("remote", "loud", command='echo "out $RORUNNER_HOST"')
    maker.add("local_post", "err", command="echo err >&2")
    result = _run(tmp_path, maker.build())
    by_step = {(o.host, o.step): o for o in result.outcomes}
    for host in ("a", "b"):
        assert by_step[(host, "quiet")].stdout is None and by_step[(host, "quiet")].stderr is None
        assert Path(by_step[(host, "loud")].stdout or "").read_text() == f"out {host}\n"
        assert by_step[(host, "loud")].stderr is None
        assert by_step[(host, "err")].stdout is None
        assert Path(by_step[(host, "err")].stderr or "").read_text() == "err\n"
    logs = list((tmp_path / ".rorunner" / "logs").rglob("*"))
    assert (
        sorted(p.name.rsplit(".", 1)[1] for p in logs if p.is_file())
        == ["stderr"] * 2 + ["stdout"] * 2
    )


class Heard:
    """RunEvents that remember what they heard, in order, and check they were never overlapped."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.busy = False

    def _hear(self, what: str, task: str) -> None:
        assert not self.busy, "two events at once"
        self.busy = True
        time.sleep(0.001)  # widen the window an overlapping call would fall into
        self.log.append((what, task))
        self.busy = False

    def step_started(self, step: StepRef) -> None:
        self._hear("started", step.task)

    def step_finished(self, outcome: StepOutcome) -> None:
        self._hear(outcome.status, outcome.task)


def test_events_hear_each_step_start_then_end_one_at_a_time(tmp_path: Path) -> None:
    maker = PlanMaker(tmp_path, hosts=("a", "b", "c", "d"))
    maker.add("remote", "one", command="true").add("remote", "two", command="true", always=True)
    plan = maker.build()
    heard = Heard()
    run_plan(plan, EngineOptions(tmp_path, forks=4), events=heard)
    for host in "abcd":
        for step in ("one", "two"):
            task = f"{host}/01-play/r/remote/{step}"
            assert [w for w, t in heard.log if t == task] == ["started", "changed"]
    again = Heard()
    run_plan(plan, EngineOptions(tmp_path, forks=4), events=again)
    assert {w for w, t in again.log if t.endswith("one")} == {"skipped"}  # never "started"


class Blocking(Heard):
    """Heard, whose first event waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def _hear(self, what: str, task: str) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30)
        super()._hear(what, task)


def test_a_step_never_waits_for_another_steps_listeners() -> None:
    """Events still reach the listeners one at a time, in the order they happened; a thread
    whose event finds another thread delivering queues it and goes on (the delivering
    thread tells it next), and a listener told directly hears it at once."""
    heard, direct = Blocking(), Heard()
    state = RunState({}, heard, direct=direct)
    first = threading.Thread(target=state.started, args=(StepRef(host="a", task="a/one"),))
    first.start()
    try:
        assert heard.entered.wait(30)
        began = time.monotonic()
        state.record(StepOutcome(host="b", task="b/one", status="changed"))
        state.started(StepRef(host="b", task="b/two"))
        assert time.monotonic() - began < 5  # did not wait for the first thread's listener
        assert heard.log == []
        assert direct.log == [("started", "a/one"), ("changed", "b/one"), ("started", "b/two")]
    finally:
        heard.release.set()
        first.join(30)
    assert heard.log == direct.log
    assert state.has("b/one") and state.was_started("a/one")


@dataclass
class _OwnDirs(PlanMaker):
    """Each step in a work dir of its own (`<host dir>/<step name>`)."""

    def _step(self, host: str, phase: str, name: str, spec: StepSpec) -> PlanStep:
        step = super()._step(host, phase, name, spec)
        return replace(step, remote_dir=f"{step.remote_dir}/{name}")


def test_a_cold_run_reads_only_the_state_files_it_writes_whole(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("a\n")
    maker = _OwnDirs(tmp_path, hosts=("a",), over_ssh=True)
    maker.add("ship", "files", files=(FileMove(str(tmp_path / "a.conf"), "a.conf"),))
    maker.add("remote", "work", command="deploy")
    pool = FakePool()
    result = run_plan(maker.build(), EngineOptions(tmp_path, pool=pool))
    assert {o.status for o in result.outcomes} == {"changed"}
    calls = pool.host("a").calls
    state = [c[1] for c in calls if c[0] in ("read", "put_bytes") and STATE_FILE in c[1]]
    ship_dir = str(tmp_path / "remote" / "a" / "files")
    # The ship step's dir: read, then written whole; the remote step's dir: its command
    # appends (issue 10), so its state file is never read nor written over SFTP.
    assert state == [f"{ship_dir}/{STATE_FILE}"] * 2
    (command,) = pool.host("a").commands
    assert STATE_FILE in command


def test_a_step_reaching_its_start_after_the_db_closed_does_not_act(tmp_path: Path) -> None:
    """A step that gets past its connection wait once an interrupted run closed the DB
    neither acts nor records an outcome (the run records it as interrupted)."""
    maker = PlanMaker(tmp_path, hosts=("a",))
    maker.add("remote", "one", command=count_cmd("one"))
    (lowered,) = lower(maker.build(), project_dir=str(tmp_path))
    db = StateDB(tmp_path / "deps.sqlite")
    db.dump()
    state = RunState({})
    action = StepAction(
        lowered,
        tuple(lowered.task["actions"]),
        lowered.check,
        state,
        None,
        FakePool(),
        db.mark_started,
    )
    assert action() == {}
    assert counts(tmp_path) == {} and state.outcomes() == {}
    assert not state.was_started(lowered.name)
