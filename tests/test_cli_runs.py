"""`rorunner runs`, `runs show`, `report` and `dashboard`'s option checks, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rorunner.cli._dashboard import is_loopback
from rorunner.records import MASK, RunStore
from tests.inventory_helpers import run_cli
from tests.record_factory import Spec, make_run, many_runs

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("dash", "plotly", "flask", "werkzeug", "dash_ag_grid", "dash_cytoscape")
PROBE = """\
import sys, runpy
for name in sys.argv[1].split(","):
    if name:
        sys.modules[name] = None  # as if the package were not installed
sys.argv = ['rorunner'] + sys.argv[2:]
try:
    runpy.run_module('rorunner', run_name='__main__')
except SystemExit as e:
    code = e.code
print('EXIT', code)
print('LOADED', ' '.join(sorted(m.split('.')[0] for m in sys.modules)))
"""


def _probe(*args: str, block: tuple[str, ...] = ()) -> tuple[int, set[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(block), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines()[-2:])
    assert set(lines) == {"EXIT", "LOADED"}, done.stdout + done.stderr
    return int(lines["EXIT"]), set(lines["LOADED"].split()), done.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    state = tmp_path / "proj" / ".rorunner"
    many_runs(state, 3)
    make_run(
        state,
        Spec(
            "20270301T000000-9-1",
            fail_host="h3",
            fail_at=2,
            start=1_800_000_000.0,
            argv=("rorunner", "play", "site.yml", "-e", "db_password=hunter2"),
        ),
    )
    return tmp_path / "proj"


def test_runs_lists_newest_first(project: Path) -> None:
    result = run_cli("runs", "-p", str(project))
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["RUN", "STARTED", "(UTC)"]
    ids = [line.split()[0] for line in lines[1:]]
    assert ids == [r.run_id for r in RunStore(project / ".rorunner").summaries()]
    newest = lines[1].split()
    assert newest[:6] == ["20270301T000000-9-1", "2027-01-15", "08:00:00", "finished", "2", "2.0s"]
    assert newest[6] == "0/3/1/0"  # hosts ok/changed/failed/unreachable
    assert newest[7] == str(project / "site.yml")


def test_runs_json_and_last(project: Path) -> None:
    result = run_cli("runs", "-p", str(project), "--json", "-n", "2")
    assert result.code == 0, result
    runs = json.loads(result.out)
    assert [r["run_id"] for r in runs] == [
        r.run_id for r in RunStore(project / ".rorunner").summaries()[:2]
    ]
    assert "steps" not in runs[0]
    assert runs[0]["hosts"]["h3"]["state"] == "failed"
    assert runs[0]["record"].endswith("/runs/20270301T000000-9-1.json")
    assert runs[0]["argv"][-1] == f"db_password={MASK}"


def test_runs_finds_projects_one_level_down_and_says_when_there_are_none(
    project: Path, tmp_path: Path
) -> None:
    result = run_cli("runs", "-p", str(tmp_path))
    assert result.code == 0, result
    assert "20270301T000000-9-1" in result.out
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("runs", "-p", str(empty))
    assert (result.code, result.out) == (0, "no runs recorded\n")
    result = run_cli("runs", "-p", str(tmp_path / "missing"))
    assert result.code == 5
    assert "does not exist" in result.err


def test_runs_show_prints_recap_and_failures_with_stderr(project: Path) -> None:
    result = run_cli("runs", "-p", str(project), "show", "20270301T000000")
    assert result.code == 0, result
    out = result.out
    assert out.startswith("run 20270301T000000-9-1: finished, exit 2\n")
    assert f"command:  rorunner play site.yml -e db_password={MASK}" in out
    assert "hunter2" not in out
    assert "PLAY RECAP" in out
    assert "h3 : ok=1  changed=1  skipped=0  failed=1  unreachable=0  not_run=1" in out
    failures = out.split("FAILURES\n", 1)[1].splitlines()
    assert failures[0] == "failed      [h3] 01-site > webapp > remote > 10-install.sh (rc=1)"
    assert failures[1] == "    exit status 1"
    assert failures[2].startswith("    stderr (last lines; full log: ")
    assert failures[3] == "      ERROR: port 9999 not configured on h3"


def test_runs_show_latest_json_is_the_record(project: Path) -> None:
    result = run_cli("runs", "-p", str(project), "show", "latest", "--json")
    assert result.code == 0, result
    stored = json.loads((project / ".rorunner/runs/20270301T000000-9-1.json").read_text())
    shown = json.loads(result.out)
    assert shown["steps"] == stored["steps"]
    assert shown["run_id"] == stored["run_id"]


@pytest.mark.parametrize(("ref", "message"), [("nope", "names no run"), ("2027", "several")])
def test_runs_show_unknown_or_ambiguous_ids_are_usage_errors(
    project: Path, ref: str, message: str
) -> None:
    result = run_cli("runs", "-p", str(project), "show", ref)
    assert result.code == 5, result
    assert message in result.err


def test_report_writes_one_self_contained_file(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    # in a child process: plotly and Dash would stay imported in this one
    code, _, err = _probe("report", "latest", "-o", str(out), "-p", str(project))
    assert code == 0, err
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script src=" not in html
    assert 'data-status="failed" data-count="1"' in html
    assert "ERROR: port 9999 not configured on h3" in html
    assert "hunter2" not in html
    assert len(html) > 1_000_000  # plotly.js is inlined, not fetched


def test_dashboard_refuses_a_non_loopback_bind_without_allow_remote() -> None:
    for host in ("0.0.0.0", "::", "192.0.2.1", "example.invalid"):
        code, loaded, err = _probe("dashboard", ".", "--host", host)
        assert code == 5, err
        assert "not a loopback address" in err and "--allow-remote" in err
        assert not loaded & set(HEAVY)


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "10.1.2.3", "fd00::1", "host1")))


def test_play_and_runs_never_import_the_dashboard_layer(project: Path) -> None:
    code, loaded, err = _probe(
        "play", "playbooks/site.yml", "-i", "inventories/example.ini", "--dry-run"
    )
    assert code == 0, err
    assert not loaded & set(HEAVY)
    code, loaded, err = _probe("runs", "-p", str(project))
    assert code == 0, err
    assert not loaded & set(HEAVY)


def test_dashboard_and_report_without_the_extra_say_how_to_install_it(project: Path) -> None:
    code, _, err = _probe("report", "latest", "-o", "/dev/null", "-p", str(project), block=HEAVY)
    assert code == 1
    assert "pip install 'rorunner[dashboard]'" in err
