"""`rorunner run` against the sshd lab: names, limits that touch only matched hosts, unreachable."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from rorunner.inventory import load_inventory
from rorunner.records import RunStore, schema_path
from tests.inventory_helpers import CliResult, run_cli
from tests.lab import Lab, LabHost

pytestmark = pytest.mark.usefixtures("in_tmp")  # `run` records its runs in ./.rorunner


def _run(lab: Lab, pattern: str, command: str, *extra: str) -> CliResult:
    return run_cli(
        "run",
        pattern,
        "-i",
        str(lab.inventory_ini),
        "-a",
        command,
        *extra,
        "--known-hosts",
        str(lab.known_hosts),
        "--private-key",
        str(lab.client_key),
        "--timeout",
        "5",
    )


@pytest.fixture
def token(lab: Lab) -> Iterator[str]:
    """A fresh marker name; every host's marker files are removed afterwards."""
    name = f"rr-mark-{uuid.uuid4().hex[:8]}"
    yield name
    for host in lab.hosts:
        host.sh(f'rm -f "$HOME/{name}"-*')


def _touched(host: LabHost, token: str) -> bool:
    return host.sh(f'test -e "$HOME/{token}-{host.name}"').returncode == 0


def _touch(token: str) -> str:
    return f'touch "$HOME/{token}-$RORUNNER_HOST"'


def test_hostname_on_every_host(lab: Lab) -> None:
    result = _run(lab, "all", "hostname")
    assert result.code == 0, result
    for host in lab.hosts:
        assert f"{host.name} | OK | rc=0 >>\n{host.hostname}\n" in result.out
    assert f"{len(lab.hosts)} hosts: ok={len(lab.hosts)} failed=0 unreachable=0" in result.out


def test_yaml_inventory_works_the_same(lab: Lab) -> None:
    result = run_cli(
        "run",
        "all",
        "-i",
        str(lab.inventory_yaml),
        "-a",
        "hostname",
        "--known-hosts",
        str(lab.known_hosts),
        "--private-key",
        str(lab.client_key),
    )
    assert result.code == 0, result
    for host in lab.hosts:
        assert f"{host.name} | OK | rc=0 >>\n{host.hostname}\n" in result.out


def _web(lab: Lab) -> set[str]:
    return set(load_inventory(str(lab.inventory_ini)).groups["web"].hosts)


@pytest.mark.parametrize("kind", ["group", "not-group", "ipv6"])
def test_limit_touches_only_matched_hosts(lab: Lab, token: str, kind: str) -> None:
    web = _web(lab)
    assert web and web != {h.name for h in lab.hosts}
    target = lab.hosts[-1]
    limit, expected = {
        "group": ("web", web),
        "not-group": ("!web", {h.name for h in lab.hosts} - web),
        "ipv6": (target.address, {h.name for h in lab.hosts if h.address == target.address}),
    }[kind]
    result = _run(lab, "all", _touch(token), "--limit", limit)
    assert result.code == 0, result
    for host in lab.hosts:
        assert _touched(host, token) == (host.name in expected), (host.name, result.out)


def test_ipv6_literal_as_the_pattern(lab: Lab, token: str) -> None:
    target = lab.hosts[0]
    result = _run(lab, target.address, _touch(token))
    assert result.code == 0, result
    expected = {h.name for h in lab.hosts if h.address == target.address}
    assert {h.name for h in lab.hosts if _touched(h, token)} == expected


def test_stopped_sshd_is_unreachable_exit_4(lab: Lab) -> None:
    down = lab.hosts[1]
    down.stop_sshd()
    try:
        result = _run(lab, "all", "hostname")
    finally:
        down.start_sshd()
    assert result.code == 4, result
    assert f"{down.name} | UNREACHABLE | " in result.out
    for host in lab.hosts:
        if host is not down:
            assert f"{host.name} | OK | rc=0 >>\n{host.hostname}\n" in result.out
    n = len(lab.hosts)
    assert f"{n} hosts: ok={n - 1} failed=0 unreachable=1" in result.out


def test_an_ad_hoc_command_leaves_a_run_record(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = lab.hosts[0], lab.hosts[1]
    password = f"pw-{uuid.uuid4().hex}"  # -K: asked once, never recorded
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    command = (
        f'echo "out $RORUNNER_HOST"; [ "$RORUNNER_HOST" != {bad.name} ] || '
        "{ echo boom >&2; exit 3; }"
    )
    result = _run(lab, "all", command, "--limit", f"{good.name},{bad.name}", "-K")
    assert result.code == 2, result

    (path,) = (tmp_path / ".rorunner" / "runs").glob("*.json")
    raw = path.read_text()
    assert password not in raw
    doc = json.loads(raw)
    jsonschema.Draft202012Validator(json.loads(schema_path().read_text())).validate(doc)
    assert (doc["command"], doc["playbook"], doc["plan"]) == ("run", None, None)
    assert (doc["status"], doc["exit_code"]) == ("finished", 2)
    assert doc["options"]["pattern"] == "all"
    assert {h: v["state"] for h, v in doc["hosts"].items()} == {good.name: "ok", bad.name: "failed"}
    steps = {s["host"]: s for s in doc["steps"]}
    assert (steps[good.name]["rc"], steps[bad.name]["rc"]) == (0, 3)
    assert {s["command"] for s in steps.values()} == {command}
    assert Path(steps[bad.name]["stderr"]).read_text() == "boom\n"
    assert Path(steps[good.name]["stdout"]).read_text() == f"out {good.name}\n"
    assert steps[good.name]["stderr"] is None  # no empty log file
    for log in (tmp_path / ".rorunner" / "logs").rglob("*"):
        assert not log.is_file() or password not in log.read_text()

    listed = run_cli("runs", "-p", str(tmp_path))
    assert listed.code == 0, listed
    (line,) = [row for row in listed.out.splitlines() if row.startswith(doc["run_id"])]
    assert line.split()[3:5] == ["finished", "2"]
    shown = run_cli("runs", "-p", str(tmp_path), "show", "latest")
    assert shown.code == 0, shown
    assert f"failed      [{bad.name}] adhoc > adhoc > adhoc > command (rc=3)" in shown.out
    assert "boom" in shown.out
    (record,) = RunStore((tmp_path / ".rorunner").resolve()).summaries()
    assert record.run_id == doc["run_id"] and record.command == "run"
