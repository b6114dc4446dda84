"""`rorunner inventory` and `rorunner run` without the lab (local connection hosts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.inventory_helpers import interrupt_when_marked, run_cli

pytestmark = pytest.mark.usefixtures("in_tmp")  # `run` records its runs in ./.rorunner


def _local_inventory(tmp_path: Path, names: list[str]) -> Path:
    lines = ["[lanes]"] + [f"{n} ansible_connection=local lane={n}" for n in names]
    path = tmp_path / "local.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_list_graph_host(tmp_path: Path) -> None:
    path = tmp_path / "h.ini"
    path.write_text("[web]\nw1 a=1\n[db]\nd1\n[prod:children]\nweb\n")
    listed = json.loads(run_cli("inventory", "-i", str(path), "--list").out)
    assert listed["prod"] == {"children": ["web"]}
    assert listed["_meta"]["hostvars"] == {"w1": {"a": 1}}
    graph = run_cli("inventory", "-i", str(path), "--graph").out
    assert graph.splitlines()[:4] == ["@all:", "  |--@ungrouped:", "  |--@db:", "  |  |--d1"]
    assert json.loads(run_cli("inventory", "-i", str(path), "--host", "w1").out) == {"a": 1}


def test_inventory_needs_one_mode(tmp_path: Path) -> None:
    path = tmp_path / "h.ini"
    path.write_text("h1\n")
    assert run_cli("inventory", "-i", str(path)).code == 5
    assert run_cli("inventory", "-i", str(path), "--list", "--host", "h1").code == 5


def test_unknown_host_and_group_suggest(tmp_path: Path) -> None:
    path = tmp_path / "h.ini"
    path.write_text("[web]\nweb1\n")
    host = run_cli("inventory", "-i", str(path), "--host", "wbe1")
    assert host.code == 3 and "did you mean 'web1'?" in host.err
    group = run_cli("inventory", "-i", str(path), "--graph", "wbe")
    assert group.code == 3 and "did you mean 'web'?" in group.err


def test_run_local_hosts_ok(tmp_path: Path) -> None:
    path = _local_inventory(tmp_path, ["l1", "l2", "l3"])
    result = run_cli(
        "run", "lanes", "-i", str(path), "-a", 'echo "hello $RORUNNER_HOST"', "-f", "3"
    )
    assert result.code == 0, result
    for name in ("l1", "l2", "l3"):
        assert f"{name} | OK | rc=0 >>\nhello {name}\n" in result.out
    assert result.out.rstrip().splitlines()[-1] == "3 hosts: ok=3 failed=0 unreachable=0"


def test_run_failure_exit_2_and_stderr(tmp_path: Path) -> None:
    path = _local_inventory(tmp_path, ["l1", "l2"])
    cmd = 'if [ "$RORUNNER_HOST" = l2 ]; then echo boom >&2; exit 7; fi; echo fine'
    result = run_cli("run", "all", "-i", str(path), "-a", cmd)
    assert result.code == 2, result
    assert "l2 | FAILED | rc=7 >>\nstderr:\nboom" in result.out
    assert "l1 | OK | rc=0 >>\nfine" in result.out
    assert "ok=1 failed=1 unreachable=0" in result.out


def test_run_output_is_never_interleaved(tmp_path: Path) -> None:
    names = [f"n{i}" for i in range(8)]
    path = _local_inventory(tmp_path, names)
    cmd = 'for i in 1 2 3 4 5; do echo "$RORUNNER_HOST line $i"; sleep 0.01; done'
    result = run_cli("run", "all", "-i", str(path), "-a", cmd, "-f", "8")
    assert result.code == 0
    blocks = re.findall(r"^(n\d) \| OK \| rc=0 >>\n((?:n\d line \d\n)+)", result.out, re.M)
    assert sorted(name for name, _ in blocks) == names
    for name, body in blocks:
        assert body == "".join(f"{name} line {i}\n" for i in range(1, 6))


def test_run_limit_and_unmatched_warning(tmp_path: Path) -> None:
    path = _local_inventory(tmp_path, ["l1", "l2", "l3"])
    marker = tmp_path / "touched"
    marker.mkdir()
    result = run_cli(
        "run", "all", "-i", str(path), "-l", "l1,l3,typo", "-a", f'touch {marker}/"$RORUNNER_HOST"'
    )
    assert result.code == 0, result
    assert sorted(p.name for p in marker.iterdir()) == ["l1", "l3"]
    assert "host pattern term 'typo' matches no group or host" in result.err


def test_run_no_match_is_warning(tmp_path: Path) -> None:
    path = _local_inventory(tmp_path, ["l1"])
    result = run_cli("run", "nothing", "-i", str(path), "-a", "true")
    assert result.code == 0
    assert "no hosts matched" in result.err
    assert not (tmp_path / ".rorunner").exists()  # nothing ran: no run record


def test_run_requires_command(tmp_path: Path) -> None:
    path = _local_inventory(tmp_path, ["l1"])
    assert run_cli("run", "all", "-i", str(path)).code == 5


def test_run_missing_ssh_config_is_input_error(tmp_path: Path) -> None:
    path = _local_inventory(tmp_path, ["l1"])
    marker = tmp_path / "ran"
    missing = tmp_path / "nope.cfg"
    result = run_cli(
        "run", "all", "-i", str(path), "-a", f"touch {marker}", "--ssh-config", str(missing)
    )
    assert result.code == 3
    assert f"{missing}: ssh_config file not found" in result.err
    assert not (tmp_path / ".rorunner").exists()  # bad input: no run record
    assert not marker.exists()


def test_an_interrupted_run_is_recorded_as_interrupted(tmp_path: Path) -> None:
    """Ctrl-C while the first of three hosts runs (one fork): the record says interrupted,
    exit 99, and the hosts never started are not_run."""
    path = _local_inventory(tmp_path, ["l1", "l2", "l3"])
    marks = tmp_path / "marks"
    marks.mkdir()

    interrupt_when_marked(marks)
    command = f'touch {marks}/"$RORUNNER_HOST"; sleep 1'
    result = run_cli("run", "all", "-i", str(path), "-a", command, "-f", "1")
    assert result.code == 99, result
    (record,) = (tmp_path / ".rorunner" / "runs").glob("*.json")
    doc = json.loads(record.read_text())
    assert (doc["command"], doc["status"], doc["exit_code"]) == ("run", "interrupted", 99)
    assert doc["hosts"]["l2"]["state"] == doc["hosts"]["l3"]["state"] == "not_run"
    assert doc["hosts"]["l1"]["not_run"] == 0  # it started: its outcome is kept
