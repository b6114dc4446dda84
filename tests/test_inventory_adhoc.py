"""rorunner.adhoc as a library: outcomes as data, specs from hosts, interruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from rorunner.adhoc import run_adhoc
from rorunner.inventory import load_inventory
from rorunner.model import ConnectionDefaults, Host
from rorunner.outcome import StepOutcome, StepRef
from tests.inventory_helpers import interrupt_when_marked


def _local_hosts(tmp_path: Path, count: int) -> tuple[Host, ...]:
    path = tmp_path / "local.ini"
    path.write_text("".join(f"l{i} ansible_connection=local\n" for i in range(1, count + 1)))
    return tuple(load_inventory(str(path)).hosts.values())


class Heard:
    """RunEvents that remember what they heard."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []

    def step_started(self, step: StepRef) -> None:
        self.started.append(step.host)

    def step_finished(self, outcome: StepOutcome) -> None:
        assert outcome.host in self.started
        self.finished.append(outcome.host)


def test_outcomes_are_data_in_host_order(tmp_path: Path) -> None:
    hosts = _local_hosts(tmp_path, 3)
    heard = Heard()
    cmd = 'echo "out $RORUNNER_HOST"; echo err >&2; [ "$RORUNNER_HOST" != l2 ]'
    outcomes = run_adhoc(hosts, cmd, ConnectionDefaults(), forks=3, events=heard)
    assert sorted(heard.started) == sorted(heard.finished) == ["l1", "l2", "l3"]
    got = [(o.host, o.status, o.rc, o.stdout_text, o.stderr_text, o.task) for o in outcomes]
    assert got == [
        ("l1", "ok", 0, "out l1\n", "err\n", ""),
        ("l2", "failed", 1, "out l2\n", "err\n", ""),
        ("l3", "ok", 0, "out l3\n", "err\n", ""),
    ]
    assert all(o.duration >= 0 for o in outcomes)
    assert run_adhoc((), "true", ConnectionDefaults()) == ()


def test_spec_for_prefers_inventory_vars(tmp_path: Path) -> None:
    path = tmp_path / "h.ini"
    path.write_text("a ansible_host=2001:db8::7 ansible_port=2222 ansible_user=inv\nb\n")
    inv = load_inventory(str(path))
    defaults = ConnectionDefaults(
        user="cli",
        key_file="/k",
        known_hosts=("/kh",),
        host_key_policy="accept-new",
        connect_timeout=3.0,
        ssh_config="/cfg",
    )
    a = defaults.spec_for(inv.hosts["a"])
    assert (a.address, a.port, a.user, a.key_file, a.label) == (
        "2001:db8::7",
        2222,
        "inv",
        "/k",
        "a",
    )
    assert (a.known_hosts, a.host_key_policy, a.connect_timeout, a.ssh_config) == (
        ("/kh",),
        "accept-new",
        3.0,
        "/cfg",
    )
    b = defaults.spec_for(inv.hosts["b"])
    assert (b.address, b.port, b.user) == ("b", None, "cli")


def test_interrupt_starts_no_more_hosts(tmp_path: Path) -> None:
    """Ctrl-C while the first of three hosts runs (one fork): the other two never start."""
    hosts = _local_hosts(tmp_path, 3)
    marks = tmp_path / "marks"
    marks.mkdir()

    interrupt_when_marked(marks)
    with pytest.raises(KeyboardInterrupt):
        run_adhoc(hosts, f'touch {marks}/"$RORUNNER_HOST"; sleep 1', ConnectionDefaults(), forks=1)
    assert sorted(p.name for p in marks.iterdir()) == ["l1"]
