"""Tags, --start-at-step, --list-hosts and --list-tasks, with ansible-core as the oracle.

Ansible's own rule (Taggable.evaluate_tags) is run on a table of tag sets; and each test
project is also written as the Ansible playbook it stands for (a role's steps as its tasks,
role.yml `tags` on each of them, an inline rtas as a block named by its tags), whose
`ansible-playbook --list-tasks` output is compared with rorunner's.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play as AnsiblePlay
from ansible.vars.manager import VariableManager

from rorunner.errors import InputError, UsageError
from rorunner.plan import Selection, build_plan, listing
from rorunner.plan._select import would_run
from rorunner.playbook import Playbook, load_playbook
from tests.inventory_helpers import run_cli
from tests.projects import make_inventory

REPO = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

TASK_TAGS = [[], ["a"], ["always"], ["never"], ["a", "never"], ["always", "never"], ["b"]]
ONLY = [["all"], ["a"], ["always"], ["never"], ["tagged"], ["untagged"], ["all", "never"]]
ONLY += [["b", "untagged"], ["a", "tagged"]]
SKIP = [[], ["a"], ["always"], ["never"], ["all"], ["tagged"], ["untagged"], ["all", "always"]]


def test_tag_rule_is_ansibles() -> None:
    loader = DataLoader()
    manager = VariableManager(loader=loader)
    for own in TASK_TAGS:
        task_data = {"name": "t", "command": "true", "tags": own}
        play = AnsiblePlay.load(
            {"hosts": "all", "tasks": [task_data]}, loader=loader, variable_manager=manager
        )
        task = play.get_tasks()[0][0]
        for only, skip in product(ONLY, SKIP):
            expected = task.evaluate_tags(only, skip, {})
            got = would_run(frozenset(own), Selection(frozenset(only), frozenset(skip)))
            assert got == expected, (own, only, skip)


# --- a project and the Ansible playbook it stands for ---------------------------------------

ROLES: dict[str, str] = {
    "roles/common/role.yml": "tags: [base]\n",
    "roles/common/remote/10-facts.sh": "#!/bin/sh\n",
    "roles/webapp/role.yml": "depends: [common]\ntags: web\n",
    "roles/webapp/files/index.html": "hi\n",
    "roles/webapp/remote/10-install.sh": "#!/bin/sh\n",
    "roles/webapp/remote/20-status.sh": "#!/bin/sh\n",
    "roles/monitor/role.yml": "depends: [common]\n",
    "roles/monitor/remote/10-collect.sh": "#!/bin/sh\n",
    "roles/solo/remote/10-solo.sh": "#!/bin/sh\n",
}
SITE = """\
- name: Site
  hosts: all
  tags: [site]
  roles:
    - webapp
    - {role: monitor, tags: [mon, never]}
  rtas:
    - name: release
      tags: rel
      local_pre:
        - {name: build, run: "true", tags: [build, always]}
      remote:
        - {name: check, run: "true"}
        - {name: debug, run: "true", tags: [never, debug]}
- name: Web check
  hosts: web
  roles:
    - {role: solo, tags: [solo]}
  rtas:
    - name: check
      remote:
        - {name: status, run: "true", tags: [always]}
        - {name: plain, run: "true"}
"""
# The same without a role two listings need (Ansible would list it twice): for exact text.
SIMPLE = """\
- name: Site
  hosts: all
  tags: [site]
  roles:
    - {role: webapp, tags: [w1, w2]}
    - solo
  rtas:
    - name: release
      tags: rel
      remote:
        - {name: check, run: "true", tags: [chk]}
        - {name: debug, run: "true", tags: [never, debug]}
- hosts: web
  rtas:
    - name: check
      remote: ["true"]
