"""Planner, issue 10: a play's run-once controller steps, no silent overwrites on a host, and a
role's own work dir."""

from __future__ import annotations

from pathlib import Path

from rorunner.model import CONTROLLER, Barrier
from rorunner.plan import Selection
from tests.test_plan import by_name, plan_error, plan_for, where

TWO_PLAYS = """\
- name: one
  hosts: all
  local_before:
    - run: make-artefact
      creates: [build/a.tgz]
    - name: tell
      run: echo starting
  local_after:
    - name: report
      run: cat fetched/*/x
  rtas: [{name: u, ship: [build/a.tgz], remote: [install]}]
- name: two
  hosts: web
  serial: 1
  local_after: [echo done]
  rtas: [{name: v, remote: [b]}]
"""


def test_controller_steps_run_once_around_the_play(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"site.yml": TWO_PLAYS})
    steps = by_name(plan)
    make = steps["@controller/01-one/play/local_before/01-make-artefact"]
    tell = steps["@controller/01-one/play/local_before/tell"]
    report = steps["@controller/01-one/play/local_after/report"]
    assert (make.host, make.role, make.spec.kind, make.conn.connection) == (
        CONTROLLER,
        "play",
        "local",
        "local",
    )
    assert plan.predecessors(make) == () and plan.feeders(tell) == (make,)
    hosts = ("web1", "web2", "db1")
    for host in hosts:  # every host starts the play after the local_before steps
        ship = steps[f"{host}/01-one/u/ship/files"]
        assert tell in plan.predecessors(ship)
        assert make in plan.feeders(ship)  # it ships what `make` makes
    lasts = tuple(steps[f"{h}/01-one/u/remote/01-install"] for h in hosts)
    assert plan.predecessors(report) == lasts  # after every host of the play
    start = plan.barriers[0]
    assert (start.play, start.name) == ("02-two", "start")
    assert plan.predecessors(start) == (report,)  # the next play waits for it too
    done = steps["@controller/02-two/play/local_after/01-echo-done"]
    batch2 = plan.barriers[1]
    assert plan.predecessors(done) == (steps["web2/02-two/v/remote/01-b"],)
    assert plan.predecessors(steps["web2/02-two/v/remote/01-b"]) == (batch2,)
    assert dict(report.env)["RORUNNER_FETCH_ROOT"] == str(tmp_path / "fetched")
    assert "RORUNNER_HOSTS" not in dict(report.env)  # known at run time only


def test_a_pipelined_play_still_waits_for_its_local_before(tmp_path: Path) -> None:
    book = "- name: one\n  hosts: all\n  rtas: [{name: u, remote: [a]}]\n"
    book += "- name: two\n  hosts: web\n  pipeline: true\n  local_before: [prepare]\n"
    book += "  rtas: [{name: v, remote: [b]}]\n"
    plan = plan_for(tmp_path, {"site.yml": book})
    steps = by_name(plan)
    prepare = steps["@controller/02-two/play/local_before/01-prepare"]
    assert plan.predecessors(prepare) == ()  # no barrier to wait for: it may run at once
    assert plan.predecessors(steps["web1/02-two/v/remote/01-b"]) == (
        steps["web1/01-one/u/remote/01-a"],
        prepare,
    )
    assert not any(isinstance(node, Barrier) for node in plan.nodes)


def test_controller_steps_see_play_and_extra_vars_not_a_host(tmp_path: Path) -> None:
    book = "- hosts: web\n  vars: {colour: blue, shade: '{{ colour }}-ish'}\n"
    book += "  local_after: [report]\n  rtas: [{name: u, remote: [a]}]\n"
    plan = plan_for(tmp_path, {"site.yml": book}, extra_vars={"release": "2"})
    env = dict(by_name(plan)["@controller/01-web/play/local_after/01-report"].env)
    assert (env["colour"], env["shade"], env["release"]) == ("blue", "blue-ish", "2")
    assert "RORUNNER_HOST" not in env
    host_book = book.replace("'{{ colour }}-ish'", "'{{ inventory_hostname }}'")
    err = plan_error(tmp_path, {"site.yml": host_book})
    assert where(err) == ("site.yml", 2)
    assert "'inventory_hostname' is undefined" in err.message


def test_creates_is_for_local_pre_and_local_before_only(tmp_path: Path) -> None:
    book = "- hosts: web\n  local_after:\n    - {run: x, creates: [a]}\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 3)
    assert "only allowed in local_pre and local_before" in err.message


def test_the_fetch_root_of_controller_steps_must_be_one_directory(tmp_path: Path) -> None:
    book = "- hosts: web\n  fetch_dir: 'out/{{ inventory_hostname }}'\n"
    book += "  local_after: [report]\n  rtas: [{name: u, remote: [a]}]\n"
    err = plan_error(tmp_path, {"site.yml": book})
    assert where(err) == ("site.yml", 2)
    assert "need one fetch root" in err.message
    cli = plan_for(tmp_path, {"site.yml": book}, fetch_dir=str(tmp_path / "got"))
    report = by_name(cli)["@controller/01-web/play/local_after/01-report"]
    assert dict(report.env)["RORUNNER_FETCH_ROOT"] == str(tmp_path / "got")


# --- no silent overwrites ----------------------------------------------------------------------

CLASH = {
    "site.yml": "- hosts: web\n  roles: [app, motd]\n",
    "roles/app/files/motd": "from app\n",
    "roles/motd/files/motd.j2": "hello {{ inventory_hostname }}\n",
}


