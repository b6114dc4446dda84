"""One table of host address strings, one verdict through every path that reads an address.

Each row is accepted with one normalised address and port, or refused with one message,
whether it is written in an inventory file (`rorunner run` then shows what the connection
would use), in a host list (`-i 'ADDR,'`), as a `--limit` pattern, or given to the seed API
(`gen_task_remote_exec(..., ipv6=ADDR)` and `get_ref_name`). The paths used to disagree
(`web-`, `fe80::1%abcdefghijklmnopq`, `[2001:db8::1]`, `fe80::2`; issue 7).
"""

from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from rorunner import gen_task_remote_exec, get_ref_name
from rorunner.address import parse_address
from rorunner.errors import InputError
from tests.inventory_helpers import CliResult, run_cli
from tests.lab import Lab

pytestmark = pytest.mark.usefixtures("in_tmp")  # `run` records its runs in ./.rorunner


@dataclass(frozen=True)
class Row:
    """An address string and its one verdict: (name, address, port) or an error fragment."""

    text: str
    name: str = ""  # the inventory host name it gives (the text without its port)
    address: str = ""  # normalised connection address; '' when refused
    port: int | None = None
    error: str = ""
    warning: str = ""

    @property
    def accepted(self) -> bool:
        return not self.error


ROWS = [
    # names: letters, digits, '.', '-', '_', not a leading '-' (the inventory's rule)
    Row("web01", "web01", "web01"),
    Row("web-", "web-", "web-"),
    Row("Web_1.example.com", "Web_1.example.com", "Web_1.example.com"),
    Row("db01:2200", "db01", "db01", 2200),
    Row("[app1]:2201", "app1", "app1", 2201),
    Row("web;reboot", error="characters ';' are not allowed"),
    Row("web$(id)", error="characters '$()' are not allowed"),
    Row("-oProxyCommand=x", error="must not start with '-'"),
    Row("db02:99999", error="bad port 99999"),
    Row("db03:", error="bad port ''"),
    Row("a:b:c", error="invalid IPv6 address 'a:b:c'"),
    # IPv4
    Row("192.0.2.7", "192.0.2.7", "192.0.2.7"),
    Row("192.0.2.8:2222", "192.0.2.8", "192.0.2.8", 2222),
    Row("[192.0.2.9]:2223", "192.0.2.9", "192.0.2.9", 2223),
    Row("300.1.2.3", error="invalid IPv4 address '300.1.2.3'"),
    Row("192.0.2.1%eth0", error="applies only to IPv6 addresses"),
    # IPv6: compressed and lower-cased, never split at its colons
    Row("2001:db8::1", "2001:db8::1", "2001:db8::1"),
    Row("2001:DB8:0:0::2", "2001:DB8:0:0::2", "2001:db8::2"),
    Row(
        "2001:0db8:0000:0000:0000:0000:0000:0003",
        "2001:0db8:0000:0000:0000:0000:0000:0003",
        "2001:db8::3",
    ),
    Row("::1", "::1", "::1"),
    Row(
        "2001:db8::1:2222",
        "2001:db8::1:2222",
        "2001:db8::1:2222",
        warning="write [2001:db8::1]:2222 for a port",
    ),
    Row("2001:db8::g", error="invalid IPv6 address '2001:db8::g'"),
    Row("2001:db8::1::2", error="invalid IPv6 address '2001:db8::1::2'"),
    Row("1:2:3:4:5:6:7:8:9", error="invalid IPv6 address '1:2:3:4:5:6:7:8:9'"),
    Row(":::", error="invalid IPv6 address ':::'"),
    # brackets: only around an address (or name) followed by a port
    Row("[2001:db8::4]:2222", "2001:db8::4", "2001:db8::4", 2222),
    Row("[2001:DB8::5]:22", "2001:DB8::5", "2001:db8::5", 22),
    Row("[2001:db8::7]", error="brackets around an address are only for a port"),
    Row("[2001:db8::8]:0", error="bad port 0"),
    Row("[2001:db8::9]:70000", error="bad port 70000"),
    Row("[2001:db8::a]:ssh", error="bad port 'ssh'"),
    # scope ids: 1-15 interface-name characters, required on link-local addresses
    Row("fe80::1%eth0", "fe80::1%eth0", "fe80::1%eth0"),
    Row("[fe80::2%br-lab.1]:2200", "fe80::2%br-lab.1", "fe80::2%br-lab.1", 2200),
    Row("FE80::3%lo", "FE80::3%lo", "fe80::3%lo"),
    Row("fe80::4%abcdefghijklmno", "fe80::4%abcdefghijklmno", "fe80::4%abcdefghijklmno"),
    Row("2001:db8::6%eth0", "2001:db8::6%eth0", "2001:db8::6%eth0"),
    Row("fe80::5", error="the link-local address fe80::5 needs a scope id"),
    Row("[fe80::6]:22", error="the link-local address fe80::6 needs a scope id"),
    Row("fe80::7%", error="bad scope id ''"),
    Row("fe80::8%abcdefghijklmnop", error="bad scope id 'abcdefghijklmnop'"),
    Row("fe80::9%eth0;rm", error="bad scope id 'eth0;rm'"),
]
ENV_LINE = 'printf "%s %s %s\\n" "$RORUNNER_HOST" "$RORUNNER_ADDRESS" "$RORUNNER_PORT"'


