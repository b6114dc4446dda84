"""Planner: validation errors with file:line, role-once, serial barriers, variables, signatures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jinja2
import pytest

from rorunner.errors import InputError, Location
from rorunner.model import Inventory, PlanStep
from rorunner.plan import ConnectionDefaults, Plan, batches, build_plan
from rorunner.playbook import load_playbook
from tests.projects import copy_project, golden_inventory, make_inventory, write_project

U = "- hosts: web\n  rtas:\n    - name: u\n"
INVENTORY = {"web": ["web1", "web2"], "db": ["db1"]}


def plan_for(
    root: Path,
    files: dict[str, str] | None = None,
    inventory: Inventory | None = None,
    **kw: object,
) -> Plan:
    if files:
        write_project(root, files)
    book = load_playbook(str(root / "site.yml"))
    return build_plan(inventory or make_inventory(INVENTORY), book, **kw)  # type: ignore[arg-type]


def plan_error(root: Path, files: dict[str, str], **kw: object) -> InputError:
    with pytest.raises(InputError) as caught:
        plan_for(root, files, **kw)
    return caught.value


def where(err: InputError) -> tuple[str, int]:
    assert err.location is not None, str(err)
    return Path(err.location.path).name, err.location.line


def by_name(plan: Plan) -> dict[str, PlanStep]:
    return {plan.task_name(step): step for step in plan.steps}


def env(step: PlanStep) -> dict[str, str]:
    return dict(step.env)


# --- validation errors -------------------------------------------------------------------------


def test_undefined_template_variable_names_template_and_line(tmp_path: Path) -> None:
    err = plan_error(
        tmp_path,
        {
            "site.yml": "- hosts: web\n  roles: [app]\n",
            "roles/app/files/app.conf.j2": "a={{ inventory_hostname }}\nb={{ missing_var }}\n",
        },
    )
    assert where(err) == ("app.conf.j2", 2)
    assert "'missing_var' is undefined" in err.message


def test_undefined_variable_in_a_path_names_the_playbook_line(tmp_path: Path) -> None:
    book = (
        "- hosts: web\n  rtas:\n    - name: u\n      ship:\n        - 'conf/{{ flavour }}.conf'\n"
    )
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 5)
    assert "'flavour' is undefined" in err.message


def test_undefined_variable_in_a_variable_value(tmp_path: Path) -> None:
    book = "- hosts: web\n  vars:\n    a: 1\n    b: '{{ nope }}'\n  rtas:\n    - name: u\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 4)
    assert "variable 'b'" in err.message


def test_variable_cycle_is_an_error(tmp_path: Path) -> None:
    book = "- hosts: web\n  vars:\n    a: '{{ b }}'\n    b: '{{ a }}'\n  rtas:\n    - name: u\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert "a -> b -> a" in err.message
    assert where(err) == ("site.yml", 3)  # a, then every other variable of the cycle
    assert err.also == (Location(str(tmp_path / "site.yml"), 4),)


def test_missing_ship_file_names_the_entry(tmp_path: Path) -> None:
    book = U + "      ship:\n        - here.txt\n        - gone.txt\n"
    err = plan_error(tmp_path, {"site.yml": book, "here.txt": "x"})
    assert where(err) == ("site.yml", 6)
    assert "no such file" in err.message and "gone.txt" in err.message


def test_ship_may_name_a_file_a_local_pre_step_creates(tmp_path: Path) -> None:
    book = (
        "- hosts: web\n  rtas:\n    - name: u\n      local_pre:\n"
        "        - {run: 'tar czf build/app.tgz src', creates: [build/app.tgz]}\n"
        "      ship: [build/app.tgz]\n"
    )
    plan = plan_for(tmp_path, {"site.yml": book})
    step = by_name(plan)["web1/01-web/u/ship/files"]
    (move,) = step.spec.files
    assert move.src == str(tmp_path / "build/app.tgz") and move.dest == "build/app.tgz"
    pre = by_name(plan)["web1/01-web/u/local_pre/01-tar-czf-build-app-tgz"]
    assert pre.spec.creates == (str(tmp_path / "build/app.tgz"),)


def test_unknown_hosts_pattern_suggests(tmp_path: Path) -> None:
    err = plan_error(tmp_path, {"site.yml": "- name: x\n  hosts: webb:db\n  rtas: [{name: u}]\n"})
    assert where(err) == ("site.yml", 2)
    assert "no host or group named 'webb'" in err.message
    assert "did you mean 'web'?" in err.message


def test_duplicate_step_names_are_refused(tmp_path: Path) -> None:
    book = (
        "- hosts: web\n  rtas:\n    - name: u\n      remote:\n"
        "        - {name: go, run: 'true'}\n        - {name: go, run: 'false'}\n"
    )
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 6)
    assert "duplicate step name 'go'" in err.message


def test_steps_whose_task_names_clash_are_refused(tmp_path: Path) -> None:
    # The loaders refuse such names; hosts made in code may still have them.
    inventory = make_inventory({"web": ["web 1", "web_1"]})
    err = plan_error(tmp_path, {"site.yml": U + "      remote: ['true']\n"}, inventory=inventory)
    assert "share the task name 'web_1/01-" in err.message
    assert err.message.endswith("/u/remote/01-true'")


def test_fetch_may_not_escape_the_host_dir(tmp_path: Path) -> None:
    book = "- hosts: web\n  rtas:\n    - name: u\n      fetch:\n        - {src: a, dest: ../../x}\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 5)
    assert "escapes" in err.message


def test_ship_dest_may_not_escape_the_work_dir(tmp_path: Path) -> None:
    book = "- hosts: web\n  rtas:\n    - name: u\n      ship:\n        - {src: a, dest: /etc/a}\n"
    err = plan_error(tmp_path, {"site.yml": book, "a": "x"})
    assert "must be a relative path" in err.message


def test_limit_leaving_a_play_without_hosts_skips_it_with_a_notice(tmp_path: Path) -> None:
    book = (
        "- name: dbs\n  hosts: db\n  rtas: [{name: u, remote: [ls]}]\n- name: webs\n  hosts: web\n"
    )
    plan = plan_for(
        tmp_path, {"site.yml": book + "  rtas: [{name: u, remote: [ls]}]\n"}, limit="web1"
    )
    assert plan.hosts == ("web1",)
    assert [p.hosts for p in plan.plays] == [(), ("web1",)]
    assert plan.notices == ("play 01-dbs (dbs): skipped, no hosts matched after --limit",)


def test_limit_with_a_typo_is_an_error(tmp_path: Path) -> None:
    err = plan_error(tmp_path, {"site.yml": "- hosts: all\n  rtas: [{name: u}]\n"}, limit="wbe1")
    assert "did you mean 'web1'?" in err.message


def test_limit_with_negation_and_ipv6_literal(tmp_path: Path) -> None:
    files = {"site.yml": "- hosts: all\n  rtas: [{name: u, remote: [ls]}]\n"}
    assert plan_for(tmp_path, files, limit="!web").hosts == ("db1",)
    assert plan_for(tmp_path, limit="2001:db8::2").hosts == ("web2",)


# --- graph semantics ---------------------------------------------------------------------------

ROLES = {
    "site.yml": "- hosts: all\n  roles: [web, db]\n",
    "roles/base/remote/10-base.sh": "echo base\n",
    "roles/base/files/base.txt": "base\n",
    "roles/web/role.yml": "depends: [base]\n",
    "roles/web/remote/10-web.sh": "echo web\n",
    "roles/db/role.yml": "depends: [base]\n",
    "roles/db/remote/10-db.sh": "echo db\n",
}


def test_role_runs_once_per_host_and_feeds_every_dependent(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, ROLES)
    web1 = [plan.task_name(s) for s in plan.steps if s.host == "web1"]
    assert web1 == [
        "web1/01-all/base/ship/files",
        "web1/01-all/base/remote/10-base.sh",
        "web1/01-all/web/remote/10-web.sh",
        "web1/01-all/db/remote/10-db.sh",
    ]
    steps = by_name(plan)
    base_last = steps["web1/01-all/base/remote/10-base.sh"]
    db_first = steps["web1/01-all/db/remote/10-db.sh"]
    assert base_last in plan.feeders(db_first)
    assert base_last in plan.feeders(steps["web1/01-all/web/remote/10-web.sh"])
    # db follows web by list order only: web's changes do not re-run db
    assert steps["web1/01-all/web/remote/10-web.sh"] in plan.predecessors(db_first)
    assert steps["web1/01-all/web/remote/10-web.sh"] not in plan.feeders(db_first)


def test_serial_batches_wait_for_the_previous_batch_through_one_barrier(tmp_path: Path) -> None:
    book = "- hosts: all\n  serial: [1, '50%']\n  rtas: [{name: u, remote: [a, b]}]\n"
    inventory = make_inventory({"all4": ["h1", "h2", "h3", "h4", "h5"]})
    plan = plan_for(tmp_path, {"site.yml": book}, inventory=inventory)
    assert plan.plays[0].batches == (("h1",), ("h2", "h3"), ("h4", "h5"))
    steps = by_name(plan)
    batch2, batch3 = plan.barriers
    assert (batch2.play, batch2.name, batch2.waits_for) == ("01-all", "batch-2", 1)
    assert (batch3.name, batch3.waits_for) == ("batch-3", 2)
    first_h2 = steps["h2/01-all/u/remote/01-a"]
    assert plan.predecessors(first_h2) == (batch2,)
    assert plan.predecessors(batch2) == (steps["h1/01-all/u/remote/02-b"],)
    assert plan.feeders(first_h2) == ()
    first_h4 = steps["h4/01-all/u/remote/01-a"]
    assert plan.predecessors(first_h4) == (batch3,)
    last_of_batch2 = (steps["h2/01-all/u/remote/02-b"], steps["h3/01-all/u/remote/02-b"])
    assert plan.predecessors(batch3) == last_of_batch2
    assert first_h2.signature != steps["h3/01-all/u/remote/01-a"].signature


def test_serial_edges_grow_linearly_with_hosts(tmp_path: Path) -> None:
    book = "- hosts: all\n  serial: '50%'\n  rtas: [{name: u, remote: [a, b]}]\n"
    for count in (10, 40):
        hosts = [f"h{i}" for i in range(count)]
        plan = plan_for(tmp_path, {"site.yml": book}, make_inventory({"all": hosts}))
        # a chain edge per host, then half the hosts into the barrier and half out of it
        assert len(plan.edges) == count + count // 2 + count // 2


def test_plays_are_barriers(tmp_path: Path) -> None:
    book = "- name: one\n  hosts: all\n  rtas: [{name: u, remote: [a]}]\n"
    book += "- name: two\n  hosts: web\n  rtas: [{name: v, remote: [b]}]\n"
    plan = plan_for(tmp_path, {"site.yml": book})
    steps = by_name(plan)
    (start,) = plan.barriers
    assert (start.play, start.name, start.waits_for) == ("02-two", "start", 3)
    ends = [steps[f"{h}/01-one/u/remote/01-a"] for h in ("web1", "web2", "db1")]
    assert plan.predecessors(start) == tuple(ends)
    assert plan.predecessors(steps["web2/02-two/v/remote/01-b"]) == (start,)
    assert plan.successors(start) == tuple(
        steps[f"{h}/02-two/v/remote/01-b"] for h in ("web1", "web2")
    )
    assert plan.nodes.index(start) == 3  # after every step of play one, before play two


def test_a_pipelined_play_waits_per_host(tmp_path: Path) -> None:
    book = "- name: one\n  hosts: all\n  rtas: [{name: u, remote: [a]}]\n"
    book += "- name: two\n  hosts: web\n  pipeline: true\n  rtas: [{name: v, remote: [b]}]\n"
    book += "- name: three\n  hosts: db\n  rtas: [{name: w, remote: [c]}]\n"
    plan = plan_for(tmp_path, {"site.yml": book})
    steps = by_name(plan)
    assert plan.plays[1].pipeline and not plan.plays[2].pipeline
    assert plan.predecessors(steps["web2/02-two/v/remote/01-b"]) == (
        steps["web2/01-one/u/remote/01-a"],
    )
    # the next barrier play waits for everything before it: play two and db1's play one
    (start,) = plan.barriers
    assert start.play == "03-three"
    assert {s.node for s in plan.predecessors(start)} == {
        steps["db1/01-one/u/remote/01-a"].node,
        steps["web1/02-two/v/remote/01-b"].node,
        steps["web2/02-two/v/remote/01-b"].node,
    }


def test_a_host_new_to_a_pipelined_play_waits_for_the_last_barrier(tmp_path: Path) -> None:
    book = "- name: one\n  hosts: web\n  rtas: [{name: u, remote: [a]}]\n"
    book += "- name: two\n  hosts: web1\n  rtas: [{name: v, remote: [b]}]\n"
    book += "- name: three\n  hosts: all\n  pipeline: true\n  rtas: [{name: w, remote: [c]}]\n"
    plan = plan_for(tmp_path, {"site.yml": book})
    steps = by_name(plan)
    (start,) = plan.barriers  # play two's
    assert plan.predecessors(steps["db1/03-three/w/remote/01-c"]) == (start,)
    assert plan.predecessors(steps["web2/03-three/w/remote/01-c"]) == (start,)
    assert plan.predecessors(steps["web1/03-three/w/remote/01-c"]) == (
        steps["web1/02-two/v/remote/01-b"],
    )


def test_pipeline_must_be_a_boolean(tmp_path: Path) -> None:
    book = "- hosts: web\n  pipeline: sometimes\n  rtas: [{name: u, remote: [a]}]\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 2)
    assert "pipeline" in err.message


def test_order_is_deterministic(tmp_path: Path) -> None:
    project = copy_project("golden", tmp_path)
    book = str(project / "playbooks/site.yml")
    first = build_plan(golden_inventory(), load_playbook(book))
    second = build_plan(golden_inventory(), load_playbook(book))
    assert [s.node for s in first.steps] == [s.node for s in second.steps]
    assert [s.signature for s in first.steps] == [s.signature for s in second.steps]
    for fmt in ("text", "dot", "mermaid", "json"):
        assert first.render(fmt) == second.render(fmt)


# --- signatures --------------------------------------------------------------------------------


def _signatures(project: Path, **kw: object) -> dict[str, str]:
    book = load_playbook(str(project / "playbooks/site.yml"))
    plan = build_plan(golden_inventory(), book, **kw)  # type: ignore[arg-type]
    return {plan.task_name(s): s.signature for s in plan.steps}


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    assert before.keys() == after.keys()
    return {name for name in before if before[name] != after[name]}


def test_changing_a_role_file_changes_only_what_it_feeds(tmp_path: Path) -> None:
    project = copy_project("golden", tmp_path)
    before = _signatures(project)
    (project / "roles/app/remote/20-again.sh").write_text("#!/bin/sh\necho changed >> app.out\n")
    changed = _changed(before, _signatures(project))
    expected = {
        f"{host}/01-site/app/{tail}"
        for host in ("web1", "web2", "db1")
        for tail in ("remote/20-again.sh", "fetch/files", "local_post/10-check.sh")
    }
    assert changed == expected


def test_changing_a_dependency_changes_its_dependents(tmp_path: Path) -> None:
    project = copy_project("golden", tmp_path)
    before = _signatures(project)
    (project / "roles/base/files/etc/static.txt").write_text("new\n")
    changed = _changed(before, _signatures(project))
    web1 = {name.split("/", 1)[1] for name in changed if name.startswith("web1/")}
    assert "01-site/base/ship/files" in web1
    assert "01-site/app/local_pre/10-prepare.sh" in web1
    assert "01-site/report/remote/10-report.sh" in web1
    assert not any("/adhoc/" in name or "02-rolling" in name for name in changed)


def test_a_host_variable_changes_only_that_host(tmp_path: Path) -> None:
    project = copy_project("golden", tmp_path)
    book = load_playbook(str(project / "playbooks/site.yml"))
    before = build_plan(golden_inventory(), book)
    inventory = make_inventory(
        {"web": ["web1", "web2"], "db": ["db1"]},
        host_vars={"db1": {"greeting": "hi"}, "web2": {"colour": "blue"}},
    )
    after = build_plan(inventory, book)
    changed = {s.host for s, t in zip(before.steps, after.steps, strict=True) if s != t}
    assert changed == {"web2"}


def test_template_content_is_rendered_per_host(tmp_path: Path) -> None:
    project = copy_project("golden", tmp_path)
    plan = build_plan(golden_inventory(), load_playbook(str(project / "playbooks/site.yml")))
    steps = by_name(plan)
    for host, greeting in (("web1", "hello"), ("db1", "hello")):  # play vars beat host vars
        moves = {m.dest: m for m in steps[f"{host}/01-site/base/ship/files"].spec.files}
        conf = moves["etc/base.conf"]
        assert (
            conf.content
            == f"# rendered for {host}\nport=8080\nmotd={greeting} from {host}\n".encode()
        )
        assert conf.src.endswith("base.conf.j2")
        assert moves["etc/static.txt"].content is None


def test_each_templated_string_is_compiled_once_per_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths and variable values are rendered for every host, but parsed and compiled once."""
    compiles: list[str] = []
    real = jinja2.Environment._parse

    def counting(self: jinja2.Environment, source: str, *args: object) -> object:
        compiles.append(source)
        return real(self, source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "_parse", counting)
    tag = tmp_path.name  # strings no earlier test compiled
    files = {
        "site.yml": (
            f"- hosts: all\n  vars: {{v: '{tag}-{{{{ inventory_hostname }}}}'}}\n"
            f"  remote_dir: '{tag}/{{{{ v }}}}'\n  rtas: [{{name: u, remote: ['true']}}]\n"
        )
    }
    hosts = [f"h{i}" for i in range(30)]
    plan = plan_for(tmp_path, files, make_inventory({"all": hosts}))
    assert {s.remote_dir for s in plan.steps} == {f"{tag}/{tag}-{h}" for h in hosts}
    mine = [source for source in compiles if tag in source]
    assert len(mine) <= 4, mine  # 2 strings, each parsed for its names and compiled: once


