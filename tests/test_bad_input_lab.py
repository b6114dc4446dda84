"""Issue 7's bad inputs (and issue 10's silent overwrite) through `rorunner play` against the
lab: exit 3, the error at the first place involved and `(also at ...)` naming every other one,
no login on any lab host, nothing created. The inventory is the lab's own (every host
reachable), so an input let through would connect and run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.lab import Lab

REPO = Path(__file__).resolve().parents[1]
SITE = """\
- name: site
  hosts: all
  rtas:
    - name: u
      remote: ["echo hi > got.txt"]
      fetch: [got.txt]
"""
NINE_MIB = 9 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    """Files written over the good project, extra argv, and where the error must point."""

    files: dict[str, str | bytes] = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    places: tuple[str, ...] = ()  # "file:line" (file relative to the project), first shown first
    words: str = ""
    as_typed: bool = False  # the places are printed as typed on the command line


def _ini(lab: Lab, extra: str) -> tuple[str, int]:
    """The lab's INI inventory with `extra` after it, and the line number `extra` starts at."""
    base = lab.inventory_ini.read_text()
    return base + extra, base.count("\n") + 1


def _yaml(lab: Lab, extra: str) -> tuple[str, int]:
    base = lab.inventory_yaml.read_text()
    return base + extra, base.count("\n") + 1