def test_the_table_is_what_it_claims() -> None:
    """Distinct addresses (so one --limit selects one host); accepted rows' addresses normal."""
    accepted = [row for row in ROWS if row.accepted]
    assert len(ROWS) >= 40
    assert len({row.address for row in accepted}) == len(accepted)
    for row in accepted:
        if ":" in row.address:
            plain, _, scope = row.address.partition("%")
            assert ipaddress.IPv6Address(plain).compressed + (f"%{scope}" if scope else "") == (
                row.address
            )


def _yaml_inventory(path: Path, rows: list[Row]) -> Path:
    """`all: hosts:` with each row's text as a host on lines 3, 5, ... (connection local)."""
    lines = ["all:", "  hosts:"]
    for row in rows:
        lines += [f"    {json.dumps(row.text)}:", "      ansible_connection: local"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def every_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One inventory holding every accepted row, for --limit."""
    path = tmp_path_factory.mktemp("table") / "all.yml"
    return _yaml_inventory(path, [row for row in ROWS if row.accepted])


def _ran(result: CliResult) -> dict[str, tuple[str, int]]:
    """host -> (address, port) from the ENV_LINE output of `rorunner run`."""
    seen: dict[str, tuple[str, int]] = {}
    lines = result.out.splitlines()
    for index, line in enumerate(lines):
        if line.endswith(" | OK | rc=0 >>"):
            host, address, port = lines[index + 1].split(" ")
            seen[host] = (address, int(port))
    return seen


def _check_refused(row: Row, result: CliResult, where: str) -> None:
    assert result.code == 3, (row, result)
    assert f"{where}: " in result.err and row.error in result.err, (row, result)
    assert "| OK |" not in result.out, result


def _inventory_file_and_run(row: Row, tmp_path: Path) -> None:
    """Written in a YAML inventory file, then `rorunner run all`: file:line or the address."""
    inventory = _yaml_inventory(tmp_path / "one.yml", [row])
    result = run_cli("run", "all", "-i", str(inventory), "-a", ENV_LINE)
    if not row.accepted:
        _check_refused(row, result, f"{inventory}:3")
        return
    assert result.code == 0, (row, result)
    assert _ran(result) == {row.name: (row.address, row.port or 22)}, (row, result)
    if row.warning:
        assert f"rorunner: warning: {inventory}:3: host" in result.err, result
        assert row.warning in result.err, result
    else:
        assert "warning" not in result.err, (row, result)


def _host_list(row: Row) -> None:
    """`-i 'ADDR,'` (Ansible's host list): the same host, or the same error."""
    result = run_cli("inventory", "-i", f"{row.text},", "--list")
    if not row.accepted:
        _check_refused(row, result, "<host list>")
        return
    assert result.code == 0, (row, result)
    listed = json.loads(result.out)
    assert listed["ungrouped"]["hosts"] == [row.name], (row, listed)
    assert listed["_meta"]["hostvars"].get(row.name, {}).get("ansible_port") == row.port, row


def _limit(row: Row, every_host: Path) -> None:
    """`--limit ADDR` over every accepted row: exactly its host, or no host at all."""
    result = run_cli("run", "all", "-i", str(every_host), f"--limit={row.text}", "-a", ENV_LINE)
    if row.accepted:
        assert result.code == 0, (row, result)
        assert _ran(result) == {row.name: (row.address, row.port or 22)}, (row, result)
    elif result.code == 3:  # written as an address: parsed as one, and refused
        assert row.error in result.err, (row, result)
    else:  # read as Ansible's union of names (`db02:99999` is db02 or 99999): none here
        assert result.code == 0, (row, result)
        assert "no hosts matched" in result.err and _ran(result) == {}, (row, result)


def _seed_api(row: Row) -> None:
    """gen_task_remote_exec(ipv6=ADDR): the same spec and a name token made of it."""
    if not row.accepted:
        with pytest.raises(InputError) as caught:
            gen_task_remote_exec("true", row.text, label="t", is_dep_task=True)
        assert row.error in str(caught.value), row
        return
    task = gen_task_remote_exec("true", row.text, label="t", is_dep_task=True)
    spec = task["actions"][0].spec
    assert (spec.address, spec.port) == (row.address, row.port), row
    token = row.address.replace(":", "_").replace("%", "_")
    token += f"_p{row.port}" if row.port is not None else ""
    assert get_ref_name(task) == f"t:{token}", row


@pytest.mark.parametrize("row", ROWS, ids=[row.text for row in ROWS])
def test_one_verdict_everywhere(
    row: Row, tmp_path: Path, every_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RORUNNER_PORT", "RORUNNER_USER", "RORUNNER_KNOWN_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    _inventory_file_and_run(row, tmp_path)
    _host_list(row)
    _limit(row, every_host)
    _seed_api(row)


def test_ansible_host_follows_the_same_rules(tmp_path: Path) -> None:
    """ansible_host takes an address without a port: a bracketed one and an unscoped
    link-local one are refused at their own line."""
    inventory = tmp_path / "h.ini"
    for value, message in [
        ("[2001:db8::1]", "brackets around an address are only for a port"),
        ("fe80::1", "needs a scope id"),
        ("fe80::1%abcdefghijklmnopq", "bad scope id"),
    ]:
        inventory.write_text(f"h1\n[web]\nh2\n[web:vars]\nansible_host={value}\n")
        result = run_cli("inventory", "-i", str(inventory), "--list")
        assert result.code == 3, result
        assert f"{inventory}:5: ansible_host of 'h2': " in result.err, result
        assert message in result.err, result


def test_a_lab_host_spelled_differently_is_the_same_host(lab: Lab) -> None:
    """Through SSH: the first lab host's address written exploded and upper-case with its
    port in brackets reaches that host (its known_hosts entry uses the normal form)."""
    host = lab.hosts[0]
    spelled = f"[{ipaddress.IPv6Address(host.address).exploded.upper()}]:{host.port}"
    result = run_cli(
        "run",
        "all",
        "-i",
        f"{spelled},",
        "-a",
        'echo "$RORUNNER_ADDRESS $RORUNNER_PORT"; hostname',
        "-u",
        lab.user,
        "--known-hosts",
        str(lab.known_hosts),
        "--private-key",
        str(lab.client_key),
        "--timeout",
        "10",
    )
    assert result.code == 0, result
    assert f"{host.address} {host.port}\n{host.hostname}\n" in result.out, result


def test_a_bracketed_pattern_term_with_a_port_matches_that_port_only(tmp_path: Path) -> None:
    inventory = tmp_path / "h.ini"
    inventory.write_text(
        "a ansible_host=2001:db8::1 ansible_port=2201\n"
        "b ansible_host=2001:DB8:0::1 ansible_port=2202\n"
        "c ansible_host=2001:db8::2\n"
    )

    def limited(pattern: str) -> list[str]:
        result = run_cli("inventory", "-i", str(inventory), "--list", f"--limit={pattern}")
        assert result.code == 0, result
        return list(json.loads(result.out).get("ungrouped", {}).get("hosts", []))

    assert limited("[2001:db8::1]:2202") == ["b"]
    assert limited("[2001:0DB8::1]:2201") == ["a"]
    assert limited("2001:db8:0:0::1") == ["a", "b"]
    assert limited("[2001:db8::2]:22") == ["c"]
    assert limited("[2001:db8::2]:2201") == []


def test_ipv6_normal_form_is_ipaddress_s() -> None:
    """The normal form (taken from the C library: quicker at 100,000 hosts) is exactly what
    `ipaddress` writes, link-local addresses need a scope id, and what `ipaddress` refuses
    is refused, over addresses with every kind of zero run, case and embedded IPv4."""
    rnd = random.Random(12)
    words = (0, 0, 0, 1, 0xFFFF, 0xFE80, 0xFEBF, 0xFEC0)
    for _ in range(5_000):
        hextets = [rnd.choice([*words, rnd.randrange(1 << 16)]) for _ in range(8)]
        text = ":".join(f"{w:x}" if rnd.random() < 0.7 else f"{w:04X}" for w in hextets)
        if rnd.random() < 0.5:
            text = str(ipaddress.IPv6Address(text))
        if rnd.random() < 0.2:
            text = text.rsplit(":", 2)[0] + ":" + rnd.choice(["1.2.3.4", "01.2.3.4", "1.2.3"])
        if rnd.random() < 0.1:
            cut = rnd.randrange(len(text))
            text = text[:cut] + rnd.choice([":", ".", "g", " ", "::"]) + text[cut:]
        try:
            expected: str | None = str(ipaddress.IPv6Address(text))
            link_local = ipaddress.IPv6Address(text).is_link_local
        except ValueError:
            expected, link_local = None, False
        if expected is None or link_local:
            with pytest.raises(InputError):
                parse_address(text)
        else:
            assert parse_address(text).text == expected, text
        if expected is not None:
            assert parse_address(f"{text}%eth0").text == f"{expected}%eth0"