# --- variables, env, connections, dirs ---------------------------------------------------------


def test_variable_precedence(tmp_path: Path) -> None:
    files = {
        "site.yml": (
            "- hosts: web\n  vars: {p: play, q: play, r: play}\n"
            "  roles:\n    - {role: r1, vars: {q: param, r: param}}\n"
        ),
        "roles/r1/role.yml": "vars: {d: default, h: default, p: default, q: default, r: default}\n",
        "roles/r1/remote/10-x.sh": "true\n",
    }
    inventory = make_inventory(INVENTORY, host_vars={"web1": {"h": "host", "p": "host"}})
    plan = plan_for(tmp_path, files, inventory=inventory, extra_vars={"r": "extra"})
    values = env(by_name(plan)["web1/01-web/r1/remote/10-x.sh"])
    assert [values[k] for k in "dhpqr"] == ["default", "host", "play", "param", "extra"]


def test_hosts_share_the_strings_of_their_steps_inputs(tmp_path: Path) -> None:
    # A run keeps each step's inputs until it ends: each distinct name or value is one string.
    book = "- hosts: web\n  vars: {app_version: '1.0'}\n  rtas: [{name: u, remote: [x]}]\n"
    plan = plan_for(tmp_path, {"site.yml": book})
    first, second = (plan.inputs(step, str(tmp_path)) for step in plan.steps)
    assert first["vars.app_version"] == "=1.0"
    shared = [(a, b) for a in first for b in second if a == b and first[a] == second[b]]
    assert {a for a, _ in shared} >= {"vars.app_version", "command", "remote_dir"}
    for a, b in shared:
        assert a is b and first[a] is second[b], a


