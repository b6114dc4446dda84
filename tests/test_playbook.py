"""Playbook loader and role directories: strict schema, file:line errors, role search and order."""

from __future__ import annotations

from pathlib import Path

import pytest

from rorunner.errors import InputError, Location
from rorunner.playbook import Playbook, load_playbook
from tests.projects import GOLDEN_PROJECT, write_project

RTAS = "- hosts: all\n  rtas:\n    - name: u\n"


def load(tmp_path: Path, playbook: str, **files: str) -> Playbook:
    write_project(tmp_path, {"site.yml": playbook, **files})
    return load_playbook(str(tmp_path / "site.yml"))


def error(tmp_path: Path, playbook: str, **files: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load(tmp_path, playbook, **files)
    return caught.value


def where(err: InputError) -> tuple[str, int]:
    assert err.location is not None, str(err)
    return Path(err.location.path).name, err.location.line


def test_golden_project_loads_with_roles_and_inline_units() -> None:
    book = load_playbook(str(GOLDEN_PROJECT / "playbooks" / "site.yml"))
    assert [p.id for p in book.plays] == ["01-site", "02-rolling-restart"]
    assert sorted(book.roles) == ["app", "base", "report"]
    assert book.roles["app"].depends == ("base",)
    site = book.plays[0]
    assert [name for name, _ in book.run_list(site)] == ["base", "app", "report"]
    assert site.rtas[0].name == "adhoc"
    phases = [(s.phase, s.name) for s in book.roles["app"].steps]
    assert phases == [
        ("local_pre", "10-prepare.sh"),
        ("ship", "files"),
        ("remote", "10-run.sh"),
        ("remote", "20-again.sh"),
        ("fetch", "files"),
        ("local_post", "10-check.sh"),
    ]
    assert book.plays[1].serial == (1,)


def test_unknown_play_key_names_line_and_suggests(tmp_path: Path) -> None:
    err = error(tmp_path, "- name: x\n  hosts: all\n  rolse: [a]\n")
    assert where(err) == ("site.yml", 3)
    assert "unknown key 'rolse'" in err.message
    assert "did you mean 'roles'?" in err.message


def test_unknown_step_key_suggests(tmp_path: Path) -> None:
    book = RTAS + "      remote:\n        - run: ls\n          timout: 3\n"
    err = error(tmp_path, book)
    assert where(err) == ("site.yml", 6)
    assert "did you mean 'timeout'?" in err.message


def test_unknown_rtas_phase_suggests(tmp_path: Path) -> None:
    err = error(tmp_path, "- hosts: all\n  rtas:\n    - name: u\n      remotes: [ls]\n")
    assert where(err) == ("site.yml", 4)
    assert "did you mean 'remote'?" in err.message


@pytest.mark.parametrize(
    ("playbook", "line", "words"),
    [
        ("- hosts: all\n  roles: app\n", 2, "must be a list, not a string"),
        ("- hosts: all\n  vars: [1]\n", 2, "must be a mapping, not a list"),
        ("- hosts: all\n  serial: many\n", 2, "host count or a percentage"),
        ("- hosts: all\n  max_fail_percentage: 120\n", 2, "at most 100"),
        ("- hosts: 5\n", 1, "must be a string, not an integer"),
        ("- name: x\n", 1, "missing required key 'hosts'"),
        ("hosts: all\n", 1, "list of plays"),
        (
            "- hosts: all\n  rtas:\n    - name: u\n      ship:\n        - {src: a, mode: 644}\n",
            5,
            "quoted octal string",
        ),
        (
            RTAS + "      remote:\n        - {run: ls, creates: x}\n",
            5,
            "only allowed in local_pre",
        ),
        (
            RTAS + "      remote:\n        - {run: ls, always: yes}\n",
            5,
            "true or false",
        ),
        ("- hosts: all\n  rtas:\n    - name: a b\n", 3, "may use only letters"),
        ("- hosts: all\n  rtas:\n    - {name: u}\n    - {name: u}\n", 4, "duplicate rtas name"),
        ("- hosts: all\n  hosts: web\n", 2, "duplicate key"),
        ("- hosts: all\n  vars: {1: x}\n", 2, "not a valid variable name"),
    ],
)
def test_schema_errors_carry_file_and_line(
    tmp_path: Path, playbook: str, line: int, words: str
) -> None:
    err = error(tmp_path, playbook)
    assert where(err) == ("site.yml", line)
    assert words in err.message


def test_role_yml_unknown_key_suggests(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        "- hosts: all\n  roles: [app]\n",
        **{"roles/app/role.yml": "vars: {a: 1}\ndepend: [base]\n"},
    )
    assert where(err) == ("role.yml", 2)
    assert "did you mean 'depends'?" in err.message


def test_unknown_role_suggests_close_name(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        "- hosts: all\n  roles:\n    - common\n    - webserver\n",
        **{"roles/common/role.yml": "", "roles/web_server/role.yml": ""},
    )
    assert where(err) == ("site.yml", 4)
    assert "unknown role 'webserver'" in err.message
    assert "did you mean 'web_server'?" in err.message


def test_unknown_dependency_is_reported_in_role_yml(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        "- hosts: all\n  roles: [app]\n",
        **{"roles/app/role.yml": "depends:\n  - bsae\n", "roles/base/role.yml": ""},
    )
    assert where(err) == ("role.yml", 2)
    assert "did you mean 'base'?" in err.message


def test_dependency_cycle_is_printed(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        "- hosts: all\n  roles: [a]\n",
        **{
            "roles/a/role.yml": "depends: [b]\n",
            "roles/b/role.yml": "vars: {x: 1}\ndepends: [c]\n",
            "roles/c/role.yml": "depends: [a]\n",
        },
    )
    assert "role dependency cycle: a -> b -> c -> a" in err.message
    # Every edge, in the order printed: a's depends, then b's, then c's (which closes it).
    edges = [err.location, *err.also]
    assert edges == [
        Location(str(tmp_path / "roles/a/role.yml"), 1),
        Location(str(tmp_path / "roles/b/role.yml"), 2),
        Location(str(tmp_path / "roles/c/role.yml"), 1),
    ]


def test_self_dependency_is_a_cycle(tmp_path: Path) -> None:
    err = error(tmp_path, "- hosts: all\n  roles: [a]\n", **{"roles/a/role.yml": "depends: [a]\n"})
    assert "a -> a" in err.message


def test_local_script_must_be_executable(tmp_path: Path) -> None:
    write_project(tmp_path, {"site.yml": "- hosts: all\n  roles: [a]\n"})
    script = tmp_path / "roles/a/local_post/10-check.sh"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    with pytest.raises(InputError) as caught:
        load_playbook(str(tmp_path / "site.yml"))
    assert caught.value.location is not None
    assert caught.value.location.path == str(script)
    assert "not executable" in caught.value.message


def test_remote_scripts_need_not_be_executable_and_sort_by_name(tmp_path: Path) -> None:
    write_project(tmp_path, {"site.yml": "- hosts: all\n  roles: [a]\n"})
    remote = tmp_path / "roles/a/remote"
    remote.mkdir(parents=True)
    for name in ("20-b.sh", "10-a.sh", ".hidden", "backup~"):
        (remote / name).write_text("echo\n")
        (remote / name).chmod(0o644)
    book = load_playbook(str(tmp_path / "site.yml"))
    assert [s.name for s in book.roles["a"].steps] == ["10-a.sh", "20-b.sh"]


def test_role_search_order_beside_then_parent_then_roles_path(tmp_path: Path) -> None:
    write_project(
        tmp_path,
        {
            "playbooks/site.yml": "- hosts: all\n  roles: [near, far, extra]\n",
            "playbooks/roles/near/role.yml": "vars: {where: beside}\n",
            "roles/near/role.yml": "vars: {where: parent}\n",
            "roles/far/role.yml": "vars: {where: parent}\n",
            "elsewhere/extra/role.yml": "vars: {where: extra}\n",
        },
    )
    book = load_playbook(str(tmp_path / "playbooks/site.yml"), [str(tmp_path / "elsewhere")])
    assert book.roles["near"].defaults == {"where": "beside"}
    assert book.roles["far"].defaults == {"where": "parent"}
    assert book.roles["extra"].defaults == {"where": "extra"}


def test_role_runs_once_even_when_several_roles_depend_on_it(tmp_path: Path) -> None:
    book = load(
        tmp_path,
        "- hosts: all\n  roles: [web, db, {role: base, vars: {x: 1}}]\n",
        **{
            "roles/base/role.yml": "",
            "roles/web/role.yml": "depends: [base]\n",
            "roles/db/role.yml": "depends: [base, web]\n",
        },
    )
    run = book.run_list(book.plays[0])
    assert [name for name, _ in run] == ["base", "web", "db"]
    base_use = dict(run)["base"]
    assert base_use is not None and base_use.params == {"x": 1}


def test_inline_step_names_and_options(tmp_path: Path) -> None:
    book = load(
        tmp_path,
        "- hosts: all\n  rtas:\n    - name: u\n      local_pre:\n"
        "        - echo Hello, World > out.txt\n"
        "        - {name: build, run: make, creates: [dist/a.tgz], timeout: 30, always: true}\n"
        "      fetch:\n        - /var/log/x.log\n        - {src: out, dest: o.txt}\n",
    )
    unit = book.plays[0].rtas[0]
    first, second, fetch = unit.steps
    assert first.name == "01-echo-hello-world-out-txt"
    assert (second.name, second.creates, second.timeout, second.always) == (
        "build",
        ("dist/a.tgz",),
        30.0,
        True,
    )
    assert [(i.src, i.dest) for i in fetch.items] == [("/var/log/x.log", None), ("out", "o.txt")]


def test_empty_playbook_is_an_error(tmp_path: Path) -> None:
    err = error(tmp_path, "")
    assert "empty" in err.message


def test_play_errors_name_the_play(tmp_path: Path) -> None:
    err = error(tmp_path, "- name: Deploy web\n  hosts: web\n  serial: -1\n")
    assert err.message.startswith("play 'Deploy web': 'serial'")


def test_misspelt_role_folder_is_refused(tmp_path: Path) -> None:
    write_project(tmp_path, {"site.yml": "- hosts: all\n  roles: [a]\n", "roles/a/remtoe/x.sh": ""})
    with pytest.raises(InputError) as caught:
        load_playbook(str(tmp_path / "site.yml"))
    assert "unknown role folder 'remtoe' (did you mean 'remote'?)" in caught.value.message
    assert caught.value.location is not None
    assert caught.value.location.path == str(tmp_path / "roles/a/remtoe")


def test_misspelt_role_file_is_refused_but_docs_are_fine(tmp_path: Path) -> None:
    files = {"site.yml": "- hosts: all\n  roles: [a]\n", "roles/a/README.md": "docs\n"}
    write_project(tmp_path, files)
    load_playbook(str(tmp_path / "site.yml"))
    write_project(tmp_path, {"roles/a/role.yaml": "vars: {}\n"})
    with pytest.raises(InputError, match=r"must be named 'role\.yml'"):
        load_playbook(str(tmp_path / "site.yml"))
