"""`rorunner run` against the sshd lab: names, limits that touch only matched hosts, unreachable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from rorunner.inventory import load_inventory
from tests.inventory_helpers import CliResult, run_cli
from tests.lab import Lab, LabHost


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
