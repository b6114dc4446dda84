"""Run records: the writer (incremental, throttled, atomic), the reader, masking, the schema."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rorunner.records import (
    MASK,
    SCHEMA_VERSION,
    RecordError,
    RecordWriter,
    RunRecord,
    RunStore,
    find_state_dirs,
    host_record,
    mask_argv,
    parse_utc,
    plan_path,
    prune_runs,
    record_path,
    schema_path,
    tail_text,
    utc_iso,
)
from tests.record_factory import FakeClock, Spec, make_run, many_runs, write_logs, writer_for


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _doc(state: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record_path(state, run_id).read_text())
    return data


def test_times_are_utc_iso_with_milliseconds() -> None:
    assert utc_iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert utc_iso(1_790_000_000.1234) == "2026-09-21T14:13:20.123Z"
    assert parse_utc("2026-09-21T14:13:20.123Z") == pytest.approx(1_790_000_000.123)


def test_schema_file_ships_with_the_package() -> None:
    schema = json.loads(schema_path().read_text())
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}


def test_the_documented_example_is_a_valid_record(validator: Any) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "run-records.md").read_text()
    example = doc.split("## Example", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    record = json.loads(example)
    validator.validate(record)
    assert RunRecord.from_json(record).steps[0].status == "failed"


def test_a_run_validates_at_every_stage(tmp_path: Path, validator: Any) -> None:
    state = tmp_path / ".rorunner"
    clock = FakeClock(1_790_000_000.0)
    spec = Spec("r1", fail_host="h2", fail_at=1)
    writer = writer_for(state, spec, clock, min_interval=0.0)
    writer.start()
    validator.validate(_doc(state, "r1"))
    assert _doc(state, "r1")["status"] == "running"
    assert {s["status"] for s in _doc(state, "r1")["steps"]} == {"pending"}
    writer.step_started("h1/01-site/webapp/local_pre/10-check-vars.sh")
    doc = _doc(state, "r1")
    validator.validate(doc)
    assert doc["hosts"]["h1"]["state"] == "running"
    assert doc["hosts"]["h1"]["running"] == 1
    clock.advance(1.25)
    writer.step_finished("h1/01-site/webapp/local_pre/10-check-vars.sh", "ok", rc=0)
    step = _doc(state, "r1")["steps"][0]
    assert step["status"] == "ok"
    assert step["duration"] == 1.25
    assert parse_utc(step["ended_at"]) - parse_utc(step["started_at"]) == pytest.approx(1.25)
    writer.step_started("h2/01-site/webapp/ship/files")
    writer.step_finished("h2/01-site/webapp/ship/files", "failed", rc=None, reason="disk full")
    writer.play_stopped("01-site", "play 01-site exceeded max_fail_percentage 0")
    record = writer.finish(exit_code=2)
    doc = _doc(state, "r1")
    validator.validate(doc)
    assert doc["status"] == "finished"
    assert doc["exit_code"] == 2
    assert doc["plays"][0]["stop_reason"] == "play 01-site exceeded max_fail_percentage 0"
    assert doc["hosts"]["h2"]["state"] == "failed"
    assert doc["hosts"]["h3"]["state"] == "not_run"
    assert doc["totals"]["pending"] == 0
    assert doc["totals"]["not_run"] == 16 - 2
    assert record.run_id == "r1"
    assert record.host("h2") is not None
    assert record.hosts_in("failed") == 1


def test_every_write_counts_its_hosts_and_totals_from_its_own_steps(tmp_path: Path) -> None:
    """The writer keeps the head's counts as steps change (it reads no unchanged step at a
    write); each record written must still say what its steps say."""
    state = tmp_path / ".rorunner"
    spec = Spec("r9", hosts=("a", "b", "c"), steps_per_host=3)
    writer = writer_for(state, spec, FakeClock(1_790_000_000.0), min_interval=0.0)
    writer.start()
    tasks = [s["task"] for s in _doc(state, "r9")["steps"]]
    statuses = ["changed", "failed", "ok", "skipped", "unreachable", "not_run"]

    def check(doc: dict[str, Any]) -> None:
        totals = dict.fromkeys(doc["totals"], 0)
        for step in doc["steps"]:
            totals[step["status"]] += 1
        assert doc["totals"] == totals
        for host in spec.hosts:
            mine = [s["status"] for s in doc["steps"] if s["host"] == host]
            assert doc["hosts"][host] == host_record(host, mine).as_json(), host

    for index, task in enumerate(tasks[:-2]):
        writer.step_started(task)
        check(_doc(state, "r9"))
        writer.step_finished(task, statuses[index % len(statuses)])  # type: ignore[arg-type]
        check(_doc(state, "r9"))
    writer.step_started(tasks[-1])
    check(writer.end(exit_code=2, interrupted=True))
    check(_doc(state, "r9"))


def test_changes_are_kept_only_for_steps_that_succeeded(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    spec = Spec("r2", hosts=("a", "b"), steps_per_host=10)
    writer = writer_for(state, spec, FakeClock(1_790_000_000.0), min_interval=0.0)
    writer.start()
    writer.step_finished("a/01-site/webapp/fetch/files", "changed")
    writer.step_finished("b/01-site/webapp/fetch/files", "failed", reason="no such file")
    steps = {s["task"]: s for s in writer.finish(exit_code=2).as_json()["steps"]}
    assert steps["a/01-site/webapp/fetch/files"]["changes"] == [
        {"action": "fetch", "src": "status.txt", "dest": "fetched/a/status.txt"}
    ]
    assert steps["b/01-site/webapp/fetch/files"]["changes"] == []


def test_interrupted_run_marks_in_flight_and_pending_steps_not_run(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    clock = FakeClock(1_790_000_000.0)
    writer = writer_for(state, Spec("r3", hosts=("a",)), clock, min_interval=0.0)
    writer.start()
    writer.step_started("a/01-site/webapp/local_pre/10-check-vars.sh")
    clock.advance(2.0)
    record = writer.finish(exit_code=99, interrupted=True)
    assert record.status == "interrupted"
    first, second = record.steps[:2]
    # The running step was cut short (it runs again); the pending one never started.
    cut_short = "interrupted while running: it runs again on the next run"
    assert (first.status, first.reason, first.duration) == ("not_run", cut_short, 2.0)
    assert (second.status, second.reason, second.started_at) == ("not_run", "interrupted", None)


def test_writes_are_throttled_yet_the_reader_catches_up(tmp_path: Path, validator: Any) -> None:
    """1,000 steps finished as fast as possible rewrite the record a handful of times per
    second, and the last update reaches the file within about one interval."""
    state = tmp_path / ".rorunner"
    hosts = tuple(f"h{i:03d}" for i in range(100))
    spec = Spec("r4", hosts=hosts, steps_per_host=10)
    writer = writer_for(state, spec, time.time, min_interval=0.2)
    writer.start()
    began = time.monotonic()
    tasks = [s["task"] for s in writer.snapshot()["steps"]]
    for task in tasks:
        writer.step_started(task)
        writer.step_finished(task, "changed", rc=0)
    elapsed = time.monotonic() - began
    # at most one write per interval, plus the start and the timer's trailing write
    assert writer.writes <= 2 + elapsed / 0.2 + 1
    deadline = time.monotonic() + 10
    while _doc(state, "r4")["totals"]["changed"] < 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    doc = _doc(state, "r4")
    assert doc["totals"]["changed"] == 1000
    validator.validate(doc)
    writer.close()


def test_a_big_record_is_rewritten_less_often(tmp_path: Path) -> None:
    """Writing a record of 5,000 steps takes a while: updates as fast as possible for 2 s
    spend at most about a fifth of that time writing (not one write per interval)."""
    state = tmp_path / ".rorunner"
    spec = Spec("big", hosts=tuple(f"h{i:03d}" for i in range(500)), steps_per_host=10)
    writer = writer_for(state, spec, time.time, min_interval=0.05)
    writer.start()
    tasks = [s["task"] for s in writer.snapshot()["steps"]]
    began = time.monotonic()
    index = 0
    while time.monotonic() - began < 2.0:
        writer.step_started(tasks[index % len(tasks)])
        index += 1
        time.sleep(0.001)
    elapsed = time.monotonic() - began
    writer.close()
    one_write = writer.write_seconds / writer.writes
    assert writer.write_seconds <= 0.2 * elapsed + 3 * one_write, (writer.writes, one_write)


def test_each_write_is_the_whole_record_as_json_dumps_writes_it(tmp_path: Path) -> None:
    """A write re-encodes only the steps that changed since the last one; the file is still
    exactly json.dumps(record, sort_keys=True), whatever the steps' texts hold."""
    state = tmp_path / ".rorunner"
    spec = Spec("r6", hosts=("h1", "h2", "h3"), steps_per_host=4)
    clock = FakeClock(spec.start)
    writer = writer_for(state, spec, clock, min_interval=0)  # every update writes
    writer.start()
    tasks = [s["task"] for s in writer.snapshot()["steps"]]
    reasons = ["", 'caf\u00e9 \\ "q"', "\x00rorunner-steps", "[1, 2]"]
    for number, task in enumerate(tasks):
        clock.advance(0.5)
        writer.step_started(task)
        assert record_path(state, "r6").read_text() == _dumped(writer)
        clock.advance(0.5)
        status = "failed" if number % 5 == 4 else "changed"
        writer.step_finished(task, status, rc=number, reason=reasons[number % len(reasons)])
        assert record_path(state, "r6").read_text() == _dumped(writer)
    writer.play_stopped("01-site", "stopped \x00rorunner-steps")
    assert record_path(state, "r6").read_text() == _dumped(writer)
    writer.finish(exit_code=2)
    assert record_path(state, "r6").read_text() == _dumped(writer)