"""
INVENTORY = "[web]\nweb1\nweb2\n[db]\ndb1\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith(".sh"):
            path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _ansible_task(name: str, tags: tuple[str, ...]) -> dict[str, Any]:
    return {"name": name, "command": "true", "tags": list(tags)}


def _as_ansible(book: Playbook, root: Path) -> Path:
    """The Ansible project `book` stands for, under root/ansible."""
    out = root / "ansible"
    for name, role in book.roles.items():
        tasks = [_ansible_task(f"{e.phase}/{e.name}", role.tags + e.tags) for e in role.steps]
        _write(out, {f"roles/{name}/tasks/main.yml": yaml.safe_dump(tasks)})
        meta = {"dependencies": list(role.depends)}
        _write(out, {f"roles/{name}/meta/main.yml": yaml.safe_dump(meta)})
    plays = []
    for play in book.plays:
        blocks = [
            {
                "block": [
                    _ansible_task(f"{unit.name} : {e.phase}/{e.name}", e.tags) for e in unit.steps
                ],
                "tags": list(unit.tags),
            }
            for unit in play.rtas
        ]
        roles = [{"role": use.name, "tags": list(use.tags)} for use in play.roles]
        plays.append(
            {"name": play.name, "hosts": play.hosts, "tags": list(play.tags), "roles": roles}
            | ({"tasks": blocks} if blocks else {})
        )
    _write(out, {"site.yml": yaml.safe_dump(plays, sort_keys=False), "hosts.ini": INVENTORY})
    return out


def _project(tmp_path: Path, site: str) -> tuple[Path, Playbook]:
    _write(tmp_path, {**ROLES, "site.yml": site, "hosts.ini": INVENTORY})
    book = load_playbook(str(tmp_path / "site.yml"))
    return _as_ansible(book, tmp_path), book


def _ansible_list(project: Path, *args: str) -> str:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "hosts.ini", "site.yml", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rorunner_list(project: Path, *args: str) -> str:
    done = run_cli("play", "site.yml", "-i", "hosts.ini", *args)
    assert done.code == 0, done.err
    return done.out


def _task_names(text: str) -> set[str]:
    """The `unit : step` names of a --list-tasks output (tags left out)."""
    return {
        line.strip().split("\t")[0]
        for line in text.splitlines()
        if line.startswith("      ") and "\t" in line
    }


SELECTIONS = [
    (),
    ("--tags", "web"),
    ("--tags", "mon"),
    ("--tags", "never"),
    ("--tags", "base"),
    ("--tags", "rel,debug"),
    ("--tags", "untagged"),
    ("--tags", "tagged", "--skip-tags", "site"),
    ("--skip-tags", "always"),
    ("--skip-tags", "web,build"),
    ("--tags", "all,never", "--skip-tags", "base"),
    ("--tags", "solo", "--tags", "mon"),
]


def test_selection_is_what_ansible_playbook_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ansible_dir, _ = _project(tmp_path, SITE)
    monkeypatch.chdir(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        expected = list(
            pool.map(lambda args: _ansible_list(ansible_dir, "--list-tasks", *args), SELECTIONS)
        )
    for args, ansible_out in zip(SELECTIONS, expected, strict=True):
        ours = _rorunner_list(tmp_path, "--list-tasks", *args)
        assert _task_names(ours) == _task_names(ansible_out), args


def test_list_tasks_text_is_ansible_playbooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ansible_dir, _ = _project(tmp_path, SIMPLE)
    monkeypatch.chdir(tmp_path)
    for args in [(), ("--tags", "w2,chk"), ("--skip-tags", "rel")]:
        expected = _ansible_list(ansible_dir, "--list-tasks", *args)
        assert _rorunner_list(tmp_path, "--list-tasks", *args) == expected, args


def test_list_hosts_lists_each_plays_hosts_after_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ansible_dir, _ = _project(tmp_path, SIMPLE)
    monkeypatch.chdir(tmp_path)
    for args in [(), ("--limit", "web2:db1")]:
        ours = _rorunner_list(tmp_path, "--list-hosts", *args).splitlines()
        theirs = _ansible_list(ansible_dir, "--list-hosts", *args).splitlines()
        # Ansible prints a play's hosts in no fixed order; rorunner in inventory order.
        assert sorted(ours) == sorted(theirs) and len(ours) == len(theirs)
    limited = _rorunner_list(tmp_path, "--list-hosts", "--limit", "web2:db1")
    assert "    hosts (2):\n      web2\n      db1\n" in limited
    assert not (tmp_path / ".rorunner").exists()  # nothing ran, nothing was written


def test_the_example_project_listing_matches_its_golden_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    for name, args in [
        ("list-hosts-tasks.txt", ("--list-hosts", "--list-tasks")),
        ("list-tasks-tagged.txt", ("--list-tasks", "--tags", "web,monitor", "--skip-tags", "base")),
    ]:
        done = run_cli("play", "playbooks/site.yml", "-i", "inventories/example.ini", *args)
        assert done.code == 0, done.err
        golden = REPO / "tests" / "golden" / name
        if os.environ.get("RORUNNER_UPDATE_GOLDEN") == "1":
            golden.write_text(done.out)
        assert done.out == golden.read_text(), name


# --- selection in the plan ------------------------------------------------------------------


def _plan_tails(root: Path, selection: Selection) -> list[tuple[str, str, str, str]]:
    book = load_playbook(str(root / "site.yml"))
    plan = build_plan(
        make_inventory({"web": ["web1", "web2"], "db": ["db1"]}), book, selection=selection
    )
    return [(s.host, s.role, s.phase, s.name) for s in plan.steps]


def test_unselected_steps_leave_the_plan_and_signatures_stay(tmp_path: Path) -> None:
    _project(tmp_path, SITE)
    book = load_playbook(str(tmp_path / "site.yml"))
    inventory = make_inventory({"web": ["web1", "web2"], "db": ["db1"]})
    full = build_plan(inventory, book, selection=Selection(frozenset({"all", "never"})))
    web = build_plan(inventory, book, selection=Selection(frozenset({"web"})))
    kept = {(s.host, s.role, s.phase, s.name) for s in web.steps}
    assert kept == {
        (host, role, phase, name)
        for host in ("web1", "web2", "db1")
        for role, phase, name in [
            ("webapp", "ship", "files"),  # role.yml tags: not its dependency's
            ("webapp", "remote", "10-install.sh"),
            ("webapp", "remote", "20-status.sh"),
            ("release", "local_pre", "build"),  # always
        ]
    } | {(host, "check", "remote", "status") for host in ("web1", "web2")}  # always
    signatures = {s.node: s.signature for s in full.steps}
    assert all(signatures[s.node] == s.signature for s in web.steps)
    # the steps left keep their order: each waits for the nearest kept step before it
    for step in web.steps:
        for before in web.predecessors(step):
            assert web.nodes.index(before) < web.nodes.index(step)
    # play 2's barrier waits for the 3 hosts' last kept steps of play 1
    (barrier,) = web.barriers
    assert barrier.waits_for == 3
    assert {p.role for p in web.predecessors(barrier)} == {"release"}


def test_a_play_left_without_steps_loses_its_barrier(tmp_path: Path) -> None:
    _project(tmp_path, SITE)
    book = load_playbook(str(tmp_path / "site.yml"))
    inventory = make_inventory({"web": ["web1"], "db": ["db1"]})
    plan = build_plan(
        inventory, book, selection=Selection(frozenset({"mon"}), frozenset({"always"}))
    )
    assert {(s.role, s.name) for s in plan.steps} == {
        ("common", "10-facts.sh"),
        ("monitor", "10-collect.sh"),
    }
    assert plan.barriers == ()


def test_never_steps_are_left_out_by_default(tmp_path: Path) -> None:
    _project(tmp_path, SITE)
    book = load_playbook(str(tmp_path / "site.yml"))
    plan = build_plan(make_inventory({"web": ["web1"]}), book)
    roles = {s.role for s in plan.steps}
    assert "monitor" not in roles and ("release", "debug") not in {
        (s.role, s.name) for s in plan.steps
    }


BECOME_TAGGED = """\
- hosts: web
  become: true
  rtas:
    - name: u
      tags: [deploy]
      ship: [a.txt]
      remote:
        - as-root
        - {run: as-app, become_user: appuser}
    - name: other
      remote: [echo other]
