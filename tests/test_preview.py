"""--diff and --check pieces against in-memory hosts (rorunner.testing.FakePool): the diffs of
shipped files, secret masking, what a dry run cannot know, and the secret values of inputs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rorunner.engine import diff_lines, preview_diffs, ship_preview, unknowns
from rorunner.engine._preview import DIFF_LIMIT
from rorunner.model import MASK
from rorunner.plan import Plan, build_plan
from rorunner.playbook import load_playbook
from rorunner.testing import FakePool
from tests.projects import make_inventory

SITE = """\
- name: site
  hosts: all
  vars: {db_password: hunter2-pw, colour: red}
  roles: [app]
  rtas:
    - name: note
      local_pre:
        - {name: make, run: "echo x > build/note.txt", creates: [build/note.txt], always: true}
      ship: [build/note.txt]
"""
FILES = {
    "roles/app/files/app.conf.j2": "colour={{ colour }}\npassword={{ db_password }}\n",
    "roles/app/files/same.txt": "same\n",
    "roles/app/files/new.txt": "brand new\n",
    "roles/app/files/crlf.txt": "a\r\nb\r\n",
    "roles/app/files/blob.bin": "\0\1\2",
    "roles/app/files/big.txt": "x" * (DIFF_LIMIT + 1),
}
WORK = "/home/fake/.rorunner/work/01-site"


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    for rel, text in {**FILES, "site.yml": SITE}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "build").mkdir()
    (tmp_path / "build/note.txt").write_text("old note\n")
    return build_plan(make_inventory({"web": ["web1"]}), load_playbook(str(tmp_path / "site.yml")))


def _host_files(pool: FakePool) -> None:
    host = pool.host("web1")
    host.files.update(
        {
            f"{WORK}/app.conf": b"colour=blue\npassword=hunter2-pw\n",
            f"{WORK}/same.txt": b"same\n",
            f"{WORK}/crlf.txt": b"a\nb\n",
            f"{WORK}/blob.bin": b"\0\1",
            f"{WORK}/big.txt": b"small\n",
            f"{WORK}/build/note.txt": b"older note\n",
        }
    )


def _by_file(text: list[str]) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text:
        if line.startswith("diff ["):
            current = blocks.setdefault(line.rsplit(": ", 1)[1], [])
        else:
            current.append(line)
    return blocks


def test_diffs_of_every_shipped_file_that_would_change(plan: Plan, tmp_path: Path) -> None:
    pool = FakePool()
    _host_files(pool)
    would = {step.node for step in plan.steps}
    diffs = preview_diffs(plan.steps, would, pool, str(tmp_path), 4)
    blocks = _by_file(diff_lines(diffs))
    assert set(blocks) == {
        "app.conf",
        "new.txt",
        "crlf.txt",
        "blob.bin",
        "big.txt",
        "build/note.txt",
    }
    assert blocks["app.conf"] == [
        "--- before: web1:.rorunner/work/01-site/app.conf",
        "+++ after: roles/app/files/app.conf.j2 (rendered)",
        "@@ -1,2 +1,2 @@",
        "-colour=blue",
        "+colour=red",
        f" password={MASK}",
    ]
    assert blocks["new.txt"][:2] == [
        "--- before: web1:.rorunner/work/01-site/new.txt (absent)",
        "+++ after: roles/app/files/new.txt",
    ]
    assert blocks["new.txt"][-1] == "+brand new"
    assert blocks["crlf.txt"] == ["  differs only in its line endings or final newline"]
    assert blocks["blob.bin"] == ["  binary file differs: 2 bytes on the host, 3 bytes shipped"]
    assert blocks["big.txt"] == [f"  not shown: over {DIFF_LIMIT // 1024} KiB"]
    # made by an `always` local_pre that runs first: its content is not known before the run
    made = "made by 01-site > note > local_pre > make, which would run first"
    assert blocks["build/note.txt"] == [f"  not known before the run: {made}"]
    assert "hunter2-pw" not in "\n".join(diff_lines(diffs))
    calls = {call[0] for call in pool.host("web1").calls}
    assert calls == {"read"}  # nothing written, nothing run


def test_only_steps_that_would_run_are_compared(plan: Plan, tmp_path: Path) -> None:
    pool = FakePool()
    assert preview_diffs(plan.steps, set(), pool, str(tmp_path), 4) == []
    assert pool.connected == []


def test_an_unreachable_host_is_named_not_fatal(plan: Plan, tmp_path: Path) -> None:
    pool = FakePool()
    pool.host("web1").unreachable = "no route to host"
    would = {step.node for step in plan.steps}
    (diff,) = preview_diffs(plan.steps, would, pool, str(tmp_path), 4)
    assert diff.unreachable
    assert diff.lines == ("diff [web1]: unreachable: web1: no route to host",)


def test_the_run_hook_shows_a_ship_steps_diffs(plan: Plan, tmp_path: Path) -> None:
    pool = FakePool()
    _host_files(pool)
    shown: list[list[str]] = []
    hook = ship_preview(shown.append, str(tmp_path))
    ship = next(s for s in plan.steps if s.role == "app" and s.phase == "ship")
    hook(ship, pool)
    (lines,) = shown
    assert "-colour=blue" in lines and "+colour=red" in lines
    assert "hunter2-pw" not in "\n".join(lines)
    hook(next(s for s in plan.steps if s.phase == "local_pre"), pool)  # no files: nothing shown
    assert len(shown) == 1


def test_unknowns_name_steps_fed_by_a_step_that_runs_first(plan: Plan) -> None:
    make = next(s for s in plan.steps if s.phase == "local_pre")
    lines = unknowns(plan.steps, {make.node}, compared=False)
    assert lines[0].startswith("[web1] 01-site > note > ship > files: listed as up to date, ")
    assert "01-site > note > local_pre > make, which would run first" in lines[0]
    assert lines[1].startswith("1 step that would run was not run: ")
    assert "no host was contacted" in lines[-1]
    assert "were compared" in unknowns(plan.steps, set(), compared=True)[-1]


def test_private_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "conf/sub").mkdir(parents=True)
    (tmp_path / "conf/a.txt").write_text("a2\n")
    (tmp_path / "conf/sub/b.txt").write_text("b\n")
    (tmp_path / "key.pem").write_text("KEY-NEW\n")
    (tmp_path / "token.txt").write_text("TOKEN-NEW\n")
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  rtas:\n    - name: u\n      ship:\n        - conf\n"
        "        - {src: key.pem, dest: key.pem, mode: '0600'}\n"
        "        - {src: token.txt, dest: token.txt, secret: true}\n"
    )
    plan = build_plan(make_inventory({"web": ["web1"]}), load_playbook(str(tmp_path / "site.yml")))
    pool = FakePool()
    work = "/home/fake/.rorunner/work/01-all"
    pool.host("web1").files.update(
        {
            f"{work}/conf/a.txt": b"a1\n",
            f"{work}/conf/sub/b.txt": b"b\n",
            f"{work}/key.pem": b"KEY-OLD\n",
        }
    )
    diffs = preview_diffs(plan.steps, {s.node for s in plan.steps}, pool, str(tmp_path), 2)
    blocks = _by_file(diff_lines(diffs))
    assert set(blocks) == {"conf/a.txt", "key.pem", "token.txt"}  # sub/b.txt is the same
    assert blocks["conf/a.txt"][-2:] == ["-a1", "+a2"]
    assert blocks["key.pem"] == ["  content not shown: shipped private (mode 0600)"]
    assert blocks["token.txt"] == ["  content not shown: a secret file"]
    assert "KEY-" not in "\n".join(diff_lines(diffs)) and "TOKEN" not in "\n".join(
        diff_lines(diffs)
    )


def test_local_transport_reads_without_writing(tmp_path: Path) -> None:
    from rorunner.errors import RemoteFailure
    from rorunner.model import ConnectionSpec
    from rorunner.transport import LocalTransport

    local = LocalTransport(ConnectionSpec("localhost", connection="local"))
    (tmp_path / "f").write_bytes(b"12345")
    assert local.read(str(tmp_path / "f"), 5) == b"12345"
    assert local.read(str(tmp_path / "missing"), 5) is None
    with pytest.raises(RemoteFailure, match="larger than 4 bytes"):
        local.read(str(tmp_path / "f"), 4)
    with pytest.raises(RemoteFailure, match=r"Is a directory|not a regular file"):
        local.read(str(tmp_path), 4)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) and sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["f"]
