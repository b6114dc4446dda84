"""Reasons before a run: every plan mistake at once (in line order, naming the hosts a
mistake hits when not all), and `--dry-run` naming the inputs that changed; through the CLI
against the sshd lab."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

from tests.lab import Lab
from tests.play_book import REPO, Book, example_project

THREE_SCHEMA_MISTAKES = """\
- name: one
  hots: all
  rtas: [{name: a, remote: ['true']}]
- name: two
  hosts: all
  serial: lots
  rtas: [{name: b, remote: ['true']}]
- name: three
  hosts: all
  rtas:
    - name: c
      remote:
        - {rn: true}
"""


def test_three_mistakes_in_a_playbook_are_reported_at_once_in_line_order(
    tmp_path: Path, lab: Lab
) -> None:
    book = Book(tmp_path, lab, THREE_SCHEMA_MISTAKES)
    before = {h.name: h.accepted() for h in lab.hosts}
    result = book.run("--private-key", str(lab.client_key))
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(": ")[2] for line in lines] == [
        f"{book.path}:2",
        f"{book.path}:6",
        f"{book.path}:13",
    ], result.stderr
    assert all(line.startswith("rorunner: error: ") for line in lines)
    assert "'hots'" in lines[0] and "serial" in lines[1] and "'rn'" in lines[2]
    assert {h.name: h.accepted() for h in lab.hosts} == before
    assert not (tmp_path / ".rorunner").exists()


PLAN_MISTAKES = """\
- name: plan
  hosts: all
  remote_dir: "REMOTE_DIR"
  rtas:
    - name: conf
      ship: ["files/app-{{ app_port }}.conf"]
    - name: gone
      ship: [files/missing.txt]
- name: nobody
  hosts: nosuchgroup
  rtas: [{name: x, remote: ['true']}]
"""


def test_plan_mistakes_come_together_and_a_variable_missing_on_some_hosts_names_them(
    tmp_path: Path, lab: Lab
) -> None:
    first = lab.hosts[0].name
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        lab.inventory_ini.read_text().replace(f"\n{first} ", f"\n{first} app_port=80 ", 1)
    )
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "app-80.conf").write_text("port 80\n")
    book = Book(tmp_path, lab, PLAN_MISTAKES, inventory)
    result = book.run()
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line.removeprefix("rorunner: error: ") for line in result.stderr.splitlines()]
    others = [h.name for h in lab.hosts[1:]]
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith(f"{book.path}:6: ") and "'app_port' is undefined" in lines[0]
    assert lines[0].endswith(f" (on {len(others)} of {len(lab.hosts)} hosts: {', '.join(others)})")
    assert lines[1].startswith(f"{book.path}:8: ") and "files/missing.txt" in lines[1]
    assert "(on " not in lines[1]  # every host: no host list
    assert lines[2].startswith(f"{book.path}:10: ") and "nosuchgroup" in lines[2]


def _play(argv: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*argv, *extra], capture_output=True, text=True, env=env, timeout=180)


def _verdicts(out: str) -> list[tuple[str, str, str]]:
    """(host, step, reason) of every step a dry run would run."""
    found, host = [], ""
    for line in out.splitlines():
        if line.startswith("[") and line.endswith("]"):
            host = line[1:-1]
        elif line.startswith("  would run  "):
            step, _, reason = line.removeprefix("  would run  ").partition(" (")
            found.append((host, step, reason.removesuffix(")")))
    return found


def test_dry_run_names_the_var_or_the_template_that_changed(tmp_path: Path, lab: Lab) -> None:
    argv, _books = example_project(tmp_path, lab)
    first = _play(argv)
    assert first.returncode == 0, first.stdout + first.stderr

    changed = _play(argv, "--dry-run", "-e", "release=2.0")
    assert changed.returncode == 0, changed.stderr
    verdicts = _verdicts(changed.stdout)
    site = [v for v in verdicts if v[1].startswith("01-site > ")]
    # every step of play 1 (the controller's fleet report too)...
    assert len(site) == 16 * len(lab.hosts) + 1, changed.stdout
    for _host, _step, reason in site:
        assert reason.startswith("inputs changed: vars.release 1.0 -> 2.0"), changed.stdout
    for _host, _step, reason in verdicts[len(site) :]:  # ...and play 2, which had no `release`
        assert reason == "inputs changed: vars.release (new: 2.0)", changed.stdout

    template = tmp_path / "roles" / "webapp" / "files" / "app.conf.j2"
    template.write_text(template.read_text() + "# edited\n")
    edited = _play(argv, "--dry-run")
    assert edited.returncode == 0, edited.stderr
    by_step: dict[str, set[str]] = {}
    for host, step, reason in _verdicts(edited.stdout):
        by_step.setdefault(step, set()).add(
            reason.replace(f"predecessor {host}/", "predecessor H/")
        )
    assert by_step["01-site > webapp > ship > files"] == {
        "inputs changed: file ../roles/webapp/files/app.conf.j2"
    }
    assert by_step["01-site > webapp > remote > 10-install.sh"] == {
        "inputs changed: predecessor H/01-site/webapp/ship/files"
    }
    assert "01-site > common > ship > files" not in by_step  # not fed by the template


SECRET_INPUT = """\
- name: s
  hosts: h1
  remote_dir: "REMOTE_DIR"
  vars:
    db_password: "first-password"
    colour: blue
  rtas:
    - name: u
      remote: ['test -n "$db_password"']
"""


def test_stored_inputs_keep_secret_like_variables_by_name_only(tmp_path: Path, lab: Lab) -> None:
    book = Book(tmp_path, lab, SECRET_INPUT)
    result = book.run("--private-key", str(lab.client_key))
    assert result.returncode == 0, result.stdout + result.stderr
    db = sqlite3.connect(tmp_path / ".rorunner" / "deps.sqlite")
    try:
        rows = [json.loads(data) for (data,) in db.execute("select task_data from doit")]
    finally:
        db.close()
    saved = [row["_values_:"] for row in rows if "_values_:" in row]  # doit's key for values
    (inputs,) = [values["rorunner.inputs"] for values in saved]
    assert inputs["vars.db_password"] is None and inputs["vars.colour"] == "=blue"
    assert "first-password" not in json.dumps(rows)

    book.path.write_text(book.path.read_text().replace("first-password", "second-password"))
    dry = book.run("--private-key", str(lab.client_key), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert _verdicts(dry.stdout) == [
        ("h1", "01-s > u > remote > 01-test-n-db-password", "inputs changed: a secret input: "
         "vars.db_password")
    ]  # fmt: skip
    assert "first-password" not in dry.stdout and "second-password" not in dry.stdout
