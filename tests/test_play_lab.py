"""`rorunner play` end to end through the CLI against the sshd lab."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, LabHost
from tests.play_project import (
    remote_base,
    remote_count,
    remote_dir_for,
    remote_file,
    write_project,
)

REPO = Path(__file__).resolve().parents[1]


class Project:
    """A copy of the test project plus the command line to run it against the lab."""

    def __init__(self, root: Path, lab: Lab) -> None:
        self.tag = root.name
        self.books = write_project(root, self.tag)
        self.lab = lab

    def argv(self, book: str = "site.yml", *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "rorunner",
            "play",
            str(self.books / book),
            "-i",
            str(self.lab.inventory_ini),
            "--known-hosts",
            str(self.lab.known_hosts),
            "--private-key",
            str(self.lab.client_key),
            *extra,
        ]

    def run(self, book: str = "site.yml", *extra: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(
            self.argv(book, *extra),
            capture_output=True,
            text=True,
            env=env,
            cwd=self.books,
            timeout=120,
        )

    def base(self, host: LabHost) -> Path:
        return remote_base(self.lab, host)

    def count(self, host: str, name: str) -> int:
        return remote_count(self.base(self.lab.host(host)), self.tag, name)

    def accepted(self) -> dict[str, int]:
        return {h.name: h.accepted() for h in self.lab.hosts}

    def release(self) -> None:
        for host in self.lab.hosts:
            marker = remote_file(self.base(host), self.tag, "release")
            if marker.parent.exists():
                marker.touch()


@pytest.fixture
def project(tmp_path: Path, lab: Lab) -> Iterator[Project]:
    proj = Project(tmp_path, lab)
    try:
        yield proj
    finally:
        proj.release()


def _lines(result: subprocess.CompletedProcess[str], word: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(word)]


def test_site_runs_ships_fetches_and_local_steps_see_the_vars(project: Project) -> None:
    result = project.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PLAY RECAP" in result.stdout
    for host in project.lab.hosts:
        conf = remote_file(project.base(host), project.tag, "app.conf")
        assert conf.read_text() == f"host={host.name} colour=blue\n"
        assert conf.stat().st_mode & 0o777 == 0o644
        secret = remote_file(project.base(host), project.tag, "private/secret.txt")
        assert secret.read_text() == "s3cret\n" and secret.stat().st_mode & 0o777 == 0o600
        workdir = remote_file(project.base(host), project.tag, "")
        assert workdir.stat().st_mode & 0o777 == 0o700
        fetched = project.books / "fetched" / host.name / "app.conf"
        assert fetched.read_text() == conf.read_text()
        env = dict(
            line.split("=", 1)
            for line in (project.books / f"env-{host.name}.txt").read_text().splitlines()
        )
        assert env["RORUNNER_HOST"] == host.name
        assert env["RORUNNER_ADDRESS"] == host.address
        assert env["RORUNNER_FETCH_DIR"] == str(project.books / "fetched" / host.name)
        assert project.count(host.name, "base") == project.count(host.name, "app") == 1


def test_unchanged_rerun_is_all_up_to_date_and_connects_nowhere(project: Project) -> None:
    assert project.run().returncode == 0
    before = project.accepted()
    again = project.run("site.yml", "-v")  # -v lists the up-to-date steps
    assert again.returncode == 0, again.stdout + again.stderr
    statuses = {
        line.split()[0]
        for line in again.stdout.splitlines()
        if line.startswith(("ok", "changed", "skipped", "failed", "unreachable"))
    }
    assert statuses == {"skipped"}
    assert all("up to date" in line for line in _lines(again, "skipped"))
    assert project.accepted() == before


def test_unchanged_rerun_does_not_even_import_paramiko(project: Project) -> None:
    assert project.run().returncode == 0
    code = (
        "import sys, runpy\n"
        "sys.argv = ['rorunner'] + sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('rorunner', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('PARAMIKO', 'paramiko' in sys.modules)\n"
    )
    argv = [sys.executable, "-c", code, *project.argv()[3:]]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert "PARAMIKO False" in out.stdout, out.stdout + out.stderr


def test_changing_one_role_file_reruns_only_what_it_feeds(project: Project) -> None:
    assert project.run().returncode == 0
    template = project.books.parent / "roles" / "app" / "files" / "app.conf.j2"
    template.write_text("host={{ inventory_hostname }} colour={{ colour }} v2\n")
    again = project.run()
    assert again.returncode == 0, again.stdout
    ran = {
        " > ".join(line.split("] ", 1)[1].split(" > ")[1:3])
        for line in again.stdout.splitlines()
        if line.startswith(("ok", "changed"))
    }
    assert ran == {"app > ship", "app > remote", "app > fetch", "app > local_post"}
    for host in project.lab.hosts:
        assert project.count(host.name, "base") == 1
        assert project.count(host.name, "app") == 2
        assert project.count(host.name, "inline") == 1


def test_force_reruns_everything(project: Project) -> None:
    assert project.run().returncode == 0
    assert project.run("site.yml", "--force").returncode == 0
    assert {project.count(h.name, "base") for h in project.lab.hosts} == {2}


@pytest.mark.parametrize(
    ("limit", "expected"),
    [("web", {"h1", "h2"}), ("!web", {"h3", "h4"}), ("ADDRESS_OF_H3", {"h3"})],
)
def test_limit_touches_only_matched_hosts(project: Project, limit: str, expected: set[str]) -> None:
    if limit == "ADDRESS_OF_H3":
        limit = project.lab.host("h3").address
        expected = {h.name for h in project.lab.hosts if h.address == limit}
    result = project.run("site.yml", "-l", limit)
    assert result.returncode == 0, result.stdout + result.stderr
    touched = {h.name for h in project.lab.hosts if project.count(h.name, "base")}
    assert touched == expected


def test_one_host_failing_stops_only_that_host_exit_2(project: Project) -> None:
    result = project.run("fail.yml")
    assert result.returncode == 2, result.stdout + result.stderr
    assert project.count("h2", "before") == 1 and project.count("h2", "after") == 0
    for name in ("h1", "h3", "h4"):
        assert project.count(name, "after") == 1
    assert any(line.startswith("failed") and "[h2]" in line for line in result.stdout.splitlines())


def test_unreachable_host_exit_4(project: Project) -> None:
    down = project.lab.host("h4")
    down.stop_sshd()
    try:
        result = project.run("fail.yml")
    finally:
        down.start_sshd()
    assert result.returncode == 4, result.stdout + result.stderr
    assert any(
        line.startswith("unreachable") and "[h4]" in line for line in result.stdout.splitlines()
    )
    assert project.count("h1", "after") == 1


def _start_slow(project: Project, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        project.argv("slow.yml", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=project.books,
    )
    deadline = time.monotonic() + 60
    started = [remote_file(project.base(h), project.tag, "started") for h in project.lab.hosts]
    while not all(p.exists() for p in started):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc


def _names_the_cut_steps(project: Project, out: str) -> None:
    """The interrupt message names every step that was running, and what that means."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("interrupted:"))
    assert "they run again on the next run" in lines[head], out
    cut = set(lines[head + 1 : head + 1 + len(project.lab.hosts)])
    slow = "01-slow > s > remote > 02-echo-x-count-slow-touch"
    assert cut == {f"    [{h.name}] {slow}" for h in project.lab.hosts}, out
    assert lines[-1].startswith("interrupted after "), out
    record = json.loads(Path(lines[head - 1].removeprefix("run record: ")).read_text())
    reasons = {s["host"]: s["reason"] for s in record["steps"] if s["step"] == slow.split()[-1]}
    cut_short = "interrupted while running: it runs again on the next run"
    assert reasons == {h.name: cut_short for h in project.lab.hosts}, record["steps"]


