"""Differential test: `rorunner inventory --list` equals `ansible-inventory --list` on a corpus.

ansible-core is a test-only dependency. Each inventory under tests/inventories/diff is
listed by both tools; ansible-inventory runs in parallel subprocesses (about a second
each). Lists are compared after sorting, as the contract says, and the test also
reports whether the order matched exactly. Deliberate differences are tested in
`test_deliberate_differences` below and described in docs/inventory.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rorunner.inventory import load_inventory, to_ansible_list
from tests.inventory_helpers import run_cli

CORPUS = Path(__file__).parent / "inventories" / "diff"
DIFFERENT = Path(__file__).parent / "inventories" / "different"
SOURCES: list[tuple[str, ...]] = [(str(p),) for p in sorted(CORPUS.iterdir())]
# Several -i options, in order: a file, a directory, and a YAML file again.
SOURCES.append(
    (str(CORPUS / "01_basic.ini"), str(CORPUS / "33_multi"), str(CORPUS / "18_basic.yml"))
)


def _ansible_inventory() -> str:
    beside = Path(sys.executable).parent / "ansible-inventory"
    found = str(beside) if beside.exists() else shutil.which("ansible-inventory")
    assert found, "ansible-inventory (ansible-core, a test dependency) is not installed"
    return found


def _ansible_list(sources: tuple[str, ...], home: Path) -> Any:
    argv = [_ansible_inventory(), "--list"]
    for source in sources:
        argv += ["-i", source]
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, f"ansible-inventory {sources}: {done.stderr}"
    return json.loads(done.stdout)


def _sorted_lists(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _sorted_lists(v) for k, v in data.items()}
    if isinstance(data, list):
        items = [_sorted_lists(v) for v in data]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return data


@pytest.fixture(scope="module")
def ansible_lists(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], Any]:
    home = tmp_path_factory.mktemp("ansible-home")
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 4) * 2)) as pool:
        results = pool.map(lambda s: _ansible_list(s, home), SOURCES)
        return dict(zip(SOURCES, results, strict=True))


def test_corpus_is_big_enough() -> None:
    assert len(SOURCES) >= 25
    suffixes = {Path(s[0]).suffix for s in SOURCES}
    assert {".ini", ".yml", ".yaml", ".json", ""} <= suffixes


@pytest.mark.parametrize("sources", SOURCES, ids=lambda s: "+".join(Path(p).name for p in s))
def test_list_matches_ansible(
    sources: tuple[str, ...], ansible_lists: dict[tuple[str, ...], Any]
) -> None:
    ours = to_ansible_list(load_inventory(sources))
    theirs = ansible_lists[sources]
    assert _sorted_lists(ours) == _sorted_lists(theirs)
    assert ours == theirs, "same content, but the order of a list differs from Ansible's"


def test_cli_list_prints_the_same_json(ansible_lists: dict[tuple[str, ...], Any]) -> None:
    source = (str(CORPUS / "03_vars_precedence.ini"),)
    result = run_cli("inventory", "-i", source[0], "--list")
    assert result.code == 0
    assert json.loads(result.out) == ansible_lists[source]


def test_cli_graph_and_host_match_ansible(tmp_path: Path) -> None:
    source = str(CORPUS / "02_nested_children.ini")
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path)}
    for args in (["--graph"], ["--graph", "web"], ["--host", "weu1"]):
        theirs = subprocess.run(
            [_ansible_inventory(), "-i", source, *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        ).stdout
        ours = run_cli("inventory", "-i", source, *args)
        assert ours.code == 0
        assert ours.out == theirs, args


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