def _dumped(writer: RecordWriter) -> str:
    return json.dumps(writer.snapshot(), sort_keys=True) + "\n"


def test_a_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    spec = Spec("r5", hosts=tuple(f"h{i}" for i in range(20)), steps_per_host=10)
    writer = writer_for(state, spec, time.time, min_interval=0.0)
    writer.start()
    tasks = [s["task"] for s in writer.snapshot()["steps"]]
    store = RunStore(state)
    errors: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                store.load("r5")
            except RecordError as err:
                errors.append(str(err))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for task in tasks:
            writer.step_finished(task, "ok")
    finally:
        done.set()
        reader.join(timeout=30)
    assert errors == []
    assert store.load("r5").totals["ok"] == 200


def test_store_lists_newest_first_and_resolves_ids(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    ids = many_runs(state, 5)
    store = RunStore(state)
    listed = [r.run_id for r in store.summaries()]
    assert listed == list(reversed(ids))
    assert all(r.steps == () for r in store.summaries())
    assert store.resolve("latest") == ids[-1]
    assert store.resolve(ids[2]) == ids[2]
    assert store.resolve(ids[2][:-3]) == ids[2]  # unique prefix
    with pytest.raises(RecordError, match="matches several runs"):
        store.resolve("2027")
    with pytest.raises(RecordError, match="names no run"):
        store.resolve("nope")


def test_store_reads_plans_and_only_this_runs_logs(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    record = make_run(state, Spec("r6", fail_host="h2", fail_at=2))
    assert record is not None
    store = RunStore(state)
    plan = store.plan("r6")
    assert plan is not None
    assert len(plan["nodes"]) == 16
    failed = next(s for s in store.load("r6").steps if s.status == "failed")
    log = store.log_file("r6", failed.stderr)
    assert log is not None
    assert tail_text(log) == "ERROR: port 9999 not configured on h2"
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    assert store.log_file("r6", str(outside)) is None
    assert (
        store.log_file("r6", str(state / "logs" / "r6" / ".." / ".." / "runs" / "r6.json")) is None
    )
    assert store.plan("missing") is None


def test_a_running_record_whose_writer_died_reads_as_interrupted(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    make_run(state, Spec("r7"), finish=False)
    store = RunStore(state)
    assert store.load("r7").status == "running"  # our own pid: alive
    doc = _doc(state, "r7")
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    doc["pid"] = child  # a process that has exited
    record_path(state, "r7").write_text(json.dumps(doc))
    assert store.load("r7").status == "interrupted"


def test_unknown_schema_versions_and_garbage_are_refused(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    runs = state / "runs"
    runs.mkdir(parents=True)
    (runs / "new.json").write_text(json.dumps({"schema_version": 2, "run_id": "new"}))
    (runs / "junk.json").write_text("{not json")
    store = RunStore(state)
    with pytest.raises(RecordError, match="schema_version 2"):
        store.load("new")
    with pytest.raises(RecordError, match="unreadable"):
        store.load("junk")
    assert store.summaries() == []


def test_records_from_before_schema_1_are_read(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    runs = state / "runs"
    runs.mkdir(parents=True)
    step = {
        "task": "a/p/r/remote/s",
        "host": "a",
        "play": "p",
        "role": "r",
        "phase": "remote",
        "step": "s",
        "status": "failed",
        "rc": 7,
        "duration": 0.1,
        "reason": "",
        "stdout": None,
        "stderr": None,
    }
    old = {
        "run_id": "old",
        "interrupted": False,
        "steps": [step],
        "hosts": {
            "a": {
                "state": "failed",
                "ok": 0,
                "changed": 0,
                "skipped": 0,
                "failed": 1,
                "unreachable": 0,
                "not_run": 0,
            }
        },
    }
    (runs / "old.json").write_text(json.dumps(old))
    record = RunStore(state).load("old")
    assert record.status == "finished"
    assert record.steps[0].rc == 7
    assert record.hosts_in("failed") == 1


def test_prune_keeps_the_newest_records_with_their_plans_and_logs(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    ids = many_runs(state, 6, mtime=lambda n: 1_790_000_000.0 + n)
    for run_id in ids:
        write_logs(state, run_id, "h1/p/r/remote/s", "out", "err")
    (state / "logs" / "orphan").mkdir()
    prune_runs(state, 4)
    assert sorted(RunStore(state).run_ids()) == sorted(ids[2:])
    assert not plan_path(state, ids[1]).exists()
    assert plan_path(state, ids[2]).exists()
    assert sorted(p.name for p in (state / "logs").iterdir()) == sorted(ids[2:])


def test_find_state_dirs(tmp_path: Path) -> None:
    assert find_state_dirs(tmp_path) == []
    (tmp_path / "playbooks" / ".rorunner").mkdir(parents=True)
    (tmp_path / "other" / ".rorunner").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    assert find_state_dirs(tmp_path) == [
        tmp_path / "other" / ".rorunner",
        tmp_path / "playbooks" / ".rorunner",
    ]
    assert find_state_dirs(tmp_path / "playbooks") == [tmp_path / "playbooks" / ".rorunner"]
    (tmp_path / ".rorunner").mkdir()  # ad hoc `run` records at the top hide no project below
    assert find_state_dirs(tmp_path) == [
        tmp_path / ".rorunner",
        tmp_path / "other" / ".rorunner",
        tmp_path / "playbooks" / ".rorunner",
    ]
    assert find_state_dirs(tmp_path / "playbooks" / ".rorunner") == [
        tmp_path / "playbooks" / ".rorunner"
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-e", "db_password=hunter2"], ["-e", f"db_password={MASK}"]),
        (["-e", "a=1 b='two words'"], ["-e", f"a={MASK} b={MASK}"]),
        (["--extra-vars=token=abc"], [f"--extra-vars=token={MASK}"]),
        (
            ["--extra-vars", '{"k": "v", "j": 1}'],
            ["--extra-vars", f'{{"j": "{MASK}", "k": "{MASK}"}}'],
        ),
        (["-e", "{k: v}"], ["-e", "{" + MASK + "}"]),
        (["-ek=v"], [f"-ek={MASK}"]),
        (["-ve", "k=v"], ["-ve", f"k={MASK}"]),
        (["-vek=v"], [f"-vek={MASK}"]),
        (["-e", "@vars/secret.yml"], ["-e", "@vars/secret.yml"]),
        (["-i", "hosts-e.ini", "-lweb"], ["-i", "hosts-e.ini", "-lweb"]),
        (["--", "-e", "x=1"], ["--", "-e", "x=1"]),
        (["-e", "unbalanced'quote"], ["-e", MASK]),
    ],
)
def test_argv_masking(argv: list[str], expected: list[str]) -> None:
    assert mask_argv(["rorunner", "play", *argv]) == ["rorunner", "play", *expected]


def test_recorded_argv_is_masked(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    spec = Spec("r8", argv=("rorunner", "play", "site.yml", "-e", "api_key=s3cr3t-value"))
    make_run(state, spec)
    text = record_path(state, "r8").read_text()
    assert "s3cr3t-value" not in text
    assert RunStore(state).load("r8").argv[-1] == f"api_key={MASK}"
