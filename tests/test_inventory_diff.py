"""Differential test: `rorunner inventory --list` equals `ansible-inventory --list` on a corpus.

ansible-core is a test-only dependency. Each inventory under tests/inventories/diff is
listed by both tools; every ansible-inventory command runs in ONE interpreter that
imports ansible once and forks per command (tests/ansible_oracle.py). Lists are
compared after sorting, as the contract says, and then in their exact order too.
Deliberate differences are tested in `test_deliberate_differences` below and
described in docs/inventory.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rorunner.errors import InputError
from rorunner.inventory import load_inventory, select_hosts, to_ansible_list
from tests.inventory_fuzz import random_ini, random_yaml
from tests.inventory_helpers import run_cli

CORPUS = Path(__file__).parent / "inventories" / "diff"
DIFFERENT = Path(__file__).parent / "inventories" / "different"
SOURCES: list[tuple[str, ...]] = [(str(p),) for p in sorted(CORPUS.iterdir())]
# Several -i options, in order: a file, a directory, and a YAML file again.
SOURCES.append(
    (str(CORPUS / "01_basic.ini"), str(CORPUS / "33_multi"), str(CORPUS / "18_basic.yml"))
)
# A comma-separated host list instead of a path (Ansible's host_list), with a file after it.
SOURCES.append(("web1,[2001:db8::5]:2222, 192.0.2.9,", str(CORPUS / "01_basic.ini")))
# group_vars/ and host_vars/ beside an inventory FILE (the directories above list them as
# directory sources, with the vars dirs inside them).
VARS_FILES = [
    CORPUS / "34_vars_dirs_ini" / "hosts.ini",
    CORPUS / "35_vars_dirs_yaml" / "inventory.yml",
    CORPUS / "37_vars_dirs_json" / "inventory.json",
]
SOURCES.extend((str(path),) for path in VARS_FILES)
# Several sources in different directories, one repeated: each source's vars dirs apply in
# -i order, group by group inside each, and a repeated source applies again.
MULTI = CORPUS / "38_vars_dirs_multi"
SOURCES.append((str(MULTI / "one" / "hosts.ini"), str(MULTI / "two" / "hosts.yml")))
SOURCES.append(
    (str(MULTI / "one" / "hosts.ini"), str(MULTI / "two" / "hosts.yml"), str(MULTI / "one"))
)


GRAPH_SOURCE = str(CORPUS / "02_nested_children.ini")
EXTRA_JOBS = [
    ["-i", GRAPH_SOURCE, "--graph"],
    ["-i", GRAPH_SOURCE, "--graph", "web"],
    ["-i", GRAPH_SOURCE, "--host", "weu1"],
]
# --host NAME with group_vars/host_vars: every host of the vars-dir inventories.
HOST_CASES = {
    "34_vars_dirs_ini/hosts.ini": ("u1", "u2", "w1", "w2", "d1"),
    "35_vars_dirs_yaml": ("app1", "2001:db8::5", "db1"),
    "36_vars_dirs_dir": ("w1", "w2", "d1", "c1"),
    "37_vars_dirs_json/inventory.json": ("lb1", "lb2"),
}
EXTRA_JOBS += [
    ["-i", str(CORPUS / source), "--host", host]
    for source, hosts in HOST_CASES.items()
    for host in hosts
]


# Host patterns, checked through ansible-inventory --limit (which hosts remain).
PATTERN_CASES: list[tuple[str, str]] = [
    (str(CORPUS / "02_nested_children.ini"), pattern)
    for pattern in (
        "web",
        "web:db",
        "web,db",
        "prod:&web",
        "prod:!web_eu",
        "!web",
        "w*",
        "~we.*1",
        "web[0]",
        "web[1:2]",
        "web[1:]",
        "web_eu[-1]",
        "*",
        "all",
        "prod:&web:!weu1",
        "db*",
        "web_?s",
        "!prod:!eu",
        "nosuch",
        "web:&nosuch",
        "eu:web_us",
        "&web:db1",
        "prod[2:3],eu",
        "*1",
        "~^(db|w)",
    )
] + [
    (str(CORPUS / "09_ipv6_forms.ini"), pattern)
    for pattern in ("2001:db8::1", "2001:db8:1::*,", "v6,!::1", "v6ports[1]", "*::a*,::1")
]
PATTERN_JOBS = [["--list", "-i", source, "--limit", pattern] for source, pattern in PATTERN_CASES]


def _list_argv(sources: tuple[str, ...]) -> list[str]:
    argv = ["--list"]
    for source in sources:
        argv += ["-i", source]
    return argv


def _run_oracle(jobs: list[list[str]], home: Path, check: bool = True) -> list[dict[str, Any]]:
    """Every ansible-inventory job in one interpreter (tests/ansible_oracle.py forks per job)."""
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONWARNINGS": "ignore",
    }
    oracle = Path(__file__).with_name("ansible_oracle.py")
    done = subprocess.run(
        [sys.executable, str(oracle)],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"ansible oracle failed: {done.stderr[-2000:]}"
    results: list[dict[str, Any]] = json.loads(done.stdout)
    for argv, result in zip(jobs, results, strict=True):
        assert result["rc"] == 0 or not check, f"ansible-inventory {argv}: {result['out']}"
    return results


def _sorted_lists(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _sorted_lists(v) for k, v in data.items()}
    if isinstance(data, list):
        items = [_sorted_lists(v) for v in data]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return data


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], str]:
    """ansible-inventory's output for every list source and every extra job."""
    jobs = [_list_argv(sources) for sources in SOURCES] + EXTRA_JOBS + PATTERN_JOBS
    results = _run_oracle(jobs, tmp_path_factory.mktemp("ansible-home"))
    keys = [tuple(s) for s in SOURCES] + [tuple(job) for job in EXTRA_JOBS + PATTERN_JOBS]
    return {key: result["out"] for key, result in zip(keys, results, strict=True)}


