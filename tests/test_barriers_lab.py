"""Plays are barriers (issue 10): through the CLI against the lab, proved by timestamps that the
steps write, never by timing thresholds; `pipeline: true` lets each host go on alone. A play's
local_after, like the next play, sees what every host of the play fetched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.play_project import remote_dir_for

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.lab

# h1 is slow in the first play (a 5 s step); the play's local_after and a play on the
# controller (localhost) then read what every host of the first play fetched.
BARRIER = """\
- name: work
  hosts: all:!control
  remote_dir: "{remote_dir}"
  local_after:
    - run: >-
        date +%s.%N > after.start &&
        for f in "$RORUNNER_FETCH_ROOT"/*/done.txt; do echo "$f $(cat "$f")"; done > after.seen
  rtas:
    - name: w
      remote:
        - run: '[ "$RORUNNER_HOST" != h1 ] || sleep 5; date +%s.%N > done.txt'
      fetch:
        - done.txt
- name: aggregate
  hosts: control
  rtas:
    - name: a
      local_pre:
        - run: >-
            date +%s.%N > aggregate.start &&
            for f in fetched/*/done.txt; do echo "$f $(cat "$f")"; done > aggregate.seen
"""

# The slow host h1 ends its first play only once a host has started the next one (a file the
# next play's first step makes on the controller; waited for at most 60 s, then it fails).
PIPELINE = """\
- name: work
  hosts: all:!control
  remote_dir: "{remote_dir}"
  rtas:
    - name: w
      remote:
        - echo one > one.txt
      local_post:
        - run: >-
            if [ "$RORUNNER_HOST" = h1 ]; then i=0;
            while [ ! -e next-play-started ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done;
            test -e next-play-started; fi &&
            mkdir -p "stamps/$RORUNNER_HOST" && date +%s.%N > "stamps/$RORUNNER_HOST/end1"
          timeout: 90
- name: next
  hosts: all:!control
  pipeline: true
  rtas:
    - name: n
      local_pre:
        - run: >-
            mkdir -p "stamps/$RORUNNER_HOST" && date +%s.%N > "stamps/$RORUNNER_HOST/start2" &&
            touch next-play-started
"""


def _project(tmp_path: Path, lab: Lab, book: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(book.format(remote_dir=remote_dir_for(tmp_path.name)))
    inventory = lab.inventory_ini.read_text() + "\n[control]\nlocalhost ansible_connection=local\n"
    (project / "hosts.ini").write_text(inventory)
    return project


def _play(project: Path, lab: Lab, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "rorunner", "play", str(project / "site.yml")]
    argv += ["-i", str(project / "hosts.ini"), "--known-hosts", str(lab.known_hosts)]
    argv += ["--private-key", str(lab.client_key), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=project, timeout=240)


def test_the_next_play_starts_after_every_host_ended_the_previous_one(
    tmp_path: Path, lab: Lab
) -> None:
    project = _project(tmp_path, lab, BARRIER)
    dry = _play(project, lab, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    barrier = (
        "-- barrier 02-aggregate > start: 02-aggregate starts when all work before it has ended"
    )
    assert f"{barrier} ({len(lab.hosts)} hosts)" in dry.stdout.splitlines()

    done = _play(project, lab)
    assert done.returncode == 0, done.stdout + done.stderr
    hosts = sorted(h.name for h in lab.hosts)
    for prefix, name in ((f"{project}/", "after"), ("", "aggregate")):
        lines = (project / f"{name}.seen").read_text().splitlines()
        seen = dict(line.split() for line in lines)
        assert sorted(seen) == [f"{prefix}fetched/{h}/done.txt" for h in hosts]  # h1 included
        start = float((project / f"{name}.start").read_text())
        assert all(float(stamp) <= start for stamp in seen.values()), (name, start, seen)


def test_a_pipelined_play_lets_a_fast_host_start_before_a_slow_one_ended(
    tmp_path: Path, lab: Lab
) -> None:
    project = _project(tmp_path, lab, PIPELINE)
    graph = _play(project, lab, "--graph", "text")
    assert graph.returncode == 0, graph.stdout + graph.stderr
    assert "-- " not in graph.stdout  # no barrier: the second play pipelines

    done = _play(project, lab)
    assert done.returncode == 0, done.stdout + done.stderr
    stamps = project / "stamps"
    slow_end = float((stamps / "h1" / "end1").read_text())
    first_in = min(float(p.read_text()) for p in stamps.glob("*/start2"))
    assert first_in < slow_end  # a host was in play two while h1 was still in play one
    # and every host still ran its own plays in order
    for host in (h.name for h in lab.hosts):
        assert float((stamps / host / "end1").read_text()) <= float(
            (stamps / host / "start2").read_text()
        )
