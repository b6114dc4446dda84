"""`rorunner play` pieces that need no lab: -e parsing, exit codes, reporter, graph, dry run."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from rorunner.cli import _register, cli
from rorunner.cli._play import exit_code_for_result
from rorunner.engine import RunResult, summarise
from rorunner.errors import InputError, UsageError
from rorunner.outcome import StepOutcome
from rorunner.playbook import load_extra_vars
from rorunner.report import Reporter, outcome_lines, recap_lines, step_line
from tests.projects import GOLDEN_PROJECT

REPO = Path(__file__).resolve().parents[1]
INVENTORY = """\
[web]
web1 ansible_host=2001:db8::1
web2 ansible_host=2001:db8::2
[db]
db1 ansible_host=2001:db8::3 greeting=hi
"""


def _outcome(host: str, status: str, step: str = "s") -> StepOutcome:
    return StepOutcome(
        host=host,
        task=f"{host}:{step}",
        play="01-p",
        role="r",
        phase="remote",
        step=step,
        status=status,  # type: ignore[arg-type]
    )


def _result(*outcomes: StepOutcome, interrupted: bool = False) -> RunResult:
    hosts = tuple(dict.fromkeys(o.host for o in outcomes))
    return RunResult("id", outcomes, summarise(hosts, outcomes), interrupted)


def test_extra_vars_from_pairs_mappings_and_files(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yml"
    extra.write_text("colour: red\nsizes: [1, 2]\n")
    got = load_extra_vars(["a=1 b='two words'", f"@{extra}", '{"a": 3}'])
    assert got == {"a": 3, "b": "two words", "colour": "red", "sizes": [1, 2]}


def test_extra_vars_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        load_extra_vars(["novalue"])
    with pytest.raises(UsageError, match="No closing quotation"):
        load_extra_vars(["a='x"])
    listed = tmp_path / "list.yml"
    listed.write_text("- 1\n")
    with pytest.raises(InputError, match=f"{listed}:1"):
        load_extra_vars([f"@{listed}"])


def test_extra_var_names_are_checked_alike_in_every_form(tmp_path: Path) -> None:
    """A name that is not an identifier is bad input (exit 3) whatever the form, at its place."""
    bad = tmp_path / "bad.yml"
    bad.write_text("ok: 1\nfoo-bar: 2\n")
    cases = {
        "a=1 foo-bar=1": "<-e #2>: 'foo-bar' is not a valid variable name (in 'foo-bar=1')",
        '{"ok": 1, "1x": 1}': "<-e #2>:1: extra vars: '1x' is not a valid variable name",
        "{ok: 1,\n 2: x}": "<-e #2>:2: extra vars: 2 is not a valid variable name",
        f"@{bad}": f"{bad}:2: extra vars: 'foo-bar' is not a valid variable name",
        "=1": "<-e #2>: '' is not a valid variable name (in '=1')",
    }
    for value, message in cases.items():
        with pytest.raises(InputError) as caught:
            load_extra_vars(["fine=1", value])
        assert str(caught.value) == message
        assert caught.value.exit_code == 3


@pytest.mark.parametrize(
    ("statuses", "interrupted", "code"),
    [
        (("ok", "skipped"), False, 0),
        (("failed", "ok"), False, 2),
        (("failed", "unreachable"), False, 4),
        (("ok",), True, 99),
    ],
)
def test_exit_code_for_result(statuses: tuple[str, ...], interrupted: bool, code: int) -> None:
    outcomes = [_outcome(f"h{i}", s) for i, s in enumerate(statuses)]
    assert exit_code_for_result(_result(*outcomes, interrupted=interrupted)) == code


def test_step_lines_and_recap() -> None:
    line = step_line(_outcome("h1", "skipped"))
    assert line == "skipped     [h1] 01-p > r > remote > s (up to date)"
    failed = StepOutcome(
        host="h2",
        task="t",
        play="01-p",
        role="r",
        phase="remote",
        step="s",
        status="failed",
        rc=3,
        duration=0.5,
        reason="command `false` exited with status 3\nstderr:\n| no",
        stderr="/x.stderr",
    )
    assert outcome_lines(failed) == [
        "failed      [h2] 01-p > r > remote > s (rc=3; 0.50s)",
        "    command `false` exited with status 3",
        "    stderr:",
        "    | no",
    ]
    recap = recap_lines(_result(_outcome("h1", "ok"), _outcome("host-2", "failed")))
    assert recap[1].startswith("PLAY RECAP")
    assert recap[2].startswith("h1     : ok=1  changed=0  skipped=0  failed=0")
    assert recap[3].startswith("host-2 : ok=0  changed=0  skipped=0  failed=1")


def test_reporter_lines_never_interleave() -> None:
    out = io.StringIO()
    reporter = Reporter(out)
    outcomes = [_outcome(f"h{i}", "changed", "x" * 200) for i in range(20)]

    def burst(outcome: StepOutcome) -> None:
        for _ in range(50):
            reporter.step_finished(outcome)

    threads = [threading.Thread(target=burst, args=(o,)) for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    banner, *lines = out.getvalue().splitlines()
    assert banner.startswith("PLAY [01-p] ***")  # once, before the play's first line
    assert len(lines) == 1000
    assert set(lines) == {step_line(o) for o in outcomes}


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    project = tmp_path / "golden"
    shutil.copytree(GOLDEN_PROJECT, project)
    (project / "hosts.ini").write_text(INVENTORY)
    return project


def _invoke(golden: Path, *args: str) -> str:
    _register()
    book = str(golden / "playbooks" / "site.yml")
    inv = str(golden / "hosts.ini")
    result = CliRunner().invoke(cli, ["play", book, "-i", inv, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("fmt", ["text", "dot", "mermaid", "json"])
def test_graph_prints_the_plan_with_statuses(golden: Path, fmt: str) -> None:
    out = _invoke(golden, "--graph", fmt)
    if fmt == "json":
        nodes = json.loads(out)["nodes"]
        steps = [n for n in nodes if n["kind"] != "barrier"]
        assert {n["status"] for n in steps} == {"would run (new)"}
        assert {n["host"] for n in steps} == {"web1", "web2", "db1"}
        barriers = [(n["id"], n["host"], n["status"]) for n in nodes if n["kind"] == "barrier"]
        assert barriers == [
            ("02-rolling-restart/barrier/start", None, None),
            ("02-rolling-restart/barrier/batch-2", None, None),
        ]
    else:
        assert "web1" in out and "db1" in out
    assert not (golden / "playbooks" / ".rorunner").exists()


def test_graph_json_node_ids_are_task_names_and_notices_name_skipped_plays(
    golden: Path,
) -> None:
    """docs/playbooks.md, Renderings: a node's `id` is its task name (the slash form), and
    `notices` holds what the CLI warns about (here a play left without hosts)."""
    doc = json.loads(_invoke(golden, "--graph", "json", "-l", "db"))
    assert sorted(doc) == ["edges", "nodes", "notices", "plays"]
    assert doc["notices"] == [
        "play 02-rolling-restart (Rolling restart): skipped, no hosts matched after --limit"
    ]
    first = doc["nodes"][0]
    assert first["id"] == "db1/01-site/base/ship/files"
    parts = ("host", "play", "role", "phase", "step")
    steps = [n for n in doc["nodes"] if n["kind"] != "barrier"]
    assert all(n["id"] == "/".join(n[part] for part in parts) for n in steps), steps


def test_dry_run_lists_steps_per_host_in_order(golden: Path) -> None:
    out = _invoke(golden, "--dry-run", "-l", "db")
    lines = out.splitlines()
    assert "no hosts matched" not in out  # notices go to stderr
    assert lines[0] == "[db1]"
    assert lines[1] == "  would run  01-site > base > ship > files (new)"
    assert "[web1]" not in out


def test_dry_run_shows_where_the_run_waits_for_a_barrier(golden: Path) -> None:
    lines = _invoke(golden, "--dry-run").splitlines()
    start = "-- barrier 02-rolling-restart > start: 02-rolling-restart starts when all work"
    batch = "-- barrier 02-rolling-restart > batch-2: 02-rolling-restart batch 2 starts when"
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    second = next(i for i, line in enumerate(lines) if line.startswith(batch))
    assert lines[first].endswith("(3 hosts)") and lines[second].endswith("batch 1 ended (1 host)")
    assert lines[first + 1 : first + 4] == [
        "",
        "[web1]",
        "  would run  02-rolling-restart > restart > remote > 01-echo-restart (new)",
    ]
    assert all("01-site" in line for line in lines[:first] if "would run" in line)
    assert lines[second + 1 : second + 3] == ["", "[web2]"]


def test_inventory_option_is_repeatable_and_required(golden: Path, tmp_path: Path) -> None:
    more = tmp_path / "more.ini"
    more.write_text("[db]\ndb2 ansible_host=2001:db8::4\n")
    _register()
    book = str(golden / "playbooks" / "site.yml")
    args = ["play", book, "-i", str(golden / "hosts.ini"), "-i", str(more), "--dry-run"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "[db2]" in result.stdout
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    missing = subprocess.run(
        [sys.executable, "-m", "rorunner", "play", book],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 5


def test_ad_hoc_blocks_and_summary_come_from_the_same_reporter() -> None:
    ok = StepOutcome(host="h1", status="ok", rc=0, stdout_text="up\n", stderr_text="warn\n")
    down = StepOutcome(host="h2", status="unreachable", reason="connect: refused")
    broken = StepOutcome(host="h3", status="failed", reason="bad ssh_config")
    out = io.StringIO()
    reporter = Reporter(out)
    for outcome in (ok, down, broken):
        reporter.step_finished(outcome)
    reporter.command_summary((ok, down, broken))
    assert out.getvalue() == (
        "h1 | OK | rc=0 >>\nup\nstderr:\nwarn\n"
        "h2 | UNREACHABLE | connect: refused\n"
        "h3 | FAILED | bad ssh_config\n"
        "3 hosts: ok=1 failed=1 unreachable=1\n"
    )