def test_corpus_is_big_enough() -> None:
    assert len(SOURCES) >= 25
    suffixes = {Path(s[0]).suffix for s in SOURCES}
    assert {".ini", ".yml", ".yaml", ".json", ""} <= suffixes


@pytest.mark.parametrize("sources", SOURCES, ids=lambda s: "+".join(Path(p).name for p in s))
def test_list_matches_ansible(sources: tuple[str, ...], oracle: dict[tuple[str, ...], str]) -> None:
    ours = to_ansible_list(load_inventory(sources))
    theirs = json.loads(oracle[sources])
    assert _sorted_lists(ours) == _sorted_lists(theirs)
    assert ours == theirs, "same content, but the order of a list differs from Ansible's"


def test_cli_list_prints_the_same_text(oracle: dict[tuple[str, ...], str]) -> None:
    for name in ("03_vars_precedence.ini", "21_typed.yml", "09_ipv6_forms.ini"):
        source = (str(CORPUS / name),)
        result = run_cli("inventory", "-i", source[0], "--list")
        assert result.code == 0
        assert result.out == oracle[source], name


@pytest.mark.parametrize(
    "job", EXTRA_JOBS, ids=lambda job: f"{Path(job[1]).name} {' '.join(job[2:])}"
)
def test_cli_graph_and_host_match_ansible(
    job: list[str], oracle: dict[tuple[str, ...], str]
) -> None:
    ours = run_cli("inventory", *job)
    assert ours.code == 0
    assert ours.out == oracle[tuple(job)]


@pytest.mark.parametrize(("source", "pattern"), PATTERN_CASES, ids=[p for _, p in PATTERN_CASES])
def test_patterns_match_ansible(
    source: str, pattern: str, oracle: dict[tuple[str, ...], str]
) -> None:
    """The hosts a pattern selects, and the whole `--list --limit` output, equal Ansible's."""
    theirs = oracle[("--list", "-i", source, "--limit", pattern)]
    listed = json.loads(theirs)
    expected = {h for name, g in listed.items() if name != "_meta" for h in g.get("hosts", ())}
    assert {h.name for h in select_hosts(load_inventory(source), "all", limit=pattern)} == expected
    result = run_cli("inventory", "-i", source, "--list", "--limit", pattern)
    assert result.code == 0
    assert result.out == theirs


FUZZ_SEEDS = range(50)


def test_random_inventories_match_ansible(tmp_path: Path) -> None:
    """Seeded random INI and YAML inventories: both tools list the same, or both refuse."""
    paths = []
    for seed in FUZZ_SEEDS:
        ini, yaml = tmp_path / f"fuzz{seed}.ini", tmp_path / f"fuzz{seed}.yml"
        ini.write_text(random_ini(seed))
        yaml.write_text(random_yaml(seed))
        paths += [ini, yaml]
    results = _run_oracle([["--list", "-i", str(p)] for p in paths], tmp_path, check=False)
    listed = 0
    for path, result in zip(paths, results, strict=True):
        try:
            ours: Any = to_ansible_list(load_inventory(str(path)))
        except InputError as exc:
            ours = f"error: {exc}"
        if result["rc"] != 0:
            assert isinstance(ours, str), f"{path}: ansible refused it, rorunner did not"
            continue
        assert ours == json.loads(result["out"]), path
        listed += 1
    assert listed >= 100


# Where rorunner deliberately differs from ansible-core (docs/inventory.md says why).
def test_deliberate_differences() -> None:
    yaml12 = load_inventory(str(DIFFERENT / "yaml12_typing.yml")).hosts["h1"].vars
    # YAML 1.2 core schema: yes/on/NO are strings, 017 is decimal, keys stay strings.
    assert yaml12["a"] == "yes" and yaml12["b"] == "on" and yaml12["i"] == "NO"
    assert yaml12["c"] == 17 and yaml12["g"] == 1000.0
    assert yaml12["yes"] == "key"
    scoped = load_inventory(str(DIFFERENT / "scoped_port.ini")).hosts["fe80::1%eth0"]
    # Ansible cannot parse a scoped address with a port; rorunner can.
    assert (scoped.address, scoped.port) == ("fe80::1%eth0", 2222)


# Where rorunner refuses what ansible-core accepts: file -> (line, message fragment).
STRICTER = {
    "dup_host_var.ini": (2, "variable 'x' is set twice on this host line ('x=1' and 'x=3')"),
    "dup_group_var.ini": (6, "variable 'x' is set twice in [web:vars] (also at "),
    "latin1_comment.ini": (1, "not valid UTF-8: byte 0xe9 at column 6"),
    "nul_value.ini": (2, "control character U+0000 (NUL) at column 7"),
    "escape_comment.ini": (2, "control character U+001B (ESC) at column 3"),
}


def test_stricter_than_ansible(tmp_path: Path) -> None:
    """ansible-inventory lists each of these (keeping the last value, or reading the bytes);
    rorunner refuses them with file:line (docs/inventory.md, deliberate differences)."""
    paths = sorted((DIFFERENT / "stricter").iterdir())
    assert sorted(p.name for p in paths) == sorted(STRICTER)
    results = _run_oracle([["--list", "-i", str(p)] for p in paths], tmp_path)  # all rc 0
    for path, result in zip(paths, results, strict=True):
        assert json.loads(result["out"])["web"]["hosts"] == ["w1"], path
        line, fragment = STRICTER[path.name]
        with pytest.raises(InputError) as caught:
            load_inventory(str(path))
        assert str(caught.value).startswith(f"{path}:{line}: "), caught.value
        assert fragment in str(caught.value)