def test_step_env_has_context_and_json_for_non_strings(tmp_path: Path) -> None:
    files = {"site.yml": "- hosts: db\n  vars: {n: 3, l: [1, a], bad-name: x}\n"}
    files["site.yml"] += "  rtas: [{name: u, remote: [ls]}]\n"
    err_or_plan = None
    with pytest.raises(InputError) as caught:
        plan_for(tmp_path, files)
    err_or_plan = caught.value
    assert "not a valid variable name" in err_or_plan.message
    files["site.yml"] = files["site.yml"].replace(", bad-name: x", "")
    plan = plan_for(tmp_path, files, fetch_dir=str(tmp_path / "out"))
    (step,) = plan.steps
    values = env(step)
    assert values["n"] == "3" and values["l"] == '[1,"a"]'
    assert values["RORUNNER_HOST"] == "db1"
    assert values["RORUNNER_ADDRESS"] == "2001:db8::3"
    assert values["RORUNNER_PORT"] == "22"
    assert values["RORUNNER_REMOTE_DIR"] == ".rorunner/work/01-db"
    assert values["RORUNNER_FETCH_DIR"] == str(tmp_path / "out" / "db1")
    assert step.env == tuple(sorted(step.env))


def test_connection_spec_inventory_over_cli_defaults(tmp_path: Path) -> None:
    files = {"site.yml": "- hosts: all\n  rtas: [{name: u, remote: [ls]}]\n"}
    inventory = make_inventory(INVENTORY)
    hosts = dict(inventory.hosts)
    hosts["web1"] = dataclasses.replace(hosts["web1"], user="deploy", port=2222)
    inventory = Inventory(hosts=hosts, groups=inventory.groups)
    defaults = ConnectionDefaults(user="ops", known_hosts=("kh",), connect_timeout=3.0)
    plan = plan_for(tmp_path, files, inventory=inventory, defaults=defaults)
    conns = {s.host: s.conn for s in plan.steps}
    assert (conns["web1"].user, conns["web1"].port, conns["web1"].label) == ("deploy", 2222, "web1")
    assert (conns["web2"].user, conns["web2"].port) == ("ops", None)
    assert conns["web2"].known_hosts == ("kh",) and conns["web2"].connect_timeout == 3.0


