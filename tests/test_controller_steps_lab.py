"""A play's local_before and local_after (issue 10), through the CLI against the lab: run once
on the controller, before any host starts the play and after every host finished it, with
the hosts' outcomes in the environment; incremental like every step."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.play_project import play_cli, remote_base, remote_dir_for

pytestmark = pytest.mark.lab

# One artefact for all hosts (local_before), a per-host file, a step that fails on a host
# that has a `fail-here` file in its work dir, and an aggregate of the fetched files.
BOOK = """\
- name: deploy
  hosts: all
  remote_dir: "{remote_dir}"
  local_before:
    - name: build
      run: >-
        mkdir -p build && echo x >> before.count &&
        printf 'artefact for %s\\n' "$RORUNNER_HOSTS" > build/artefact.txt
      creates: [build/artefact.txt]
  local_after:
    - name: report
      run: >-
        echo x >> after.count &&
        env | grep -E '^RORUNNER_(HOSTS|HOSTS_OK|HOSTS_FAILED|FETCH_ROOT|PLAY)=' | sort
        > after.env &&
        for f in "$RORUNNER_FETCH_ROOT"/*/build/artefact.txt; do echo "$f"; done > after.seen
  rtas:
    - name: app
      ship:
        - build/artefact.txt
        - src: "conf/{{{{ inventory_hostname }}}}.conf"
          dest: host.conf
      remote:
        - test ! -e fail-here
      fetch:
        - build/artefact.txt
"""


def _project(tmp_path: Path, lab: Lab) -> Path:
    project = tmp_path / "project"
    (project / "conf").mkdir(parents=True)
    (project / "site.yml").write_text(BOOK.format(remote_dir=remote_dir_for(tmp_path.name)))
    for host in lab.hosts:
        (project / "conf" / f"{host.name}.conf").write_text(f"name={host.name}\n")
    return project


def _play(project: Path, lab: Lab, *extra: str) -> subprocess.CompletedProcess[str]:
    return play_cli(project, lab, *extra)


def _count(project: Path, name: str) -> int:
    path = project / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def _env(project: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (project / "after.env").read_text().splitlines())


def _record_path(result: subprocess.CompletedProcess[str]) -> Path:
    """The run record the output names."""
    return Path(result.stdout.split("run record: ")[1].splitlines()[0].strip())


def _ran(result: subprocess.CompletedProcess[str]) -> list[str]:
    """`host > play > role > phase > step` of every step that ran (ok or changed)."""
    return [
        line.split("[", 1)[1].split(" (")[0].replace("] ", " > ")
        for line in result.stdout.splitlines()
        if line.startswith(("ok ", "changed "))
    ]


def test_local_before_runs_once_and_local_after_sees_every_host(tmp_path: Path, lab: Lab) -> None:
    project = _project(tmp_path, lab)
    hosts = [h.name for h in lab.hosts]
    assert len(hosts) == 4

    dry = _play(project, lab, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "  would run  01-deploy > play > local_before > build (new)" in dry.stdout
    assert "  would run  01-deploy > play > local_after > report (new)" in dry.stdout
    graph = json.loads(_play(project, lab, "--graph", "json").stdout)
    controller = [n["id"] for n in graph["nodes"] if n["host"] == "@controller"]
    assert controller == [
        "@controller/01-deploy/play/local_before/build",
        "@controller/01-deploy/play/local_after/report",
    ]

    first = _play(project, lab)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _count(project, "before.count") == 1  # once for the 4 hosts
    assert _count(project, "after.count") == 1
    env = _env(project)
    assert env["RORUNNER_HOSTS"] == env["RORUNNER_HOSTS_OK"] == " ".join(hosts)
    assert env["RORUNNER_HOSTS_FAILED"] == ""
    assert env["RORUNNER_FETCH_ROOT"] == str(project / "fetched")
    seen = (project / "after.seen").read_text().split()
    assert seen == [str(project / "fetched" / h / "build" / "artefact.txt") for h in hosts]
    recap = first.stdout.split("PLAY RECAP", 1)[1]
    assert "@controller : ok=2  changed=0  skipped=0  failed=0" in recap
    record = json.loads(_record_path(first).read_text())
    assert {s["step"] for s in record["steps"] if s["host"] == "@controller"} == {
        "build",
        "report",
    }
    for host in lab.hosts:
        shipped = remote_base(lab, host) / ".rr-tests" / tmp_path.name / "build" / "artefact.txt"
        assert shipped.read_text() == f"artefact for {' '.join(hosts)}\n"

    again = _play(project, lab)  # nothing changed: neither runs again
    assert again.returncode == 0, again.stdout + again.stderr
    assert _ran(again) == []
    assert (_count(project, "before.count"), _count(project, "after.count")) == (1, 1)


def test_local_after_reruns_when_one_host_step_reran_and_sees_failures(
    tmp_path: Path, lab: Lab
) -> None:
    project = _project(tmp_path, lab)
    assert _play(project, lab).returncode == 0

    (project / "conf" / "h2.conf").write_text("name=h2 changed\n")
    changed = _play(project, lab)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert _ran(changed) == [
        "h2 > 01-deploy > app > ship > files",
        "h2 > 01-deploy > app > remote > 01-test-e-fail-here",
        "h2 > 01-deploy > app > fetch > files",
        "@controller > 01-deploy > play > local_after > report",
    ]
    assert (_count(project, "before.count"), _count(project, "after.count")) == (1, 2)

    h3 = lab.host("h3")
    work = remote_base(lab, h3) / ".rr-tests" / tmp_path.name
    (work / "fail-here").write_text("")
    failed = _play(project, lab, "--force")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    env = _env(project)
    assert env["RORUNNER_HOSTS_FAILED"] == "h3"
    assert env["RORUNNER_HOSTS_OK"] == "h1 h2 h4"
    assert _count(project, "after.count") == 3

    (work / "fail-here").unlink()
    fixed = _play(project, lab)  # h3's failed steps run again, so does the aggregate
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [step for step in _ran(fixed) if not step.startswith("h3 ")] == [
        "@controller > 01-deploy > play > local_after > report"
    ]
    assert _env(project)["RORUNNER_HOSTS_FAILED"] == ""


def test_a_failed_local_before_stops_the_play_on_every_host(tmp_path: Path, lab: Lab) -> None:
    project = _project(tmp_path, lab)
    book = project / "site.yml"
    book.write_text(book.read_text().replace("mkdir -p build &&", "false &&", 1))
    result = _play(project, lab)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "failed      [@controller] 01-deploy > play > local_before > build" in result.stdout
    assert _ran(result) == []
    record = json.loads(_record_path(result).read_text())
    host_steps = [s for s in record["steps"] if s["host"] != "@controller"]
    assert host_steps and {s["status"] for s in host_steps} == {"not_run"}
    assert {s["reason"] for s in host_steps} == {"local_before build of play 01-deploy failed"}
