"""Ansible habits through the CLI against the lab: tags, --start-at-step, --check, --diff.

What ran is read on the hosts themselves (counter files the steps append to)."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.play_project import remote_count, remote_dir_for, remote_file
from tests.test_play_lab import Project as PlayProject

TAGGED = """\
- name: deploy
  hosts: all
  remote_dir: "{remote_dir}"
  vars:
    colour: blue
  roles:
    - {{role: app, tags: [app]}}
  rtas:
    - name: inline
      tags: [inline]
      remote:
        - {{name: one, run: echo x >> count.one, tags: [one]}}
        - {{name: two, run: echo x >> count.two}}
        - {{name: dbg, run: echo x >> count.dbg, tags: [never, debug]}}
        - {{name: mark, run: echo x >> count.mark, tags: [always]}}
"""
COUNTERS = ("base", "app", "one", "two", "dbg", "mark")


class Project(PlayProject):
    """The test project (tests/play_project.py) plus a tagged playbook, run through the CLI."""

    def __init__(self, root: Path, lab: Lab) -> None:
        super().__init__(root, lab)
        (self.books / "tagged.yml").write_text(TAGGED.format(remote_dir=remote_dir_for(self.tag)))

    def counts(self) -> dict[str, dict[str, int]]:
        """Per host, how many times each counter was appended to."""
        return {
            host.name: {name: remote_count(self.base(host), self.tag, name) for name in COUNTERS}
            for host in self.lab.hosts
        }

    def same_everywhere(self) -> dict[str, int]:
        """The counters, which must be the same on every host."""
        counts = list(self.counts().values())
        assert all(c == counts[0] for c in counts), counts
        return counts[0]


@pytest.fixture
def project(tmp_path: Path, lab: Lab) -> Iterator[Project]:
    yield Project(tmp_path, lab)


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_tags_select_exactly_the_tagged_work_on_the_hosts(project: Project) -> None:
    _ok(project.run("tagged.yml", "--tags", "one"))
    assert project.same_everywhere() == {
        "base": 0,
        "app": 0,
        "one": 1,
        "two": 0,
        "dbg": 0,
        "mark": 1,  # always
    }
    runs = project.books / ".rorunner" / "runs"
    (record,) = [p for p in runs.glob("*.json") if not p.name.endswith(".plan.json")]
    options = json.loads(record.read_text())["options"]
    assert (options["tags"], options["skip_tags"]) == (["one"], [])
    _ok(project.run("tagged.yml", "--skip-tags", "app,always"))
    # `one` is up to date from the tagged run; `mark` (always) was skipped by name
    assert project.same_everywhere() == {
        "base": 0,
        "app": 0,
        "one": 1,
        "two": 1,
        "dbg": 0,
        "mark": 1,
    }
    _ok(project.run("tagged.yml", "-t", "debug"))
    assert project.same_everywhere() == {
        "base": 0,
        "app": 0,
        "one": 1,
        "two": 1,
        "dbg": 1,
        "mark": 1,
    }
    # a plain run: what ran under tags is up to date (same signatures); `never` stays out
    _ok(project.run("tagged.yml"))
    assert project.same_everywhere() == {
        "base": 1,
        "app": 1,
        "one": 1,
        "two": 1,
        "dbg": 1,
        "mark": 1,
    }


def test_start_at_step_skips_what_comes_before_it(project: Project) -> None:
    result = _ok(project.run("tagged.yml", "--start-at-step", "inline : remote/two", "--force"))
    assert project.same_everywhere() == {
        "base": 0,
        "app": 0,
        "one": 0,
        "two": 1,
        "dbg": 0,
        "mark": 1,
    }
    assert "inline > remote > one" not in result.stdout


# --- --check and --diff ---------------------------------------------------------------------

TEMPLATE = "host={{ inventory_hostname }} colour={{ colour }}{extra}\npassword={{ db_password }}\n"


def _host_files(project: Project) -> dict[str, dict[str, str]]:
    """Per host, the sha256 of every file in its work dir, temp files included."""
    state: dict[str, dict[str, str]] = {}
    for host in project.lab.hosts:
        work = remote_file(project.base(host), project.tag, "")
        state[host.name] = {
            str(path.relative_to(work)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(work.rglob("*"))
            if path.is_file()
        }
    return state


def _with_secret_template(project: Project) -> Path:
    """The app role's template also shows a secret-like variable, which the play sets."""
    template = project.books.parent / "roles/app/files/app.conf.j2"
    template.write_text(TEMPLATE.replace("{extra}", ""))
    site = project.books / "site.yml"
    site.write_text(site.read_text().replace("    colour: blue\n", SECRET_VARS))
    return template