def test_remote_and_fetch_dirs_are_templated_per_host(tmp_path: Path) -> None:
    files = {
        "site.yml": (
            "- hosts: web\n  remote_dir: '/srv/{{ inventory_hostname }}'\n"
            "  fetch_dir: 'out/{{ colour }}'\n  vars: {colour: red}\n"
            "  rtas: [{name: u, fetch: [/etc/os-release]}]\n"
        )
    }
    plan = plan_for(tmp_path, files)
    step = by_name(plan)["web2/01-web/u/fetch/files"]
    assert step.remote_dir == "/srv/web2"
    assert step.fetch_dir == str(tmp_path / "out/red/web2")
    (move,) = step.spec.files
    assert (move.src, move.dest) == (
        "/etc/os-release",
        str(tmp_path / "out/red/web2/etc/os-release"),
    )


def test_fetch_dir_sees_the_same_variables_as_remote_dir(tmp_path: Path) -> None:
    """Magic variables (group_names, play_name...) and ansible_host render in both dirs."""
    dirs = "{{ group_names[0] }}/{{ rorunner_play }}/{{ ansible_host }}"
    files = {
        "site.yml": (
            f"- name: Web\n  hosts: web\n  remote_dir: 'w/{dirs}'\n  fetch_dir: 'out/{dirs}'\n"
            "  rtas: [{name: u, fetch: [x.txt]}]\n"
        )
    }
    step = by_name(plan_for(tmp_path, files))["web2/01-web/u/fetch/files"]
    assert step.remote_dir == "w/web/01-web/2001:db8::2"
    assert step.fetch_dir == str(tmp_path / "out/web/01-web/2001:db8::2/web2")