"""


def test_a_ship_step_planned_once_per_user_is_kept_with_its_entry(tmp_path: Path) -> None:
    _write(tmp_path, {"site.yml": BECOME_TAGGED, "a.txt": "a\n"})
    book = load_playbook(str(tmp_path / "site.yml"))
    plan = build_plan(
        make_inventory({"web": ["web1"]}), book, selection=Selection(frozenset({"deploy"}))
    )
    assert [(s.role, s.phase, s.name) for s in plan.steps] == [
        ("u", "ship", "files"),
        ("u", "ship", "files@appuser"),
        ("u", "remote", "01-as-root"),
        ("u", "remote", "02-as-app"),
    ]


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("webapp : remote/20-status.sh", ("webapp", "20-status.sh")),
        ("remote/20-status.sh", ("webapp", "20-status.sh")),
        ("20-status.sh", ("webapp", "20-status.sh")),
        ("release:local_pre/build", ("release", "build")),
        ("chec*", ("release", "check")),
        ("check : *", ("check", "status")),
    ],
)
def test_start_at_step_names(tmp_path: Path, name: str, first: tuple[str, str]) -> None:
    _project(tmp_path, SITE)
    selection = Selection(frozenset({"all", "never"}), start_at=name)
    tails = _plan_tails(tmp_path, selection)
    assert (tails[0][1], tails[0][3]) == first
    order = [(t[1], t[3]) for t in _plan_tails(tmp_path, Selection(frozenset({"all", "never"})))]
    assert all(order.index((t[1], t[3])) >= order.index(first) for t in tails)


def test_start_at_step_that_matches_nothing_is_refused(tmp_path: Path) -> None:
    _project(tmp_path, SITE)
    with pytest.raises(UsageError, match="matches no step"):
        _plan_tails(tmp_path, Selection(start_at="nothing-like-this"))
    done = run_cli(
        "play",
        str(tmp_path / "site.yml"),
        "-i",
        str(tmp_path / "hosts.ini"),
        "--start-at-step",
        "nothing",
        "--list-tasks",
    )
    assert done.code == 5 and "matches no step" in done.err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- hosts: all\n  tags: [ok, '']\n", "must not be empty"),
        ("- hosts: all\n  tags: {a: 1}\n", "must be a list"),
        ("- hosts: all\n  tags: [1]\n", "must be a string"),
        ("- hosts: all\n  tags: 'a b'\n", "may use only"),
        ("- hosts: all\n  roles: [{role: solo, tagz: [x]}]\n", "did you mean 'tags'"),
    ],
)
def test_bad_tags_are_bad_input(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, {**ROLES, "site.yml": text})
    with pytest.raises(InputError, match=message):
        load_playbook(str(tmp_path / "site.yml"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--list-tasks", "--graph", "text"), "cannot be combined with --graph"),
        (("--check", "--graph", "text"), "--check cannot be combined"),
        (("--diff", "--list-hosts"), "--diff cannot be combined"),
        (("--diff", "--json"), "--diff prints diffs"),
    ],
)
def test_options_that_cannot_be_combined(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    _write(tmp_path, {**ROLES, "site.yml": SIMPLE, "hosts.ini": INVENTORY})
    done = run_cli("play", str(tmp_path / "site.yml"), "-i", str(tmp_path / "hosts.ini"), *args)
    assert done.code == 5 and message in done.err
    assert not (tmp_path / ".rorunner").exists()


def test_listing_function_marks_plays_without_hosts(tmp_path: Path) -> None:
    _write(tmp_path, {**ROLES, "site.yml": SIMPLE})
    book = load_playbook(str(tmp_path / "site.yml"))
    plan = build_plan(make_inventory({"db": ["db1"], "web": []}), book)
    text = listing("site.yml", book, plan.plays, Selection(), hosts=True, tasks=False)
    assert "  play #2 (web): web\tTAGS: []\n    pattern: ['web']\n    hosts (0):\n" in text
    assert shutil.which("true")  # the projects' commands are plain `true`