def _cases(lab: Lab) -> dict[str, Case]:
    host = lab.hosts[0].name
    twice, n1 = _ini(lab, f"[extra]\n{host} x=1 x=2\n")
    section, n2 = _ini(lab, "[web:vars]\ny=1\ny=2\n")
    cycle, n3 = _ini(lab, "[a:children]\nb\n[b:children]\na\n")
    ycycle, n4 = _yaml(lab, "x:\n  children:\n    y:\n      children:\n        x:\n")
    ydup, n5 = _yaml(lab, "x:\n  hosts:\n    h9:\n    h9:\n")
    latin1, n6 = _ini(lab, "# caf\xe9\n")
    nul, n7 = _ini(lab, f"[extra]\n{host} motd=a\x00b\n")
    big_ini, _ = _ini(lab, "# padding\n" * (NINE_MIB // 10))
    rtas = SITE.replace("  rtas:\n", "  rtas:\n    - name: u\n      remote: ['true']\n")
    steps = SITE.replace('["echo hi > got.txt"]', "\n        - {name: go, run: a}\n" * 2)
    return {
        "ini: a var twice on a host line": Case(
            {"hosts.ini": twice}, (), (f"hosts.ini:{n1 + 1}",), "'x=1' and 'x=2'"
        ),
        "ini: a var twice in a vars section": Case(
            {"hosts.ini": section},
            (),
            (f"hosts.ini:{n2 + 2}", f"hosts.ini:{n2 + 1}"),
            "variable 'y' is set twice in [web:vars]",
        ),
        "ini: group cycle, every edge": Case(
            {"hosts.ini": cycle},
            (),
            (f"hosts.ini:{n3 + 1}", f"hosts.ini:{n3 + 3}"),
            "group cycle: a -> b -> a",
        ),
        "yaml inventory: group cycle, every edge": Case(
            {"hosts.yml": ycycle},
            (),
            (f"hosts.yml:{n4 + 2}", f"hosts.yml:{n4 + 4}"),
            "group cycle: x -> y -> x",
        ),
        "yaml inventory: duplicate key, both lines": Case(
            {"hosts.yml": ydup}, (), (f"hosts.yml:{n5 + 3}", f"hosts.yml:{n5 + 2}"), "key 'h9'"
        ),
        "ini: invalid UTF-8 in a comment": Case(
            {"hosts.ini": latin1.encode("latin-1")},
            (),
            (f"hosts.ini:{n6}",),
            "not valid UTF-8: byte 0xe9 at column 6",
        ),
        "ini: NUL in a value": Case(
            {"hosts.ini": nul}, (), (f"hosts.ini:{n7 + 1}",), "U+0000 (NUL) at column"
        ),
        "ini: 9 MiB inventory": Case(
            {"hosts.ini": big_ini}, (), ("hosts.ini",), "file is too large: 9 MiB"
        ),
        "playbook: 9 MiB": Case(
            {"site.yml": SITE + "# padding\n" * (NINE_MIB // 10)},
            (),
            ("site.yml",),
            "file is too large: 9 MiB",
        ),
        "playbook: NUL in a comment": Case(
            {"site.yml": SITE.replace("  rtas:", "  # a\x00b\n  rtas:")},
            (),
            ("site.yml:3",),
            "control character U+0000 (NUL) at column 6",
        ),
        "playbook: duplicate key, both lines": Case(
            {"site.yml": SITE.replace("  hosts: all\n", "  hosts: all\n  hosts: web\n")},
            (),
            ("site.yml:3", "site.yml:2"),
            "duplicate key 'hosts'",
        ),
        "playbook: duplicate rtas names, both lines": Case(
            {"site.yml": rtas}, (), ("site.yml:6", "site.yml:4"), "duplicate rtas name 'u'"
        ),
        "playbook: duplicate step names, both lines": Case(
            {"site.yml": steps}, (), ("site.yml:8", "site.yml:6"), "duplicate step name 'go'"
        ),
        "roles: dependency cycle, every edge": Case(
            {
                "site.yml": "- hosts: all\n  roles: [app]\n",
                "roles/app/role.yml": "depends: [lib]\n",
                "roles/lib/role.yml": "vars: {a: 1}\ndepends: [app]\n",
            },
            (),
            ("roles/app/role.yml:1", "roles/lib/role.yml:2"),
            "role dependency cycle: app -> lib -> app",
        ),
        "playbook: a mapping, in the user's words": Case(
            {"site.yml": "hosts: all\n"},
            (),
            ("site.yml:1",),
            "a playbook is a list of plays, not a mapping",
        ),
        "playbook: a bad value as written": Case(
            {
                "site.yml": SITE.replace(
                    "  hosts: all\n", "  hosts: all\n  max_fail_percentage: 1.5e3\n"
                )
            },
            (),
            ("site.yml:3",),
            "'max_fail_percentage' must be at least 0 and at most 100, not 1.5e3",
        ),
        "roles: two roles ship to one remote path, both sources": Case(
            {
                "site.yml": "- name: site\n  hosts: all\n  roles: [app, motd]\n",
                "roles/app/files/motd": "from app\n",
                "roles/motd/files/motd.j2": "hello {{ inventory_hostname }}\n",
            },
            (),
            ("roles/motd/files/motd.j2", "roles/app/files/motd"),
            "two steps ship to the same remote path '.rorunner/work/01-site/motd' of a host",
        ),
        "-e: inline mapping with bad names": Case(
            {},
            ("-e", '{"1x": 1, "foo-bar": 2}'),
            ("<-e #1>:1",),
            "'1x' is not a valid variable name",
        ),
        "-e: k=v with a bad name": Case(
            {}, ("-e", "foo-bar=1"), ("<-e #1>",), "'foo-bar' is not a valid variable name"
        ),
        "-e: @file with a bad name": Case(
            {"vars.yml": "ok: 1\nfoo-bar: 2\n"},
            ("-e", "@vars.yml"),
            ("vars.yml:2",),
            "'foo-bar' is not a valid variable name",
            as_typed=True,
        ),
    }


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _play(root: Path, lab: Lab, inventory: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "rorunner", "play", str(root / "site.yml"), "-i", inventory]
    argv += ["--known-hosts", str(lab.known_hosts), "--private-key", str(lab.client_key)]
    return subprocess.run(
        [*argv, *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=root,
        timeout=120,
        check=False,
    )


def _project(root: Path, lab: Lab, files: dict[str, str | bytes]) -> str:
    """Write the good project plus `files`; return the inventory to use."""
    inventory = "hosts.yml" if "hosts.yml" in files else "hosts.ini"
    _write(root, {"site.yml": SITE, inventory: lab.inventory_ini.read_text(), **files})
    return str(root / inventory)


def _made(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".rorunner", root / "fetched") if p.exists())


def _place(root: Path, case: Case, place: str) -> str:
    return place if case.as_typed or place.startswith("<") else str(root / place)


def test_the_good_project_runs_on_every_host(tmp_path: Path, lab: Lab) -> None:
    """The baseline: unbroken, the project logs in everywhere and creates its state."""
    before = [host.accepted() for host in lab.hosts]
    done = _play(tmp_path, lab, _project(tmp_path, lab, {}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(n > b for n, b in zip((h.accepted() for h in lab.hosts), before, strict=True))
    assert _made(tmp_path) == [".rorunner", "fetched"]


NAMES = (
    "ini: a var twice on a host line",
    "ini: a var twice in a vars section",
    "ini: group cycle, every edge",
    "yaml inventory: group cycle, every edge",
    "yaml inventory: duplicate key, both lines",
    "ini: invalid UTF-8 in a comment",
    "ini: NUL in a value",
    "ini: 9 MiB inventory",
    "playbook: 9 MiB",
    "playbook: NUL in a comment",
    "playbook: duplicate key, both lines",
    "playbook: duplicate rtas names, both lines",
    "playbook: duplicate step names, both lines",
    "roles: dependency cycle, every edge",
    "playbook: a mapping, in the user's words",
    "playbook: a bad value as written",
    "roles: two roles ship to one remote path, both sources",
    "-e: inline mapping with bad names",
    "-e: k=v with a bad name",
    "-e: @file with a bad name",
)


def test_every_case_is_run(lab: Lab) -> None:
    assert sorted(NAMES) == sorted(_cases(lab))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_exits_3_names_every_line_and_connects_nowhere(
    tmp_path: Path, lab: Lab, name: str
) -> None:
    case = _cases(lab)[name]
    before = [host.accepted() for host in lab.hosts]
    done = _play(tmp_path, lab, _project(tmp_path, lab, case.files), *case.argv)
    assert done.returncode == 3, done.stderr
    first, *others = (_place(tmp_path, case, p) for p in case.places)
    assert done.stderr.startswith(f"rorunner: error: {first}: "), done.stderr
    also = f" (also at {', '.join(others)})\n" if others else "\n"
    assert done.stderr.endswith(also) and done.stderr.count("\n") == 1, done.stderr
    assert case.words in done.stderr, done.stderr
    assert [host.accepted() for host in lab.hosts] == before
    assert _made(tmp_path) == [] and done.stdout == ""


def test_a_misspelt_extra_vars_option_is_a_usage_error(tmp_path: Path, lab: Lab) -> None:
    """The option's own syntax (a word without '=') is exit 5, also before any connection."""
    before = [host.accepted() for host in lab.hosts]
    done = _play(tmp_path, lab, _project(tmp_path, lab, {}), "-e", "novalue")
    assert done.returncode == 5, done.stderr
    assert "-e expects key=value, a mapping or @file, got 'novalue'" in done.stderr
    assert [host.accepted() for host in lab.hosts] == before
    assert _made(tmp_path) == []
