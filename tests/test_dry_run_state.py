"""The dry-run state `play --dry-run` leaves in .rorunner/dry-run.json (schema dry-run-1.json),
read back through RunStore, and which graph the dashboard's plan page picks from it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from rorunner.cli import _register, cli
from rorunner.dashboard._plan import DRY_RUN, plan_source
from rorunner.records import (
    DryRunRecord,
    RecordError,
    RunStore,
    dry_run_path,
    dry_run_schema_path,
    utc_iso,
)
from tests.projects import GOLDEN_PROJECT
from tests.record_factory import Spec, make_run

INVENTORY = """\
[web]
web1 ansible_host=2001:db8::1
web2 ansible_host=2001:db8::2
[db]
db1 ansible_host=2001:db8::3 greeting=hi
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The golden project (never run: every step would run, as new)."""
    shutil.copytree(GOLDEN_PROJECT, tmp_path / "golden")
    (tmp_path / "golden" / "hosts.ini").write_text(INVENTORY)
    return tmp_path / "golden"


def _dry_run(project: Path, *extra: str) -> tuple[int, str, str]:
    _register()
    book = str(project / "playbooks" / "site.yml")
    args = ["play", book, "-i", str(project / "hosts.ini"), "--dry-run", *extra]
    obj = {"argv": ["rorunner", *args]}  # as main() gives it
    result = CliRunner().invoke(cli, args, obj=obj, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_dry_run_leaves_its_verdicts_and_plan_for_readers(project: Path) -> None:
    code, out, _ = _dry_run(project, "-e", "api_token=t0ps3cr3t")
    assert code == 0
    state_dir = project / "playbooks" / ".rorunner"
    doc = json.loads(dry_run_path(state_dir).read_text())
    jsonschema.Draft202012Validator(json.loads(dry_run_schema_path().read_text())).validate(doc)
    assert "t0ps3cr3t" not in dry_run_path(state_dir).read_text()
    assert doc["argv"][-2:] == ["-e", "api_token=********"]
    assert doc["playbook"] == str(project / "playbooks" / "site.yml")
    listed = out.count("  would run  ")
    assert doc["totals"] == {"would_run": listed, "up_to_date": 0}
    state = RunStore(state_dir).dry_run()
    assert state is not None
    assert len(state.steps) == listed and {s.reason for s in state.steps} == {"new"}
    nodes = {n["id"]: n for n in state.plan["nodes"]}
    assert all(nodes[s.task]["status"] == "would run (new)" for s in state.steps)
    assert not (state_dir / "runs").exists()  # a dry run is no run: no record, no history


def test_a_project_that_cannot_take_the_state_still_gets_its_listing(project: Path) -> None:
    if os.geteuid() == 0:  # root writes through any mode: make the path a file instead
        (project / "playbooks" / ".rorunner").write_text("not a directory\n")
    else:
        (project / "playbooks").chmod(0o555)
    try:
        code, out, err = _dry_run(project)
    finally:
        (project / "playbooks").chmod(0o755)
    assert code == 0
    assert "  would run  " in out
    assert "rorunner: the dry run's verdicts were not saved:" in err


def test_a_dry_run_above_the_cap_leaves_no_state_not_even_an_older_one(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _dry_run(project)[0] == 0
    state_dir = project / "playbooks" / ".rorunner"
    assert dry_run_path(state_dir).exists()
    planned = json.loads(dry_run_path(state_dir).read_text())["totals"]["would_run"]
    monkeypatch.setattr("rorunner.cli._play.DRY_RUN_MAX_STEPS", planned - 1)
    code, out, err = _dry_run(project)
    assert code == 0
    assert out.count("  would run  ") == planned  # the listing is whole
    assert not dry_run_path(state_dir).exists()  # the older state would be stale
    assert f"{planned:,} steps, more than {planned - 1:,}" in err
    monkeypatch.setattr("rorunner.cli._play.DRY_RUN_MAX_STEPS", planned)
    assert _dry_run(project)[0] == 0
    assert dry_run_path(state_dir).exists()  # at the cap: saved


def test_a_dry_run_state_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = dry_run_path(tmp_path)
    path.write_text(json.dumps({"schema_version": 2, "steps": [], "plan": {}}))
    with pytest.raises(RecordError, match="schema 2"):
        RunStore(tmp_path).dry_run()
    path.write_text(json.dumps({"schema_version": 1, "plan": {}}))
    with pytest.raises(RecordError, match="not a dry-run state"):
        DryRunRecord.from_json(json.loads(path.read_text()))


def _save_dry_run(state_dir: Path, at: float) -> None:
    plan = {"plays": [], "nodes": [], "edges": [], "notices": []}
    doc = {"schema_version": 1, "created_at": utc_iso(at), "steps": [], "plan": plan}
    dry_run_path(state_dir).write_text(json.dumps(doc))


def test_the_plan_page_shows_the_newer_of_the_dry_run_and_the_last_run(tmp_path: Path) -> None:
    state = tmp_path / ".rorunner"
    make_run(state, Spec("r1", start=1_790_000_000.0), logs=False)
    store = RunStore(state)
    assert plan_source(store, None).name == "r1"  # type: ignore[union-attr]
    assert plan_source(store, DRY_RUN) is None
    _save_dry_run(state, 1_790_000_100.0)
    newer = plan_source(store, None)
    assert newer is not None and newer.is_dry_run and newer.newest_run is not None
    assert plan_source(store, "r1").name == "r1"  # type: ignore[union-attr]
    make_run(state, Spec("r2", start=1_790_000_200.0), logs=False)
    make_run(state, Spec("adhoc", start=1_790_000_300.0, command="run"), logs=False)
    after = plan_source(store, None)
    assert after is not None and after.name == "r2"  # the newest run with a plan
    dry = plan_source(store, DRY_RUN)
    assert dry is not None and dry.newest_run is not None and dry.newest_run.run_id == "adhoc"
    assert plan_source(store, "adhoc") is None  # an ad hoc command has no plan


def test_the_dry_run_page_says_when_a_run_started_since(tmp_path: Path) -> None:
    from rorunner.dashboard._pages import plan_page
    from rorunner.dashboard._views import project_keys

    state = tmp_path / ".rorunner"
    make_run(state, Spec("before", start=1_790_000_000.0), logs=False)
    _save_dry_run(state, 1_790_000_100.0)
    project = project_keys([state])[0]

    def stale_note() -> list[str]:
        source = plan_source(project.store, DRY_RUN)
        assert source is not None
        page = plan_page(project, source)
        return [c.children for c in page._traverse() if getattr(c, "id", None) == "dry-run-stale"]

    assert stale_note() == []
    make_run(state, Spec("after", start=1_790_000_200.0), logs=False)
    assert stale_note() == [
        "run after started after this dry run: run --dry-run again for what would run now"
    ]