def test_commands_are_never_templated(tmp_path: Path) -> None:
    book = "- hosts: web\n  rtas: [{name: u, remote: ['echo {{ undefined_thing }}']}]\n"
    plan = plan_for(tmp_path, {"site.yml": book})
    assert plan.steps[0].spec.command == "echo {{ undefined_thing }}"


def test_role_files_ship_with_their_modes_and_scripts_run_from_local_paths(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, ROLES)
    (tmp_path / "roles/base/files/base.txt").chmod(0o640)
    plan = plan_for(tmp_path)
    steps = by_name(plan)
    (move,) = steps["db1/01-all/base/ship/files"].spec.files
    assert (move.dest, move.mode) == ("base.txt", 0o640)
    script = steps["db1/01-all/base/remote/10-base.sh"].spec
    assert (script.kind, script.script) == (
        "remote",
        str(tmp_path / "roles/base/remote/10-base.sh"),
    )


def test_renderings(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, ROLES, limit="web1")
    node = plan.steps[0].node
    text = plan.render("text", {node: "would run"})
    assert text.splitlines()[0] == "web1 (2001:db8::1)"
    assert "01-all/base/ship/files" in text.splitlines()[1] and "would run" in text
    assert plan.render("dot").startswith("digraph plan {")
    assert "style=dashed" in plan.render("dot")
    assert plan.render("mermaid").startswith("flowchart LR")
    document = json.loads(plan.render("json", {node: "up to date"}))
    assert document["nodes"][0]["status"] == "up to date"
    assert document["nodes"][0]["host"] == "web1"
    assert {"from", "to", "feeds"} <= set(document["edges"][0])
    with pytest.raises(ValueError, match="unknown plan format"):
        plan.render("yaml")


