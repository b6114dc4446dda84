"""Ansible habits through the CLI against the lab: tags, --start-at-step, --check, --diff.

What ran is read on the hosts themselves (counter files the steps append to)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.play_project import remote_count, remote_dir_for
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