def test_two_roles_shipping_one_path_name_both_sources(tmp_path: Path) -> None:
    err = plan_error(tmp_path, CLASH)
    assert err.location is not None and err.location.path.endswith("roles/motd/files/motd.j2")
    assert [str(p) for p in err.also] == [str(tmp_path / "roles/app/files/motd")]
    assert "'.rorunner/work/01-web/motd' of a host: role app" in err.message
    assert "role app (play 01-web) and then role motd (play 01-web)" in err.message
    assert "override: [motd] in its role.yml" in err.message


def test_override_and_work_subdir_settle_a_clash(tmp_path: Path) -> None:
    marked = {**CLASH, "roles/motd/role.yml": "override: [motd]\n"}
    plan = plan_for(tmp_path / "marked", marked)
    assert by_name(plan)["web1/01-web/motd/ship/files"].spec.files[0].dest == "motd"
    wrong = {**CLASH, "roles/app/role.yml": "override: [motd]\n"}  # the earlier one: no
    assert "two steps ship" in plan_error(tmp_path / "wrong", wrong).message
    typo = {**CLASH, "roles/motd/role.yml": "override: [mtod]\n"}
    err = plan_error(tmp_path / "typo", typo)
    assert where(err) == ("role.yml", 1)
    assert "'mtod' is not a file of this role's files/ (did you mean 'motd'?)" in err.message
    own = {**CLASH, "roles/motd/role.yml": "work_subdir: true\n"}
    steps = by_name(plan_for(tmp_path / "own", own))
    motd = steps["web1/01-web/motd/ship/files"]
    assert motd.remote_dir == ".rorunner/work/01-web/motd"
    assert dict(motd.env)["RORUNNER_REMOTE_DIR"] == ".rorunner/work/01-web/motd"
    assert steps["web1/01-web/app/ship/files"].remote_dir == ".rorunner/work/01-web"
    use = {**CLASH, "site.yml": "- hosts: web\n  roles: [app, {role: motd, work_subdir: true}]\n"}
    assert by_name(plan_for(tmp_path / "use", use))[
        "web1/01-web/motd/ship/files"
    ].remote_dir.endswith("/motd")


def test_inline_entries_clash_across_plays_with_their_lines(tmp_path: Path) -> None:
    book = "- hosts: all\n  remote_dir: w\n  rtas:\n    - name: a\n      ship:\n"
    book += "        - {src: one.conf, dest: app.conf}\n"
    book += "- hosts: web\n  remote_dir: w\n  rtas:\n    - name: b\n      ship:\n"
    book += "        - {src: two.conf, dest: app.conf%s}\n"
    files = {"site.yml": book % "", "one.conf": "1\n", "two.conf": "2\n"}
    err = plan_error(tmp_path, files)
    assert where(err) == ("site.yml", 12)
    assert [p.line for p in err.also] == [6]
    assert "'w/app.conf' of a host: rtas a (play 01-all) and then rtas b (play 02-web)" in (
        err.message
    )
    assert "override: true on its ship entry" in err.message
    marked = plan_for(tmp_path / "marked", {**files, "site.yml": book % ", override: true"})
    assert by_name(marked)["web2/02-web/b/ship/files"].spec.files[0].dest == "app.conf"


def test_the_same_role_in_two_plays_sharing_a_work_dir_is_no_clash(tmp_path: Path) -> None:
    book = "- hosts: all\n  remote_dir: w\n  roles: [app]\n"
    book += "- hosts: web\n  remote_dir: w\n  roles: [app]\n"
    files = {"site.yml": book, "roles/app/files/app.conf": "x\n"}
    assert len(plan_for(tmp_path, files).steps) == 5


def test_a_plays_controller_steps_stay_while_tags_keep_a_step_of_the_play(tmp_path: Path) -> None:
    book = TWO_PLAYS.replace("rtas: [{name: v,", "rtas: [{name: v, tags: [web],")
    plan = plan_for(tmp_path, {"site.yml": book}, selection=Selection(tags=frozenset({"web"})))
    controller = [(s.play, s.phase) for s in plan.steps if s.host == CONTROLLER]
    assert controller == [("02-two", "local_after")]  # play one kept no step: nor its own
    assert {s.role for s in plan.steps if s.host != CONTROLLER} == {"v"}


SECRETS = {
    "site.yml": (
        "- hosts: web\n  roles: [app]\n  rtas:\n    - name: u\n"
        "      ship: [{src: token, secret: true}, plain.conf]\n      remote: [use]\n"
    ),
    "token": "t0k\n",
    "plain.conf": "x\n",
    "roles/app/role.yml": "secret: [key.pem]\n",
    "roles/app/files/key.pem": "k\n",
    "roles/app/files/app.conf": "a\n",
}


def test_secret_files_are_marked_and_removed_by_a_last_step_per_host(tmp_path: Path) -> None:
    plan = plan_for(tmp_path / "ok", SECRETS)
    steps = by_name(plan)
    role = {m.dest: m for m in steps["web1/01-web/app/ship/files"].spec.files}
    assert (role["key.pem"].secret, role["app.conf"].secret) == (True, False)
    assert role["key.pem"].digest == "" and role["app.conf"].digest != ""
    inline = {m.dest: m.secret for m in steps["web1/01-web/u/ship/files"].spec.files}
    assert inline == {"token": True, "plain.conf": False}
    cleanup = steps["web1/01-web/play/cleanup/secrets"]
    assert cleanup.spec.kind == "remote" and cleanup.spec.command == "rm -f -- key.pem token"
    assert plan.feeders(cleanup) == (steps["web1/01-web/u/remote/01-use"],)
    assert [s.phase for s in plan.steps if s.host == "web1"][-1] == "cleanup"
    typo = {**SECRETS, "roles/app/role.yml": "secret: [key.pen]\n"}
    err = plan_error(tmp_path / "typo", typo)
    assert "'key.pen' is not a file of this role's files/ (did you mean 'key.pem'?)" in err.message