@pytest.mark.parametrize(
    ("remote_dir", "expected"),
    [("~/deploy/app", "deploy/app"), ("/srv/app/", "/srv/app"), ("work//x/../y", "work/y")],
)
def test_remote_dir_is_normalised(tmp_path: Path, remote_dir: str, expected: str) -> None:
    book = f"- hosts: db\n  remote_dir: '{remote_dir}'\n  rtas: [{{name: u, remote: [ls]}}]\n"
    plan = plan_for(tmp_path, {"site.yml": book})
    assert plan.steps[0].remote_dir == expected


@pytest.mark.parametrize("remote_dir", ["~", "/", ".", "..", "../x", "~root/x", "{{ empty }}"])
def test_remote_dir_not_a_dir_of_its_own_is_refused(tmp_path: Path, remote_dir: str) -> None:
    book = f"- hosts: db\n  vars: {{empty: ''}}\n  remote_dir: '{remote_dir}'\n"
    err = plan_error(tmp_path, {"site.yml": book + "  rtas: [{name: u, remote: [ls]}]\n"})
    assert where(err) == ("site.yml", 3)
    assert "remote_dir" in err.message


def test_two_fetches_landing_on_one_file_are_refused(tmp_path: Path) -> None:
    book = U + "      fetch:\n        - a/x.log\n        - {src: /var/x.log, dest: a/x.log}\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 6)
    assert "two fetched files land at 'a/x.log'" in err.message


