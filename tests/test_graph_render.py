"""`--graph dot` and `--graph mermaid` drawings: rendered by Graphviz's own `dot -Tsvg`.

Graphviz comes from Debian's `graphviz` package (`make graphviz`, part of `make deps`); a
machine without `dot` fails these tests with that hint, it never skips them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rorunner.plan import build_plan
from rorunner.plan._draw import HOST_CLUSTER_LIMIT
from rorunner.playbook import load_playbook
from tests.inventory_helpers import run_cli
from tests.projects import make_inventory

REPO = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
# The example project's 4 hosts were drawn 5872x464 (10273x574 pt with statuses) when each
# host's steps made one row; these bounds hold for any readable drawing of it.
MAX_ASPECT = 2.5
MAX_SIDE_PT = 3000


@pytest.fixture(scope="module")
def dot_binary() -> str:
    found = shutil.which("dot")
    if found is None:
        pytest.fail("Graphviz `dot` is missing: run `make graphviz` (apt-get install graphviz)")
    return found


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example project (so no state of a demo run colours the statuses)."""
    for part in ("playbooks", "roles", "inventories"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def _svg(dot_binary: str, text: str) -> ET.Element:
    done = subprocess.run(
        [dot_binary, "-Tsvg"], input=text, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    return ET.fromstring(done.stdout)


def _points(value: str) -> float:
    return float(value.removesuffix("pt"))


def _texts(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG}text")]


def _clusters(svg: ET.Element) -> dict[str, list[str]]:
    """Title -> texts of every Graphviz cluster (host bands and unit boxes)."""
    found = {}
    for group in svg.iter(f"{SVG}g"):
        if group.get("class") == "cluster":
            title = group.find(f"{SVG}title")
            found[title.text or "" if title is not None else ""] = _texts(group)
    return found


def test_example_project_draws_compact_host_bands(dot_binary: str, example: Path) -> None:
    book = example / "playbooks" / "site.yml"
    inventory = example / "inventories" / "example.ini"
    done = run_cli("play", str(book), "-i", str(inventory), "--graph", "dot")
    assert done.code == 0, done.err
    svg = _svg(dot_binary, done.out)
    width, height = _points(svg.get("width", "")), _points(svg.get("height", ""))
    assert max(width, height) <= MAX_SIDE_PT, (width, height)
    assert max(width / height, height / width) <= MAX_ASPECT, (width, height)
    texts = _texts(svg)
    assert not [t for t in texts if "\\" in t], "escaping artefacts in labels"
    assert "remote: 10-install.sh" in texts and "would run (new)" in texts
    clusters = _clusters(svg)
    bands = {t[-1] for name, t in clusters.items() if re.fullmatch(r"cluster_\d+", name)}
    assert bands == {
        "@controller",  # the play's local_after
        "web1 (2001:db8:10::11)",
        "web2 (2001:db8:10::12)",
        "2001:db8:10::13",
        "db1 (2001:db8:20::21)",
    }
    units = [t for name, t in clusters.items() if name.startswith("cluster_u")]
    assert units[:2] == [["common (01-site)"], ["webapp (01-site)"]]
    barriers = [_texts(g) for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    starts = [t for t in barriers if t and t[0] == "barrier: 02-web-tier-check starts"]
    assert starts == [["barrier: 02-web-tier-check starts", "after all earlier work (4 hosts)"]]


def test_unit_steps_are_stacked_in_run_order(dot_binary: str, example: Path) -> None:
    book = load_playbook(str(example / "playbooks" / "site.yml"))
    plan = build_plan(make_inventory({"web": ["web1"]}), book)
    svg = _svg(dot_binary, plan.render("dot"))
    tops: dict[str, float] = {}
    for group in svg.iter(f"{SVG}g"):
        texts = _texts(group)
        shape = group.find(f"{SVG}path")
        if group.get("class") == "node" and texts and shape is not None:
            first_y = re.search(r"[ML][\d.-]+,([\d.-]+)", shape.get("d", ""))
            assert first_y is not None
            tops[texts[0]] = float(first_y.group(1))
    webapp = [
        "local_pre: 10-check-vars.sh",
        "ship: files",
        "remote: 10-install.sh",
        "remote: 20-status.sh",
    ]
    ys = [tops[name] for name in webapp if name in tops]
    assert len(ys) == len(webapp) and ys == sorted(ys), tops


def test_many_hosts_draw_one_band_per_play(dot_binary: str, example: Path) -> None:
    names = [f"web{i:02d}" for i in range(1, HOST_CLUSTER_LIMIT + 2)]
    book = load_playbook(str(example / "playbooks" / "site.yml"))
    plan = build_plan(make_inventory({"web": names}), book)
    text = plan.render("dot")
    svg = _svg(dot_binary, text)
    clusters = _clusters(svg)
    bands = {t[-1] for name, t in clusters.items() if re.fullmatch(r"cluster_\d+", name)}
    assert bands == {"play 01-site", "play 02-web-tier-check"}
    units = {t[-1] for name, t in clusters.items() if name.startswith("cluster_u")}
    assert "web11: webapp" in units and "web01: check" in units


def test_mermaid_is_left_to_right_with_host_bands_and_unit_edges(example: Path) -> None:
    book = load_playbook(str(example / "playbooks" / "site.yml"))
    plan = build_plan(make_inventory({"web": ["web1", "web2"]}), book)
    text = plan.render("mermaid", {plan.steps[0].node: "up to date"})
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    opened = [line for line in lines if line.strip().startswith("subgraph ")]
    assert len(opened) == sum(line.strip() == "end" for line in lines)
    assert 'subgraph c1["web1 (2001:db8::1)"]' in text
    assert 'subgraph u2["webapp (01-site)"]' in text
    defined = set(re.findall(r"^\s*(n\d+|b\d+)[\[{]", text, re.MULTILINE))
    defined |= set(re.findall(r"subgraph (\w+)\[", text))
    for a, b in re.findall(r"^\s+(\w+) -\.?-> (\w+)$", text, re.MULTILINE):
        assert a in defined and b in defined, (a, b)
    # edges leaving a unit go between unit boxes (so each box keeps direction TB)
    assert "  u1 --> u2" in lines and "  n1 --> n2" in lines
    assert re.search(r'^  b1\{\{"barrier: 02-web-tier-check starts<br/>', text, re.MULTILINE)
    assert "\\n" not in text and "#quot;" not in text
    assert "  class n1 uptodate" in lines


def test_the_graph_document_is_what_the_json_rendering_writes(example: Path) -> None:
    """Plan.graph_document (what the dry-run state embeds, no text made and read back) is
    the `--graph json` text as data, statuses included; Plan.graph_file is it as compact
    text."""
    import json

    book = load_playbook(str(example / "playbooks" / "site.yml"))
    plan = build_plan(make_inventory({"web": ["web1", "web2"]}), book)
    status = {plan.steps[0].node: "up to date", plan.steps[1].node: "would run (new)"}
    document = plan.graph_document(status)
    assert document == json.loads(plan.render("json", status))
    assert document["nodes"][0]["status"] is not None and len(document["edges"]) > 1
    assert plan.graph_document() == json.loads(plan.render("json"))
    # the compact text a run writes beside its record reads back as the same document
    compact = plan.graph_file(status)
    assert json.loads(compact) == document and "\n" not in compact.rstrip("\n")
    assert len(compact) < len(plan.render("json", status))


def test_edges_carry_the_feeds_flag_of_each_predecessor(example: Path) -> None:
    """Plan.edges (every rendering's, each edge found from its predecessor's side) agrees
    with each node's predecessors and feeders, barriers with many predecessors included."""
    book = load_playbook(str(example / "playbooks" / "site.yml"))
    plan = build_plan(make_inventory({"web": [f"w{i}" for i in range(40)]}), book)
    graph = plan._graph
    expected = {
        (before, after, before in graph.feeders(after))
        for after in range(len(plan.nodes))
        for before in graph.predecessors(after)
    }
    assert set(graph.edges()) == expected and len(expected) > 40 * 2
    assert any(not feeds for _, _, feeds in expected) and any(f for _, _, f in expected)
