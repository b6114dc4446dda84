"""The plan cache (issue 12) through the CLI: an unchanged re-run is answered without planning
(no rorunner.plan, networkx, jinja2, doit or paramiko imported: `python -X importtime` says
what a process imported), prints and records what a planned no-op does, and every kind of
input change makes the next run plan again and run what changed.

Hosts are `ansible_connection=local` (each with a work dir of its own); the lab test at the end
shows the same with sshd hosts and no login."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rorunner.records._plancache import recording
from rorunner.signing import ProjectKey
from tests.lab import Lab

REPO = Path(__file__).resolve().parents[1]
HEAVY = (
    "rorunner.plan",
    "networkx",
    "jinja2",
    "doit",
    "paramiko",
    "ruamel",
    "rorunner.transport",
    "click",
)
SITE = """\
- name: work
  hosts: all
  remote_dir: "{project}/remote/{{{{ inventory_hostname }}}}"
  roles: [app]
  rtas:
    - name: u
      local_pre:
        - run: mkdir -p build && echo "$RORUNNER_HOST" > "build/$RORUNNER_HOST.stamp"
          creates: ["build/{{{{ inventory_hostname }}}}.stamp"]
      ship:
        - "{{{{ inventory_hostname }}}}.txt"
        - tree
      remote:
        - cat "$RORUNNER_HOST.txt" > out.txt && echo "$greeting" >> out.txt
        - if [ -e "$RORUNNER_PLAYBOOK_DIR/hold" ]; then
            touch "$RORUNNER_PLAYBOOK_DIR/marks/$RORUNNER_HOST"; sleep 60; fi
        - test ! -e "$RORUNNER_PLAYBOOK_DIR/fail-$RORUNNER_HOST"
      fetch:
        - out.txt