def test_a_path_that_renders_empty_is_refused(tmp_path: Path) -> None:
    book = "- hosts: db\n  vars: {f: ''}\n  rtas:\n    - name: u\n      ship: ['{{ f }}']\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 5)
    assert "empty" in err.message


def test_role_param_vars_apply_to_that_role_only(tmp_path: Path) -> None:
    files = {
        "site.yml": "- hosts: db\n  roles: [{role: a, vars: {x: param}}, b]\n",
        "roles/a/remote/10-a.sh": "true\n",
        "roles/b/role.yml": "vars: {x: default}\n",
        "roles/b/remote/10-b.sh": "true\n",
    }
    plan = plan_for(tmp_path, files)
    assert [env(s)["x"] for s in plan.steps] == ["param", "default"]


def test_templated_values_nest_and_extra_vars_win(tmp_path: Path) -> None:
    book = (
        "- hosts: db\n  vars:\n    base: /srv\n    paths: ['{{ base }}/a', {b: '{{ base }}/b'}]\n"
        "    ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
        "  rtas: [{name: u, remote: [ls]}]\n"
    )
    plan = plan_for(tmp_path, {"site.yml": book}, extra_vars={"base": "/opt"})
    values = env(plan.steps[0])
    assert json.loads(values["paths"]) == ["/opt/a", {"b": "/opt/b"}]
    # Ansible-only settings that template Ansible facts are kept as written, not an error
    assert values["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"


def test_empty_group_is_a_notice_not_an_error(tmp_path: Path) -> None:
    inventory = make_inventory({"web": ["web1"], "spare": []})
    book = "- name: spares\n  hosts: spare\n  max_fail_percentage: 25\n  rtas: [{name: u}]\n"
    plan = plan_for(tmp_path, {"site.yml": book}, inventory=inventory)
    assert plan.steps == ()
    assert plan.notices == (
        "play 01-spares (spares): skipped, no hosts matched by its hosts pattern",
    )
    (info,) = plan.plays
    assert (info.id, info.hosts, info.batches, info.max_fail_percentage) == (
        "01-spares",
        (),
        (),
        25.0,
    )


@pytest.mark.parametrize(
    ("serial", "sizes"),
    [((), [5]), ((2,), [2, 2, 1]), (("40%",), [2, 2, 1]), (("10%",), [1] * 5), ((1, 3), [1, 3, 1])],
)
def test_serial_batch_sizes(serial: tuple[int | str, ...], sizes: list[int]) -> None:

    hosts = ["a", "b", "c", "d", "e"]
    assert [len(batch) for batch in batches(hosts, serial)] == sizes


def test_created_files_keep_one_signature_whether_or_not_a_run_left_them(tmp_path: Path) -> None:
    book = (
        U + "      local_pre:\n        - {run: 'echo x > out/a.txt', creates: [out/a.txt]}\n"
        "      ship: [out/a.txt]\n      fetch: [/etc/hostname]\n"
    )
    before = [s.signature for s in plan_for(tmp_path, {"site.yml": book}).steps]
    (tmp_path / "out").mkdir()
    (tmp_path / "out/a.txt").write_text("left by the last run\n")
    plan = plan_for(tmp_path)
    assert [s.signature for s in plan.steps] == before
    (move,) = by_name(plan)["web1/01-web/u/ship/files"].spec.files
    assert (move.mode, move.content) == (None, None)


def test_plan_order_is_a_topological_order_networkx_agrees(tmp_path: Path) -> None:
    """networkx, as an independent check: the plan is a DAG, every edge points forward in plan
    order, and predecessors/successors/feeders agree with the graph's edges."""
    import networkx as nx

    project = copy_project("golden", tmp_path)
    book = load_playbook(str(project / "playbooks/site.yml"))
    plan = build_plan(golden_inventory(), book)
    graph = plan.to_networkx()
    assert nx.is_directed_acyclic_graph(graph)
    assert list(graph.nodes) == [n.node for n in plan.nodes]
    assert plan.barriers  # the golden project's second play opens with one
    rank = {node.node: index for index, node in enumerate(plan.nodes)}
    assert all(rank[a] < rank[b] for a, b in graph.edges)
    for step in plan.nodes:
        preds = sorted(graph.predecessors(step.node), key=rank.__getitem__)
        assert [s.node for s in plan.predecessors(step)] == preds
        succs = sorted(graph.successors(step.node), key=rank.__getitem__)
        assert [s.node for s in plan.successors(step)] == succs
        feeding = [p for p in preds if graph.edges[p, step.node]["feeds"]]
        if isinstance(step, PlanStep):
            assert [s.node for s in plan.feeders(step)] == feeding
        else:
            assert feeding == []  # a barrier carries no change


def test_steps_made_quickly_are_plain_plan_steps(tmp_path: Path) -> None:
    """The planner's quick constructor (plan/_newstep.py) makes the very PlanStep the
    dataclass's own would: equal, same hash, same repr, still frozen."""
    project = copy_project("golden", tmp_path)
    plan = build_plan(golden_inventory(), load_playbook(str(project / "playbooks" / "site.yml")))
    assert plan.steps
    for step in plan.steps:
        fields = [getattr(step, field.name) for field in dataclasses.fields(PlanStep)]
        again = PlanStep(*fields)
        assert type(step) is PlanStep
        assert (step == again, hash(step), repr(step)) == (True, hash(again), repr(again))
        with pytest.raises(dataclasses.FrozenInstanceError):
            step.signature = ""  # type: ignore[misc]
