"""The `rorunner` process ends a `play` without the interpreter's teardown (end_now), once
its output is flushed and no thread the usual exit waits for runs; what the run wrote is
whole (the next run is answered from its plan cache). Other commands, and a program that
runs rorunner as a module and goes on after, exit as usual."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from rorunner.__main__ import end_now

REPO = Path(__file__).resolve().parents[1]
# `rorunner ARGS` as `python -m rorunner` runs it (rorunner's module is the process's
# __main__ while it runs), with an exit handler that says whether the usual exit ran.
AS_MAIN = """\
import atexit, runpy, sys
atexit.register(lambda: print("USUAL EXIT", flush=True))
sys.argv = ["rorunner"] + sys.argv[1:]
runpy.run_module("rorunner", run_name="__main__", alter_sys=True)
"""
# `rorunner ARGS` as the installed command runs it: the console script's entry point.
AS_COMMAND = """\
import atexit, sys
from importlib.metadata import entry_points
atexit.register(lambda: print("USUAL EXIT", flush=True))
(command,) = entry_points(group="console_scripts", name="rorunner")
sys.argv = ["rorunner"] + sys.argv[1:]
sys.exit(command.load()())
"""
# The same, run as a module by a program that goes on after.
AS_MODULE = """\
import atexit, runpy, sys
atexit.register(lambda: print("USUAL EXIT", flush=True))
sys.argv = ["rorunner"] + sys.argv[1:]
try:
    runpy.run_module("rorunner", run_name="__main__")
except SystemExit as exc:
    print("WENT ON", exc.code, "click" in sys.modules)
"""


def _rorunner(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _project(root: Path) -> Path:
    (root / "hosts.ini").write_text("h1 ansible_connection=local\nh2 ansible_connection=local\n")
    (root / "site.yml").write_text(
        "- hosts: all\n  remote_dir: d\n  rtas:\n    - name: s\n      remote: [echo hi]\n"
    )
    return root


def test_play_ends_without_the_usual_exit_and_leaves_its_run_whole(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = _rorunner(AS_MAIN, project, "play", "site.yml", "-i", "hosts.ini")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "USUAL EXIT" not in done.stdout
    assert done.stdout.endswith("\n") and "h2" in done.stdout  # the recap, flushed whole
    (record,) = (project / ".rorunner" / "runs").glob("*[0-9].json")
    assert json.loads(record.read_text())["exit_code"] == 0
    again = _rorunner(AS_MODULE, project, "play", "site.yml", "-i", "hosts.ini")
    # answered from the plan cache the first run saved (before the CLI is even imported)
    assert "WENT ON 0 False" in again.stdout, again.stdout + again.stderr


def test_the_installed_command_ends_a_play_as_python_m_rorunner_does(tmp_path: Path) -> None:
    project = _project(tmp_path)
    done = _rorunner(AS_COMMAND, project, "play", "site.yml", "-i", "hosts.ini")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "USUAL EXIT" not in done.stdout and "h2" in done.stdout
    listed = _rorunner(AS_COMMAND, REPO, "inventory", "-i", "inventories/example.ini", "--list")
    assert listed.returncode == 0 and "USUAL EXIT" in listed.stdout


def test_a_failed_play_ends_with_its_exit_code(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "site.yml").write_text(
        "- hosts: all\n  remote_dir: d\n  rtas:\n    - name: s\n      remote: [exit 3]\n"
    )
    done = _rorunner(AS_MAIN, project, "play", "site.yml", "-i", "hosts.ini")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "USUAL EXIT" not in done.stdout


def test_other_commands_and_a_program_running_rorunner_exit_as_usual(tmp_path: Path) -> None:
    listed = _rorunner(AS_MAIN, REPO, "inventory", "-i", "inventories/example.ini", "--list")
    assert listed.returncode == 0 and "USUAL EXIT" in listed.stdout
    project = _project(tmp_path)
    ran = _rorunner(AS_MODULE, project, "play", "site.yml", "-i", "hosts.ini")
    assert ran.returncode == 0 and "WENT ON 0 True" in ran.stdout and "USUAL EXIT" in ran.stdout


def test_end_now_leaves_a_waiting_thread_and_a_message_to_the_usual_exit() -> None:
    release = threading.Event()
    waiting = threading.Thread(target=release.wait, args=(30,))
    waiting.start()
    try:
        end_now(SystemExit(0))  # returns: the usual exit would wait for `waiting`
    finally:
        release.set()
        waiting.join()
    end_now(SystemExit("rorunner: a message"))  # returns: the usual exit prints it