"""
PASSWORD = "pass.txt"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    imported: frozenset[str]

    @property
    def planned(self) -> bool:
        """Whether this process made a plan (the cache did not answer)."""
        return "rorunner.plan" in self.imported

    def ran(self, host: str, where: str) -> bool:
        """Whether a step of `host` whose `play > role > phase > step` contains `where` ran."""
        return any(
            re.match(r"(ok|changed) ", line) and f"[{host}]" in line and where in line
            for line in self.out.splitlines()
        )


def play(
    project: Path, *extra: str, env: dict[str, str] | None = None, book: str = "site.yml"
) -> Run:
    """`rorunner play` in its own process, with what it imported."""
    argv = [sys.executable, "-X", "importtime", "-m", "rorunner", "play", book, "-i", "hosts.ini"]
    argv += ["--vault-password-file", PASSWORD, *extra]
    environ = env if env is not None else _env()
    done = subprocess.run(
        argv, capture_output=True, text=True, env=environ, cwd=project, timeout=300
    )
    return _result(done)


def _result(done: subprocess.CompletedProcess[str]) -> Run:
    """A finished process: its output apart from what -X importtime says it imported."""
    lines = done.stderr.splitlines()
    imports = [line for line in lines if line.startswith("import time:")]
    err = "\n".join(line for line in lines if not line.startswith("import time:"))
    imported = frozenset(line.rsplit("|", 1)[1].strip() for line in imports)
    return Run(done.returncode, done.stdout, err, imported)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def _ansible_vault(where: Path, *args: str) -> None:
    tool = Path(sys.executable).with_name("ansible-vault")
    subprocess.run([str(tool), *args], cwd=where, capture_output=True, timeout=120, check=True)


def _vault(project: Path, word: str) -> None:
    target = project / "group_vars" / "all" / "vault.yml"
    target.write_text(f"secret_word: {word}\n")
    _ansible_vault(project, "encrypt", "--vault-password-file", PASSWORD, str(target))


def make_project(root: Path) -> Path:
    """Two local hosts, a role (script, template from a vault value), a shipped tree."""
    project = root / "project"
    (project / "roles" / "app" / "remote").mkdir(parents=True)
    (project / "roles" / "app" / "files").mkdir()
    (project / "group_vars" / "all").mkdir(parents=True)
    (project / "tree" / "sub").mkdir(parents=True)
    (project / "marks").mkdir()
    (project / "site.yml").write_text(SITE.format(project=project))
    (project / "hosts.ini").write_text("a ansible_connection=local\nb ansible_connection=local\n")
    (project / "roles" / "app" / "remote" / "10-run.sh").write_text("#!/bin/sh\necho app\n")
    (project / "roles" / "app" / "files" / "app.conf.j2").write_text("word={{ secret_word }}\n")
    (project / "group_vars" / "all" / "plain.yml").write_text("greeting: hello\n")
    (project / "tree" / "sub" / "one.txt").write_text("one\n")
    (project / "vars.yml").write_text("extra: 1\n")
    (project / PASSWORD).write_text("correct horse\n")
    for host in ("a", "b"):
        (project / f"{host}.txt").write_text(f"{host}\n")
    _vault(project, "s1")
    return project


def settled(root: Path, *extra: str) -> Path:
    """A project after a completed run, whose unchanged re-run the cache answered."""
    project = make_project(root)
    cold = play(project, *extra)
    assert cold.code == 0, cold.out + cold.err
    again = play(project, *extra)
    assert again.code == 0, again.out + again.err
    assert not again.planned, again.err
    assert not again.imported.intersection(HEAVY), sorted(again.imported.intersection(HEAVY))
    return project


def _edit(path: str, text: str) -> Callable[[Path], None]:
    return lambda project: (project / path).write_text(text)


def _append(path: str, text: str) -> Callable[[Path], None]:
    def change(project: Path) -> None:
        with (project / path).open("a") as handle:
            handle.write(text)

    return change


def _remove(path: str) -> Callable[[Path], None]:
    return lambda project: (project / path).unlink()


# kind -> (change, extra args of the next run, host, the step that must run)
CHANGES: dict[str, tuple[Callable[[Path], None], tuple[str, ...], str, str]] = {
    "playbook edit": (
        lambda p: (p / "site.yml").write_text(
            (p / "site.yml").read_text().replace('echo "$greeting"', 'echo "$greeting" 2')
        ),
        (),
        "a",
        "remote > 01-cat",
    ),
    "role script edit": (
        _edit("roles/app/remote/10-run.sh", "#!/bin/sh\necho app 2\n"),
        (),
        "a",
        "app > remote",
    ),
    "shipped file edit": (_edit("a.txt", "a, edited\n"), (), "a", "u > ship"),
    "inventory edit": (
        _edit("hosts.ini", "a ansible_connection=local greeting=hi\nb ansible_connection=local\n"),
        (),
        "a",
        "remote > 01-cat",
    ),
    "group_vars edit": (
        _edit("group_vars/all/plain.yml", "greeting: bonjour\n"),
        (),
        "b",
        "remote > 01-cat",
    ),
    "host_vars file created": (
        lambda p: (
            (p / "host_vars").mkdir() or (p / "host_vars" / "b.yml").write_text("greeting: hej\n")
        ),
        (),
        "b",
        "remote > 01-cat",
    ),
    "vault file edit": (lambda p: _vault(p, "s2"), (), "a", "app > ship"),
    "file created in a shipped tree": (_edit("tree/sub/two.txt", "two\n"), (), "b", "u > ship"),
    "file deleted from a shipped tree": (_remove("tree/sub/one.txt"), (), "b", "u > ship"),
    "fetched file removed": (_remove("fetched/a/out.txt"), (), "a", "u > fetch"),
    "created file removed": (_remove("build/b.stamp"), (), "b", "u > local_pre"),
    "-e value": (lambda p: None, ("-e", "greeting=salut"), "a", "remote > 01-cat"),
    "--limit": (lambda p: None, ("-l", "b"), "b", "remote > 01-cat"),
}


@pytest.mark.parametrize("kind", list(CHANGES))
def test_an_input_change_makes_the_next_run_plan_and_run_it(tmp_path: Path, kind: str) -> None:
    change, extra, host, step = CHANGES[kind]
    limited = ("-l", "a") if kind == "--limit" else ()  # b never ran: -l b has work to do
    project = settled(tmp_path, *limited)
    change(project)
    after = play(project, *extra)
    assert after.code == 0, after.out + after.err
    assert after.planned
    assert after.ran(host, step), after.out
    if kind == "--limit":
        return
    again = play(project, *extra)  # and the run after it is answered from a new cache
    assert again.code == 0 and not again.planned, again.out + again.err
    assert not any(re.match(r"(ok|changed) ", line) for line in again.out.splitlines())


def test_a_vars_file_edit_is_an_input(tmp_path: Path) -> None:
    project = settled(tmp_path, "-e", "@vars.yml")
    (project / "vars.yml").write_text("greeting: moin\n")
    after = play(project, "-e", "@vars.yml")
    assert after.planned and after.ran("a", "remote > 01-cat"), after.out + after.err


def test_an_environment_change_plans_again(tmp_path: Path) -> None:
    project = settled(tmp_path)
    after = play(project, env=_env(RORUNNER_PLAN_CACHE_TEST="1"))
    assert after.code == 0 and after.planned, after.out + after.err
    assert not any(re.match(r"(ok|changed) ", line) for line in after.out.splitlines())
    again = play(project, env=_env(RORUNNER_PLAN_CACHE_TEST="1"))
    assert again.code == 0 and not again.planned


def test_another_rorunner_version_plans_again(tmp_path: Path) -> None:
    """A copy of rorunner whose version (and code) changes between two runs."""
    copy = tmp_path / "code"
    shutil.copytree(
        REPO / "rorunner", copy / "rorunner", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = _env(PYTHONPATH=str(copy))
    project = make_project(tmp_path)
    assert play(project, env=env).code == 0
    assert not play(project, env=env).planned
    init = copy / "rorunner" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "99.'))
    after = play(project, env=env)
    assert after.code == 0 and after.planned, after.out + after.err
    record = json.loads(Path(_record_path(after)).read_text())
    assert record["rorunner_version"].startswith("99.")


def test_a_db_changed_by_another_run_is_seen(tmp_path: Path) -> None:
    """Another playbook of the project (same play and steps, another greeting) re-runs the steps
    and stores their new signatures: this playbook's steps must run again."""
    project = settled(tmp_path)
    other = (
        (project / "site.yml")
        .read_text()
        .replace("roles: [app]", "roles: [app]\n  vars: {greeting: other}")
    )
    (project / "other.yml").write_text(other)
    done = play(project, book="other.yml")
    assert done.code == 0 and done.ran("a", "remote > 01-cat"), done.out + done.err
    after = play(project)
    assert after.planned and after.ran("a", "remote > 01-cat"), after.out + after.err