def test_kill_9_during_a_slow_step_then_rerun_repeats_only_that_step(project: Project) -> None:
    proc = _start_slow(project)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    project.release()
    result = project.run("slow.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for host in project.lab.hosts:
        assert project.count(host.name, "one") == 1
        assert project.count(host.name, "slow") == 2
        assert project.count(host.name, "three") == 1


def test_kill_9_during_a_slow_step_then_verify_repeats_only_that_step(project: Project) -> None:
    # The killed run's slow command goes on, and once released its own shell appends its
    # record (issue 10): the host then claims the step, which did finish; --verify's re-run
    # still does exactly the work the killed run left unfinished.
    proc = _start_slow(project)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    project.release()
    deadline = time.monotonic() + 30
    for host in project.lab.hosts:
        state = remote_file(project.base(host), project.tag, ".rorunner-state.json")
        while "02-echo-x-count-slow-touch" not in (state.read_text() if state.exists() else ""):
            assert time.monotonic() < deadline, host.name
            time.sleep(0.05)
    result = project.run("slow.yml", "--verify")
    assert result.returncode == 0, result.stdout + result.stderr
    for host in project.lab.hosts:
        assert project.count(host.name, "one") == 1
        assert project.count(host.name, "slow") == 2
        assert project.count(host.name, "three") == 1


def test_second_concurrent_run_exits_1_naming_the_pid(project: Project) -> None:
    proc = _start_slow(project)
    try:
        second = project.run("slow.yml")
    finally:
        project.release()
        proc.communicate(timeout=60)
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"pid {proc.pid}" in second.stderr
    assert proc.returncode == 0


def test_dry_run_connects_nowhere_and_says_why(project: Project) -> None:
    before = project.accepted()
    dry = project.run("site.yml", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "[h1]" in dry.stdout
    assert all("(new)" in line for line in dry.stdout.splitlines() if "would run" in line)
    assert project.accepted() == before
    assert project.run().returncode == 0
    after_run = project.accepted()
    again = project.run("site.yml", "--dry-run")
    assert "would run" not in again.stdout and "up to date" in again.stdout
    assert project.accepted() == after_run


def test_graph_json_has_statuses_and_runs_nothing(project: Project) -> None:
    before = project.accepted()
    out = project.run("site.yml", "--graph", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["nodes"] and all(n.get("status") for n in data["nodes"])
    assert project.accepted() == before


def test_json_prints_the_run_record(project: Project) -> None:
    out = project.run("site.yml", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert set(record["hosts"]) == {h.name for h in project.lab.hosts}
    assert record["hosts"]["h1"]["state"] == "changed"  # it ran steps against the host
    assert all(step["status"] in ("ok", "changed") for step in record["steps"])
    stored = project.books / ".rorunner" / "runs" / f"{record['run_id']}.json"
    assert record == json.loads(stored.read_text())  # --json prints the run record itself


def test_ctrl_c_exits_99_and_the_rerun_repeats_only_the_interrupted_step(
    project: Project,
) -> None:
    proc = _start_slow(project)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 99, out + err
    _names_the_cut_steps(project, out)
    project.release()
    result = project.run("slow.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for host in project.lab.hosts:
        assert project.count(host.name, "one") == 1
        assert project.count(host.name, "slow") == 2
        assert project.count(host.name, "three") == 1


def test_a_step_interrupted_under_force_runs_again_on_a_plain_rerun(project: Project) -> None:
    first = _start_slow(project)
    project.release()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    for host in project.lab.hosts:
        remote_file(project.base(host), project.tag, "release").unlink()
        remote_file(project.base(host), project.tag, "started").unlink()
    forced = _start_slow(project, "--force")
    forced.send_signal(signal.SIGINT)
    out, err = forced.communicate(timeout=60)
    assert forced.returncode == 99, out + err
    _names_the_cut_steps(project, out)
    project.release()
    result = project.run("slow.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for host in project.lab.hosts:
        # Once in the first run, once in the forced run, once more now: it never finished.
        assert project.count(host.name, "slow") == 3
        assert project.count(host.name, "one") == 2  # the forced run repeated it; now up to date
        assert project.count(host.name, "three") == 1


def test_plan_error_exits_3_with_file_and_line_and_connects_nowhere(project: Project) -> None:
    book = project.books / "bad.yml"
    book.write_text("- name: bad\n  hosts: all\n  roles:\n    - nosuchrole\n")
    before = project.accepted()
    result = project.run("bad.yml")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"{book}:4" in result.stderr
    assert project.accepted() == before


def test_example_site_completes_and_an_unchanged_rerun_connects_nowhere(
    tmp_path: Path, lab: Lab
) -> None:
    for part in ("playbooks", "roles"):
        shutil.copytree(REPO / part, tmp_path / part)
    books = tmp_path / "playbooks"
    argv = [
        sys.executable,
        "-m",
        "rorunner",
        "play",
        str(books / "site.yml"),
        "-i",
        str(lab.inventory_ini),
        "--known-hosts",
        str(lab.known_hosts),
        "--private-key",
        str(lab.client_key),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    for host in lab.hosts:
        fetched = books / "fetched" / host.name
        assert (fetched / "release.txt").read_text() == "release 1.0\n"
        if lab.mode == "loopback":
            continue  # the example's work dir is under the login HOME, shared by loopback hosts
        work = host.home / ".rorunner" / "work" / "01-site"
        assert work.stat().st_mode & 0o777 == 0o700
        motd = (work / "motd").read_text()
        assert motd.startswith(f"{host.name} ({host.address}) is managed by rorunner.")
        assert (work / "motd").stat().st_mode & 0o777 == 0o644
        assert (work / "bin" / "health.sh").stat().st_mode & 0o111
        assert (work / "release.txt").read_text() == "release 1.0\n"
    before = {h.name: h.accepted() for h in lab.hosts}
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    # At most one line per play (its counts) before the recap, and the final line after it.
    lines = again.stdout.splitlines()
    recap = lines.index("PLAY RECAP " + "*" * 60)
    assert lines[recap - 1] == ""
    assert [line.split(" done in ")[0] for line in lines[: recap - 1]] == [
        "play 01-site [Site]",
        "play 02-web-tier-check [Web tier check]",
    ], again.stdout
    assert all(line.endswith(" up to date") for line in lines[: recap - 1]), again.stdout
    assert lines[-1].startswith("finished in ") and lines[-1].endswith(" up to date")
    # host lines (the @controller's too: the example's fleet report), run record, final line
    assert len(lines) == recap + 1 + len(lab.hosts) + 1 + 2
    assert {h.name: h.accepted() for h in lab.hosts} == before


def test_extra_vars_fetch_dir_roles_path_and_project_known_hosts(tmp_path: Path, lab: Lab) -> None:
    books = write_project(tmp_path / "proj", tmp_path.name)
    moved = tmp_path / "elsewhere" / "roles"
    moved.parent.mkdir(parents=True)
    (books.parent / "roles").rename(moved)
    state = books / ".rorunner"
    state.mkdir()
    shutil.copy(lab.known_hosts, state / "known_hosts")  # the default: beside the playbook
    extra = tmp_path / "extra.yml"
    extra.write_text("colour: green\n")
    argv = [
        sys.executable,
        "-m",
        "rorunner",
        "play",
        str(books / "site.yml"),
        "-i",
        str(lab.inventory_ini),
        "--private-key",
        str(lab.client_key),
        "-e",
        f"@{extra}",
        "-e",
        "unused=1",
        "--fetch-dir",
        str(tmp_path / "got"),
        "--roles-path",
        str(moved),
        "-l",
        "h1",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}  # no ~/.ssh fallback
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    h1 = lab.host("h1")
    conf = remote_file(remote_base(lab, h1), tmp_path.name, "app.conf").read_text()
    assert conf == "host=h1 colour=green\n"
    assert (tmp_path / "got" / "h1" / "app.conf").read_text() == conf


SERIAL = """\
- name: rolling
  hosts: all
  serial: 2
  remote_dir: "{remote_dir}"
{limit}  rtas:
    - name: r
      remote:
        - test "$RORUNNER_HOST" != h1
        - echo x >> count.done
"""


@pytest.mark.parametrize(("limit", "done"), [("", {"h2", "h3", "h4"}), ("0", set())])
def test_serial_batches_and_max_fail_percentage(
    project: Project, limit: str, done: set[str]
) -> None:
    """A failure in batch 1 does not stop batch 2, unless max_fail_percentage is exceeded
    (then h2, in h1's batch, may or may not have finished: hosts run freely, not in lockstep)."""
    extra = f"  max_fail_percentage: {limit}\n" if limit else ""
    book = project.books / "serial.yml"
    book.write_text(SERIAL.format(remote_dir=remote_dir_for(project.tag), limit=extra))
    result = project.run("serial.yml")
    assert result.returncode == 2, result.stdout + result.stderr
    finished = {h.name for h in project.lab.hosts if project.count(h.name, "done")}
    assert finished - {"h2"} == done - {"h2"}
    if not limit:
        assert "h2" in finished


def test_one_fork_runs_everything_in_turn(project: Project) -> None:
    result = project.run("site.yml", "-f", "1", "-l", "web")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {h.name for h in project.lab.hosts if project.count(h.name, "app")} == {"h1", "h2"}
