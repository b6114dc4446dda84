"""Inventory loading, resolution and host patterns (no network)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rorunner.errors import InputError, Location
from rorunner.inventory import _sources as sources
from rorunner.inventory import (
    inventory_files,
    load_inventory,
    pattern_terms,
    select_hosts,
    unmatched_terms,
)
from rorunner.model import Inventory
from rorunner.safe_yaml import line_of, parse_yaml, plain

FLEET = """\
plain
[web]
web[01:04] ansible_port=2200
2001:db8::[1:2]
[db]
db1 ansible_host=2001:DB8:0::10 ansible_user=pg ansible_ssh_private_key_file=/k/db
db2 ansible_host=192.0.2.5
[eu:children]
web
[prod:children]
eu
db
[lab]
[fe80::1%eth0]:2222
local1 ansible_connection=local
[all:vars]
who=all
[prod:vars]
who=prod
[eu:vars]
who=eu
"""


@pytest.fixture
def fleet(tmp_path: Path) -> Inventory:
    path = tmp_path / "fleet.ini"
    path.write_text(FLEET)
    return load_inventory(str(path))


def names(inventory: Inventory, pattern: str, limit: str | None = None) -> list[str]:
    return [h.name for h in select_hosts(inventory, pattern, limit=limit)]


def test_hosts_resolve_to_frozen_records(fleet: Inventory, tmp_path: Path) -> None:
    db1 = fleet.hosts["db1"]
    assert (db1.address, db1.port, db1.user, db1.key_file) == ("2001:db8::10", None, "pg", "/k/db")
    assert db1.groups == ("all", "db", "prod")
    assert db1.source == Location(str(tmp_path / "fleet.ini"), 6)
    scoped = fleet.hosts["fe80::1%eth0"]
    assert (scoped.address, scoped.port, scoped.vars["ansible_port"]) == (
        "fe80::1%eth0",
        2222,
        2222,
    )
    assert fleet.hosts["local1"].connection == "local"
    assert fleet.hosts["web03"].port == 2200
    with pytest.raises(dataclasses.FrozenInstanceError):
        db1.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        db1.vars["who"] = "changed"  # type: ignore[index]


def test_variable_precedence_by_depth(fleet: Inventory) -> None:
    # all (depth 0) < prod (1) < eu (2) for web hosts; db hosts only reach prod.
    assert fleet.hosts["web01"].vars["who"] == "eu"
    assert fleet.hosts["db1"].vars["who"] == "prod"
    assert fleet.hosts["plain"].vars["who"] == "all"


def test_priority_then_name_break_ties(tmp_path: Path) -> None:
    path = tmp_path / "p.ini"
    path.write_text(
        "[b]\nh1\n[a]\nh1\n[c]\nh1\nh2 x=host\n"
        "[a:vars]\nx=a\n[b:vars]\nx=b\n[c:vars]\nx=c\nansible_group_priority=0\n"
    )
    inv = load_inventory(str(path))
    # equal depth, priorities c=0 < a=1 = b=1, then by name: c, a, b -> b wins
    assert inv.hosts["h1"].vars["x"] == "b"
    assert inv.hosts["h2"].vars["x"] == "host"
    assert "ansible_group_priority" not in inv.hosts["h2"].vars
    assert inv.groups["c"].priority == 0


def test_ungrouped_and_all(fleet: Inventory) -> None:
    assert fleet.groups["ungrouped"].hosts == ("plain",)
    assert fleet.groups["all"].children == ("ungrouped", "prod", "lab")
    assert next(iter(fleet.hosts)) == "plain"


def test_bracketed_host_lines_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "c.ini"
    path.write_text("[v6] # six\n[2001:db8::1]:2222 # port\n[a:b]x # range\n")
    inv = load_inventory(str(path))
    assert list(inv.hosts) == ["2001:db8::1", "ax", "bx"]
    assert inv.hosts["2001:db8::1"].port == 2222


def test_same_address_on_other_ports_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ports.ini"
    path.write_text("a ansible_host=::1 ansible_port=2201\nb ansible_host=::1 ansible_port=2202\n")
    inv = load_inventory(str(path))
    assert [(h.address, h.port) for h in inv.hosts.values()] == [("::1", 2201), ("::1", 2202)]


def test_port_counts_where_host_is_first_seen(tmp_path: Path) -> None:
    path = tmp_path / "p.ini"
    path.write_text("[a]\nh1:2201\n[b]\nh1:2202\n")
    assert load_inventory(str(path)).hosts["h1"].port == 2201


def test_notices(tmp_path: Path) -> None:
    path = tmp_path / "n.ini"
    path.write_text("[web]\nweb\n")
    assert load_inventory(str(path)).notices == ("'web' is both a group and a host name",)
    empty = tmp_path / "e.ini"
    empty.write_text("")
    inv = load_inventory(str(empty))
    assert not inv.hosts and inv.notices == ("the inventory has no hosts",)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("all", None),
        ("*", None),
        ("web", ["web01", "web02", "web03", "web04", "2001:db8::1", "2001:db8::2"]),
        ("db:lab", ["db1", "db2", "fe80::1%eth0", "local1"]),
        ("db,lab", ["db1", "db2", "fe80::1%eth0", "local1"]),
        ("prod:&db", ["db1", "db2"]),
        ("prod:!web", ["db1", "db2"]),
        ("!web:prod", ["db1", "db2"]),  # ! applies after the unions, wherever it is written
        ("&db:prod", ["db1", "db2"]),
        ("!prod", ["plain", "fe80::1%eth0", "local1"]),
        ("web0*", ["web01", "web02", "web03", "web04"]),
        ("web0[13]", []),  # a subscript of "web0" (matches nothing), as in Ansible
        ("web[0]", ["web01"]),
        ("web[-1]", ["2001:db8::2"]),
        ("web[1:2]", ["web02", "web03"]),
        ("~web0[13]", ["web01", "web03"]),
        ("~^db", ["db1", "db2"]),
        ("2001:db8::1", ["2001:db8::1"]),
        ("2001:db8::10", ["db1"]),  # an address literal also matches by connection address
        ("2001:DB8::1", ["2001:db8::1"]),
        ("fe80::1%eth0", ["fe80::1%eth0"]),
        ("2001:db8::1,2001:db8::2", ["2001:db8::1", "2001:db8::2"]),
        ("2001:db8::[1:2]", ["2001:db8::1", "2001:db8::2"]),
        ("web,!2001:db8::1", ["web01", "web02", "web03", "web04", "2001:db8::2"]),
        ("web:!2001:db8::1", ["web01", "web02", "web03", "web04", "2001:db8::2"]),
        ("nosuch", []),
    ],
)
def test_patterns(fleet: Inventory, pattern: str, expected: list[str] | None) -> None:
    assert names(fleet, pattern) == (list(fleet.hosts) if expected is None else expected)


def test_limit_intersects(fleet: Inventory) -> None:
    assert names(fleet, "prod", limit="!web") == ["db1", "db2"]
    assert names(fleet, "all", limit="2001:db8::2") == ["2001:db8::2"]


def test_at_file(fleet: Inventory, tmp_path: Path) -> None:
    retry = tmp_path / "retry"
    retry.write_text("db1\n2001:db8::2\n\n")
    assert names(fleet, "all", limit=f"@{retry}") == ["2001:db8::2", "db1"]
    with pytest.raises(InputError, match="host pattern file @"):
        names(fleet, f"@{tmp_path / 'missing'}")


def test_unmatched_terms(fleet: Inventory) -> None:
    assert unmatched_terms(fleet, "web,wbe,!dbb,all") == ("wbe", "dbb")
    assert unmatched_terms(fleet, ["db", "prodd"]) == ("prodd",)


def test_pattern_terms_keep_ipv6_whole() -> None:
    assert pattern_terms("2001:db8::1") == ["2001:db8::1"]
    assert pattern_terms("!2001:db8::1") == ["!2001:db8::1"]
    assert pattern_terms("fe80::1%eth0") == ["fe80::1%eth0"]
    assert pattern_terms("web:db:!x") == ["web", "db", "!x"]
    assert pattern_terms("web[1:3]:db") == ["web[1:3]", "db"]
    assert pattern_terms(" a , b ") == ["a", "b"]
    assert pattern_terms("web:!2001:db8::1:web") == ["web", "!2001:db8::1", "web"]
    assert pattern_terms("2001:db8::[1:2]:&web") == ["2001:db8::[1:2]", "&web"]
    assert pattern_terms("ab:cd:&ef") == ["ab", "cd", "&ef"]
    assert pattern_terms("web db") == ["web", "db"]


def test_bad_regex_is_input_error(fleet: Inventory) -> None:
    with pytest.raises(InputError, match=r"play.yml:3: bad host pattern '~\('"):
        select_hosts(fleet, "~(", source=Location("play.yml", 3))


def test_extensionless_yaml_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(text: str, path: str = "<string>", vault: object = None) -> object:
        calls.append(path)
        return parse_yaml(text, path)

    monkeypatch.setattr(sources, "parse_yaml", counting)
    yaml_file, ini_file = tmp_path / "hosts", tmp_path / "more"
    yaml_file.write_text("web:\n  hosts:\n    w1:\n")
    ini_file.write_text("[db]\nd1\n")
    inv = load_inventory([str(yaml_file), str(ini_file)])
    assert list(inv.hosts) == ["w1", "d1"]
    assert calls == [str(yaml_file), str(ini_file)]  # the INI one is tried as YAML, once


def test_directory_rules(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text("g:\n  hosts:\n    h2:\n")
    (tmp_path / "a.ini").write_text("h1\n")
    for ignored in ("x.md", "y.bak", ".z", "w~", "v.retry", "u.cfg"):
        (tmp_path / ignored).write_text("bad host!\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c").write_text("[c]\nh3\n")
    files = [Path(f).relative_to(tmp_path).as_posix() for f in inventory_files(str(tmp_path))]
    assert files == ["a.ini", "b.yml", "sub/c"]
    assert list(load_inventory(str(tmp_path)).hosts) == ["h1", "h2", "h3"]


def test_directory_symlink_loop_is_an_error_naming_the_link(tmp_path: Path) -> None:
    (tmp_path / "a.ini").write_text("h1\n")
    (tmp_path / "loop").symlink_to(tmp_path)
    with pytest.raises(InputError, match="symlink loop") as caught:
        inventory_files(str(tmp_path))
    assert caught.value.location == Location(str(tmp_path / "loop"))


def test_ini_value_typing(tmp_path: Path) -> None:
    path = tmp_path / "t.ini"
    path.write_text("h a=1 b=1.5 c=True d=None e=[1,(2,3)] f=007 g='x y' h=0x10 i=\n")
    hv = load_inventory(str(path)).hosts["h"].vars
    assert hv == {
        "a": 1,
        "b": 1.5,
        "c": True,
        "d": None,
        "e": [1, [2, 3]],
        "f": "007",
        "g": "x y",
        "h": 16,
        "i": "",
    }


def test_yaml_loader_lines_and_plain_data() -> None:
    data = parse_yaml("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yml")
    assert (line_of(data, "a"), line_of(data, "b"), line_of(data["b"], 1)) == (1, 2, 4)
    assert line_of(data) == 1 and line_of("scalar") == 0
    assert plain(data) == {"a": 1, "b": ["x", {"c": 2}]}
    assert type(plain(data)) is dict
    with pytest.raises(InputError, match=r"f\.yml:1: YAML tags are not allowed"):
        parse_yaml("x: !!str 12\n", "f.yml")


def test_yaml_merge_keys_and_aliases(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text("g:\n  vars: &base\n    a: 1\n  hosts:\n    h1:\n      <<: *base\n      b: 2\n")
    assert dict(load_inventory(str(path)).hosts["h1"].vars) == {"a": 1, "b": 2}


def test_plain_host_lines_split_as_shlex_splits_them() -> None:
    """The INI reader's fast path for lines without quotes, escapes or comments gives what
    shlex gives (non-ASCII spaces included, which shlex does not split at)."""
    import random
    import shlex

    from rorunner.inventory._ini import _PLAIN_LINE, _SHLEX_SPACE

    rng = random.Random(5)
    alphabet = "ab=:[]-_.{}()019 \t\r\n\xa0\u2003,;/%@!$&*"
    plain = 0
    for _ in range(5000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        if _PLAIN_LINE.fullmatch(line):
            plain += 1
            words = [word for word in _SHLEX_SPACE.split(line) if word]
            assert words == shlex.split(line, comments=True), repr(line)
    assert plain == 5000
    assert not _PLAIN_LINE.fullmatch("h1 a='x y'") and not _PLAIN_LINE.fullmatch("h1 # c")


def test_ini_values_typed_without_parsing_as_literal_eval_types_them() -> None:
    """parse_value's shortcuts (decimal ints, names, addresses, dotted numbers) give what
    ast.literal_eval gives: random words of the characters those shortcuts look at, and the
    edge cases (constants, leading zeros, complex numbers after a constant)."""
    import ast
    import random
    import warnings

    from rorunner.inventory._ini import _coerce, parse_value

    def slow(text: str) -> object:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                return _coerce(ast.literal_eval(text))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return text

    rng = random.Random(7)
    words = ["True", "None.x", "True-1j", "False.real", "0", "00", "0123", "5432", "1e5", "1j"]
    words += ["0x10", "1_0", "-1", "1.5", "1.2.3.4", "::1", "2001:db8::1", "a:b", "web-1.x"]
    words += [
        "".join(rng.choice("aeTxjFN019_.-:") for _ in range(rng.randint(1, 7)))
        for _ in range(20000)
    ]
    for word in words:
        expected = slow(word)
        assert (parse_value(word), type(parse_value(word))) == (expected, type(expected)), word