SECRET_VARS = "    colour: blue\n    db_password: hunter2-pw\n"


def _diff_block(stdout: str, host: str) -> list[str]:
    """The lines of the diff shown for the app role's app.conf on `host`."""
    lines = stdout.splitlines()
    start = lines.index(f"diff [{host}] 01-deploy > app > ship > files: app.conf")
    end = next(  # a diff's lines start with -, +, @ or a space; other output may follow
        (i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("-", "+", "@", " ")),
        len(lines),
    )
    return lines[start + 1 : end]


def test_check_diff_shows_a_changed_template_and_changes_nothing(project: Project) -> None:
    template = _with_secret_template(project)
    _ok(project.run("site.yml"))
    template.write_text(TEMPLATE.replace("{extra}", " size=large"))
    before, logins = _host_files(project), project.accepted()
    runs = sorted((project.books / ".rorunner" / "runs").iterdir())
    alone = _ok(project.run("site.yml", "--check"))  # without --diff: no host is contacted
    assert project.accepted() == logins
    assert "would run  01-deploy > app > ship > files" in alone.stdout
    assert "remote state was not read (no host was contacted)" in alone.stdout
    assert all("app.conf" in files for files in before.values())
    result = _ok(project.run("site.yml", "--check", "--diff"))
    assert _host_files(project) == before  # same files, same contents: no temp file either
    hosts = [host.name for host in project.lab.hosts]
    assert f"diff: {len(hosts)} file(s) would change on {len(hosts)} host(s)" in result.stdout
    for host in hosts:
        block = _diff_block(result.stdout, host)
        assert block[0].startswith(f"--- before: {host}:") and block[0].endswith("/app.conf")
        assert block[1:] == [
            "+++ after: ../roles/app/files/app.conf.j2 (rendered)",
            "@@ -1,2 +1,2 @@",
            f"-host={host} colour=blue",
            f"+host={host} colour=blue size=large",
            " password=********",
        ]
    assert "hunter2-pw" not in result.stdout + result.stderr
    assert "cannot know without running:" in result.stdout
    assert sorted((project.books / ".rorunner" / "runs").iterdir()) == runs  # no run record
    # the check changed nothing here either: a real run with --diff shows the same and writes
    run = _ok(project.run("site.yml", "--diff"))
    for host in project.lab.hosts:
        assert _diff_block(run.stdout, host.name)[-2] == f"+host={host.name} colour=blue size=large"
        app = remote_file(project.base(host), project.tag, "app.conf")
        assert app.read_text() == f"host={host.name} colour=blue size=large\npassword=hunter2-pw\n"
    again = _ok(project.run("site.yml", "--check", "--diff"))
    assert "diff: no shipped file would change" in again.stdout


def test_check_diff_with_an_unreachable_host_exits_4(project: Project, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET6) as probe:  # a loopback port nobody listens on
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    ghost = tmp_path / "ghost.ini"
    ghost.write_text(f"ghost ansible_host=::1 ansible_port={port}\n")
    before = _host_files(project)
    result = project.run("site.yml", "--check", "--diff", "-i", str(ghost))
    assert result.returncode == 4, result.stdout + result.stderr
    assert any(
        line.startswith("diff [ghost]: unreachable: ") for line in result.stdout.splitlines()
    )
    hosts = [host.name for host in project.lab.hosts]
    assert f"would change on {len(hosts)} host(s)" in result.stdout  # the others were compared
    assert _host_files(project) == before
