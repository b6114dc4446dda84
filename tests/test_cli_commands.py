"""The command group: every subcommand is listed, but only the invoked one's module is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inventory_helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
# Runs `rorunner ARGS` in a fresh interpreter, then prints which of our modules got imported.
PROBE = """\
import sys, runpy
sys.argv = ['rorunner'] + sys.argv[1:]
try:
    runpy.run_module('rorunner', run_name='__main__')
except SystemExit as e:
    code = e.code
print('EXIT', code)
print('LOADED', ' '.join(sorted(m for m in sys.modules if m.startswith('rorunner'))))
"""


def _probe(*args: str) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines()[-2:])
    assert set(lines) == {"EXIT", "LOADED"}, done.stdout + done.stderr
    return int(lines["EXIT"]), set(lines["LOADED"].split())


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.code == 0, result
    commands = result.out.split("Commands:", 1)[1].split()
    assert {"inventory", "play", "run"} <= set(commands)


def test_play_imports_neither_the_inventory_commands_nor_the_ad_hoc_runner() -> None:
    code, loaded = _probe("play", "--help")
    assert code == 0
    assert "rorunner.cli._play" in loaded
    assert not loaded & {"rorunner.cli._inventory", "rorunner.adhoc", "rorunner.transport"}


def test_inventory_imports_no_transport_and_not_play() -> None:
    code, loaded = _probe("inventory", "-i", "inventories/example.ini", "--list")
    assert code == 0
    assert "rorunner.cli._inventory" in loaded and "rorunner.inventory" in loaded
    assert not loaded & {"rorunner.cli._play", "rorunner.adhoc", "rorunner.transport"}


@pytest.mark.parametrize(("args", "expected"), [(("plya",), 5), (("--version",), 0)])
def test_unknown_command_is_a_usage_error_and_version_works(
    args: tuple[str, ...], expected: int
) -> None:
    result = run_cli(*args)
    assert result.code == expected, result
    if expected == 0:
        assert "rorunner, version" in result.out
    else:
        assert "No such command 'plya'" in result.err


def test_a_plan_loads_jinja2_and_pyyaml_only_when_it_uses_them(tmp_path: Path) -> None:
    """jinja2 is loaded by the first template, PyYAML by the first to_yaml filter: a plan
    without templates (an unchanged re-run of one too) needs neither."""
    (tmp_path / "hosts.ini").write_text("h1 ansible_connection=local\n")
    book = "- hosts: all\n  remote_dir: DIR\n  rtas:\n    - name: s\n      remote: [hostname]\n"
    probe = PROBE + "print('LIBS', 'jinja2' in sys.modules, 'yaml' in sys.modules)\n"
    argv = [sys.executable, "-c", probe, "play", "site.yml", "-i", "hosts.ini", "--dry-run"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def loaded(remote_dir: str) -> str:
        (tmp_path / "site.yml").write_text(book.replace("DIR", remote_dir))
        done = subprocess.run(
            [*argv, "-e", "x=1"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert "EXIT 0" in done.stdout, done.stdout + done.stderr
        return done.stdout.splitlines()[-1]

    assert loaded("d1") == "LIBS False False"
    assert loaded("'d{{ x }}'") == "LIBS True False"
    assert loaded("'d{{ x | to_yaml | trim }}'") == "LIBS True True"