def test_a_step_that_failed_last_time_runs_again(tmp_path: Path) -> None:
    project = settled(tmp_path)
    (project / "fail-a").write_text("")
    failed = play(project, "--force")
    assert failed.code == 2, failed.out + failed.err
    (project / "fail-a").unlink()
    after = play(project)
    assert after.code == 0 and after.planned, after.out + after.err
    assert after.ran("a", "remote > 03-test")


def test_an_interrupted_run_is_resumed(tmp_path: Path) -> None:
    """A forced run killed (-9) while a step runs: the next plain run runs that step."""
    project = settled(tmp_path)
    (project / "hold").write_text("")
    argv = [sys.executable, "-m", "rorunner", "play", "site.yml", "-i", "hosts.ini"]
    argv += ["--vault-password-file", PASSWORD, "--force", "-f", "1", "-l", "a"]
    proc = subprocess.Popen(
        argv,
        cwd=project,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(600):  # bounded: 60 s
            if (project / "marks" / "a").exists():
                break
            time.sleep(0.1)
        assert (project / "marks" / "a").exists()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    (project / "hold").unlink()
    after = play(project)
    assert after.code == 0 and after.planned, after.out + after.err
    assert after.ran("a", "remote > 02-if")


def test_the_cached_answer_prints_and_records_what_a_planned_no_op_does(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    assert play(project).code == 0
    cached = play(project)
    planned = play(project, env=_env(RORUNNER_PLAN_CACHE_TEST="1"))  # the same, planned
    assert not cached.planned and planned.planned
    assert _normal(cached.out) == _normal(planned.out), cached.out + planned.out
    assert cached.err == planned.err
    a, b = (json.loads(Path(_record_path(r)).read_text()) for r in (cached, planned))
    for key in ("status", "exit_code", "totals", "hosts", "plays", "options", "argv", "command"):
        assert a[key] == b[key], key
    assert [_step(s) for s in a["steps"]] == [_step(s) for s in b["steps"]]
    plans = [Path(_record_path(r)).with_suffix(".plan.json") for r in (cached, planned)]
    assert plans[0].read_text() == plans[1].read_text()
    listed = subprocess.run(
        [sys.executable, "-m", "rorunner", "runs"],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert Path(_record_path(cached)).stem in listed.stdout


def test_options_the_cache_does_not_stand_for_plan(tmp_path: Path) -> None:
    project = settled(tmp_path)
    for extra in (("--force",), ("-v",), ("--dry-run",), ("--json",), ("--check",)):
        run = play(project, *extra)
        assert run.code == 0 and run.planned, (extra, run.out + run.err)
    forced = play(project, "--force")
    assert forced.ran("a", "u > ship")


def test_a_locked_project_is_not_answered_from_the_cache(tmp_path: Path) -> None:
    project = settled(tmp_path)
    with (project / ".rorunner" / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        run = play(project)
    assert run.code == 1 and run.planned and "locked" in run.err, run.out + run.err


def _record_path(run: Run) -> str:
    match = re.search(r"^run record: (.*)$", run.out, re.MULTILINE)
    assert match, run.out
    return match.group(1)


def _normal(out: str) -> str:
    out = re.sub(r"runs/\S+\.json", "runs/ID.json", out)
    return re.sub(r"in \d+\.\ds", "in Ts", out)


def _step(step: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in step.items() if k not in ("started_at", "ended_at")}


LAB_SITE = """\
- name: lab
  hosts: all
  rtas:
    - name: u
      ship:
        - app.conf
      remote:
        - cat app.conf > seen.txt
      fetch:
        - seen.txt
"""


def _lab_play(project: Path, lab: Lab) -> Run:
    argv = [sys.executable, "-X", "importtime", "-m", "rorunner", "play", "site.yml"]
    argv += ["-i", str(lab.inventory_ini), "--known-hosts", str(lab.known_hosts)]
    argv += ["--private-key", str(lab.client_key)]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=_env(), cwd=project, timeout=300
    )
    return _result(done)


def test_lab_hosts_unchanged_re_run_is_answered_without_a_login(tmp_path: Path, lab: Lab) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(LAB_SITE)
    (project / "app.conf").write_text("v1\n")
    cold = _lab_play(project, lab)
    assert cold.code == 0, cold.out + cold.err
    before = [host.accepted() for host in lab.hosts]
    again = _lab_play(project, lab)
    assert again.code == 0 and not again.planned, again.out + again.err
    assert not again.imported.intersection(HEAVY)
    assert [host.accepted() for host in lab.hosts] == before
    (project / "app.conf").write_text("v2\n")
    after = _lab_play(project, lab)
    assert after.code == 0 and after.planned, after.out + after.err
    assert all(after.ran(host.name, "u > ship") for host in lab.hosts), after.out
    for host in lab.hosts:
        assert (project / "fetched" / host.name / "seen.txt").read_text() == "v2\n"


def test_a_plan_from_a_pipe_is_not_cached(tmp_path: Path) -> None:
    """-e @/dev/stdin: a file with no state to compare; each run plans with what it reads."""
    project = make_project(tmp_path)
    argv = [sys.executable, "-X", "importtime", "-m", "rorunner", "play", "site.yml"]
    argv += ["-i", "hosts.ini", "--vault-password-file", PASSWORD, "-e", "@/dev/stdin"]
    runs = [
        _result(
            subprocess.run(
                argv,
                input=f"greeting: {word}\n",
                capture_output=True,
                text=True,
                env=_env(),
                cwd=project,
                timeout=300,
            )
        )
        for word in ("one", "one", "two")
    ]
    assert all(run.code == 0 and run.planned for run in runs), [r.out + r.err for r in runs]
    assert runs[2].ran("a", "remote > 01-cat"), runs[2].out


def test_a_plan_drawing_random_numbers_is_not_cached(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "group_vars" / "all" / "plain.yml").write_text(
        "greeting: \"{{ ['x', 'y', 'z'] | random }}\"\n"
    )
    runs = [play(project) for _ in range(3)]
    assert all(run.code == 0 and run.planned for run in runs), [r.out + r.err for r in runs]


def test_a_signing_key_another_run_saved_meanwhile_is_not_taken_for_this_runs(
    tmp_path: Path,
) -> None:
    # Planned with no key on disk (one made in memory); another run saves its own key
    # before this one saves: the cache must keep "no key" as what planning saw, so that it
    # never matches (play only calls made() for a key its own save wrote).
    state = tmp_path / ".rorunner"
    mine, theirs = ProjectKey(state), ProjectKey(state)
    with recording() as recorder:
        used = mine()
    assert theirs() != used and theirs.save()
    assert not mine.save()
    assert mine.path.read_bytes() != used
    seen = {k: v for k, v in recorder.inputs.items() if k.endswith(str(mine.path))}
    assert seen and set(seen.values()) == {"-"}
    now = recorder.current()
    assert all(now[k] != "-" for k in seen)  # a saved cache with these inputs never answers

    own = ProjectKey(tmp_path / "other")
    with recording() as recorder:
        own()
    assert own.save() and not own.save()  # written once, by this process
    recorder.made(own.path)
    assert recorder.current() == recorder.inputs
