"""The dashboard's page data, built from records without a browser: plan collapse and search,
host history, the grid of a live run, run filters."""

from __future__ import annotations

import re
from pathlib import Path

from rorunner.dashboard._plan import PlanView, elements
from rorunner.dashboard._views import (
    filter_rows,
    grid_columns,
    grid_rows,
    host_rows,
    project_keys,
    run_row,
    timeline_bars,
    timeline_pages,
)
from rorunner.records import RunStore
from tests.record_factory import FakeClock, Spec, make_run, many_runs, writer_for


def _classes(items: list[dict[str, object]], cls: str) -> list[dict[str, object]]:
    return [e for e in items if cls in str(e.get("classes", "")).split()]


def test_plan_collapses_many_hosts_and_expands_one(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    hosts = tuple(f"n{i:02d}" for i in range(45))
    make_run(state, Spec("p1", hosts=hosts, fail_host="n07", fail_at=1), logs=False)
    store = RunStore(state)
    plan, record = store.plan("p1"), store.load("p1")
    assert plan is not None
    collapsed = elements(plan, record, PlanView())
    assert len(_classes(collapsed, "hostnode")) == 45
    assert _classes(collapsed, "step") == []
    assert [e["data"]["id"] for e in _classes(collapsed, "failed")] == ["host:n07"]  # type: ignore[index]
    opened = elements(plan, record, PlanView(expanded=frozenset({"n07"})))
    steps = _classes(opened, "step")
    assert {e["data"]["host"] for e in steps} == {"n07"}  # type: ignore[index]
    assert len(steps) == 4
    assert len([e for e in opened if "source" in e["data"]]) == 3  # type: ignore[operator]
    few = elements(plan, record, PlanView(collapse_above=100, search="n07/"))
    assert len(_classes(few, "step")) == 4 * 45
    assert len(_classes(few, "match")) == 4
    assert len(_classes(few, "dim")) == 4 * 44


def test_plan_groups_by_play(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    make_run(state, Spec("p2"), logs=False)
    plan = RunStore(state).plan("p2")
    assert plan is not None
    by_host = elements(plan, None, PlanView(group_by="host"))
    by_play = elements(plan, None, PlanView(group_by="play"))
    assert [e["data"]["id"] for e in _classes(by_host, "group")] == [  # type: ignore[index]
        "group:h1",
        "group:h2",
        "group:h3",
        "group:h4",
    ]
    assert [e["data"]["id"] for e in _classes(by_play, "group")] == ["group:01-site"]  # type: ignore[index]
    assert {e["data"]["status"] for e in _classes(by_play, "step")} == {"would-run"}  # type: ignore[index]


def test_host_history_streaks_and_last_success(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    for number, fail in enumerate((None, "b", None, "b", "b")):
        make_run(
            state,
            Spec(
                f"r{number}", hosts=("a", "b"), fail_host=fail, start=1_790_000_000.0 + 100 * number
            ),
            logs=False,
        )
    project = project_keys([state])[0]
    rows = {r["host"]: r for r in host_rows(project, RunStore(state).summaries())}
    assert rows["b"]["failure_streak"] == 2
    assert rows["b"]["last_state"] == "failed"
    assert rows["b"]["last_success"] == RunStore(state).load("r2").started_at.replace("T", " ")[:19]
    assert rows["a"]["failure_streak"] == 0
    assert rows["a"]["runs"] == 5


def test_grid_of_a_live_run_shows_elapsed_time(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    clock = FakeClock(1_790_000_000.0)
    writer = writer_for(state, Spec("live", hosts=("a",)), clock, min_interval=0.0)
    writer.start()
    writer.step_started("a/01-site/webapp/local_pre/10-check-vars.sh")
    record = RunStore(state).load("live")
    columns = grid_columns(record)
    row = grid_rows(record, columns, now=clock.now + 3.25)[0]
    assert (row["c0"], row["c0_s"]) == ("running 3.2s", "running")
    assert (row["c1"], row["c1_s"]) == ("pending", "pending")
    assert row["state"] == "running"
    bars = timeline_bars(record, now=clock.now + 3.25)
    assert [(b.status, round(b.end - b.start, 2)) for b in bars] == [("running", 3.25)]
    writer.close()


def test_run_filters_and_timeline_pages(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    many_runs(state, 8)
    project = project_keys([state])[0]
    rows = [run_row(project, r) for r in RunStore(state).summaries()]
    failed = filter_rows(rows, ["failed"], None, None)
    assert [r["exit_code"] for r in failed] == [2]  # run 3 of 8 had a failing host
    assert filter_rows(rows, ["ok"], None, "h9") == []
    assert len(filter_rows(rows, None, None, "h1")) == 8
    make_run(
        tmp_path / "big" / ".rorunner",
        Spec("b", hosts=tuple(f"x{i}" for i in range(120)), steps_per_host=1),
        logs=False,
    )
    big = RunStore(tmp_path / "big" / ".rorunner").load("b")
    assert [label for _, label in timeline_pages(big)] == [
        "hosts 1-25 of 120",
        "hosts 26-50 of 120",
        "hosts 51-75 of 120",
        "hosts 76-100 of 120",
        "hosts 101-120 of 120",
    ]


def test_plan_draws_barriers_in_a_row_of_their_own(tmp_path: Path) -> None:
    """A real plan's --graph json (two plays: a barrier between them), as the dashboard reads
    recorded plans: barriers have no host, and are drawn apart from every host's steps."""
    import json

    from rorunner.plan import build_plan
    from rorunner.playbook import load_playbook
    from tests.projects import GOLDEN_PROJECT, golden_inventory

    book = load_playbook(str(GOLDEN_PROJECT / "playbooks" / "site.yml"))
    plan = json.loads(build_plan(golden_inventory(), book).render("json"))
    for view in (PlanView(), PlanView(collapse_above=1), PlanView(search="barrier")):
        drawn = elements(plan, None, view)
        barriers = [e for e in _classes(drawn, "step") if e["data"]["host"] == "(barriers)"]  # type: ignore[index]
        assert [e["data"]["id"] for e in barriers] == [  # type: ignore[index]
            "02-rolling-restart/barrier/start",
            "02-rolling-restart/barrier/batch-2",
        ]
    assert len(_classes(elements(plan, None, PlanView(collapse_above=1)), "hostnode")) == 3


def test_the_readme_shows_every_page_with_a_screenshot_the_tests_take() -> None:
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    shown = re.findall(r"\]\((docs/img/[\w-]+\.png)\)", readme)
    taken = re.findall(
        r'screenshot\("([\w-]+)", doc=True\)',
        (repo / "tests" / "test_dashboard_lab.py").read_text(),
    )
    assert sorted(shown) == sorted(f"docs/img/{name}.png" for name in taken)
    for image in shown:
        assert (repo / image).read_bytes().startswith(b"\x89PNG")


def test_many_failures_and_fetches_are_compact_blocks(tmp_path: Path) -> None:
    """Past FAILURES_IN_FULL failures the rest are one line each in one block, and fetched
    files are one block of text: a component per item costs the browser seconds at scale."""
    from rorunner.dashboard._pages import FAILURES_IN_FULL, failures_block, fetched_block

    state = tmp_path / ".rorunner"
    hosts = tuple(f"f{i:02d}" for i in range(FAILURES_IN_FULL + 5))
    spec = Spec("many", hosts=hosts, steps_per_host=1)
    writer = writer_for(state, spec, FakeClock(spec.start))
    writer.start()
    for step in writer.snapshot()["steps"]:
        writer.step_finished(step["task"], "failed", rc=3, reason="exit status 3")
    writer.finish(exit_code=2)
    project = project_keys([state])[0]
    title, listed, note, rest = failures_block(project, RunStore(state).load("many"))
    assert title.children == f"Failures ({len(hosts)})"
    assert len(listed.children) == FAILURES_IN_FULL
    assert "5 more" in note.children
    assert rest.children.splitlines() == [
        f"failed [{host}] 01-site > webapp > local_pre > 10-check-vars.sh rc=3"
        for host in hosts[FAILURES_IN_FULL:]
    ]
    make_run(state, Spec("fetching", hosts=("a", "b"), steps_per_host=9), logs=False)
    heading, files = fetched_block(RunStore(state).load("fetching"))
    assert heading.children == "Fetched files (2 from 2 hosts)"
    assert files.children == "a: fetched/a/status.txt\nb: fetched/b/status.txt"
