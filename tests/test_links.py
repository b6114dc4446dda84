"""Symbolic links in every tree rorunner reads, through the CLI and the seed API under doit.

One policy (rorunner/walk.py, docs/playbooks.md "Symbolic links"): a link is followed, also
out of the tree (its target's content lands at the link's place); a link that loops back
into a directory it sits in, or resolves to itself, is bad input naming the link: exit 3,
nothing contacted, in bounded time and memory. The same for a role's files/ (and its other
folders), a playbook's shipped directory, an inventory directory, a group_vars directory and
a directory shipped with the seed API's gen_task_ship_files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from rorunner.tasks import host_token
from tests.lab import Lab, LabHost
from tests.play_project import remote_base, remote_dir_for, remote_file

REPO = Path(__file__).resolve().parents[1]
LIMIT_SECONDS = 120.0  # a kill, not an expectation: a bounded refusal takes about a second
MAX_SECONDS = 60.0
MAX_RSS_MB = 200


@dataclass(frozen=True)
class Measured:
    """A finished subprocess with its own wall time and peak memory."""

    code: int
    out: str
    err: str
    seconds: float
    rss_mb: float

    def refused(self, link: Path) -> bool:
        """Exit 3 naming `link` as a symlink loop, quickly and in little memory."""
        return (
            self.code == 3
            and f"{link}: symlink loop" in self.err
            and self.seconds < MAX_SECONDS
            and self.rss_mb < MAX_RSS_MB
        )


# Spawns argv[2:] and writes its peak RSS (KiB) to argv[1]. The measured process must not be
# a direct child of pytest: Linux keeps a process's peak RSS across fork and exec, so a direct
# child reports at least the pytest process's own peak (240 MB late in a full run).
_WRAPPER = (
    "import os, sys\n"
    "pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_measured(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run `argv`, killed after LIMIT_SECONDS; its own peak RSS, measured by a small wrapper."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        rss = Path(tempfile.mkdtemp()) / "rss"
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(rss), *argv],
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=full_env,
            start_new_session=True,  # the kill below reaches the measured process too
        )
        timer = threading.Timer(LIMIT_SECONDS, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        # No figure (the wrapper was killed): count it as over any bound.
        peak = int(rss.read_text()) if rss.exists() else 1 << 40
        shutil.rmtree(rss.parent)
        return Measured(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
            peak / 1024,
        )


# --- inventory directories and group_vars directories (no host is contacted) -------------


def _inventory_dir(tmp_path: Path) -> Path:
    """inv/ with a file of its own, a file linked from outside and a linked group_vars file."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "more.ini").write_text("[web]\nw2\n")
    (shared / "web.yml").write_text("colour: blue\n")
    inv = tmp_path / "inv"
    (inv / "group_vars" / "web").mkdir(parents=True)
    (inv / "hosts.ini").write_text("[web]\nw1\n")
    (inv / "more.ini").symlink_to("../shared/more.ini")
    (inv / "group_vars" / "web" / "shared.yml").symlink_to("../../../shared/web.yml")
    return inv


def _inventory(inv: Path) -> Measured:
    argv = [sys.executable, "-m", "rorunner", "inventory", "-i", str(inv), "--host", "w2"]
    return run_measured(argv, inv.parent)


def test_inventory_dir_follows_links_out_of_it(tmp_path: Path) -> None:
    done = _inventory(_inventory_dir(tmp_path))
    assert done.code == 0, done
    assert '"colour": "blue"' in done.out, done


@pytest.mark.parametrize(
    ("link", "target"),
    [("loop", "."), ("sub/up", ".."), ("group_vars/web/up", "..")],
)
def test_inventory_dir_loop_is_refused_naming_the_link(
    tmp_path: Path, link: str, target: str
) -> None:
    inv = _inventory_dir(tmp_path)
    (inv / "sub").mkdir()
    (inv / link).symlink_to(target)
    if link == "loop":
        (inv / "loop2").symlink_to(".")  # a second one: still no blow-up
    done = _inventory(inv)
    assert done.refused(inv / link), done


# --- a role's folders and a playbook's shipped directory ----------------------------------

SITE = """\
- name: links
  hosts: all
  remote_dir: "{remote_dir}"
  roles: [{role}]
  rtas:
    - name: inline
      ship: [tree]
"""


class Project:
    """A playbook with role r (files/ links out of the project) and an inline shipped tree."""

    def __init__(self, root: Path, lab: Lab) -> None:
        self.root, self.lab, self.tag = root, lab, root.name
        self.host = lab.hosts[0]
        outside = root / "outside"
        outside.mkdir()
        (outside / "s.txt").write_text("shared v1\n")
        files = root / "roles" / "r" / "files"
        files.mkdir(parents=True)
        (files / "a.txt").write_text("a\n")
        (files / "ext").symlink_to("../../../outside")
        (root / "tree").mkdir()
        (root / "tree" / "t.txt").write_text("t\n")
        (root / "tree" / "ext").symlink_to("../outside")
        self.book("r")

    def book(self, role: str) -> None:
        site = SITE.format(remote_dir=remote_dir_for(self.tag), role=role)
        (self.root / "site.yml").write_text(site)

    def play(self) -> Measured:
        argv = [
            sys.executable,
            "-m",
            "rorunner",
            "play",
            "site.yml",
            "-i",
            str(self.lab.inventory_ini),
            "-l",
            self.host.name,
            "--known-hosts",
            str(self.lab.known_hosts),
            "--private-key",
            str(self.lab.client_key),
        ]
        return run_measured(argv, self.root)

    def remote(self, name: str) -> Path:
        return remote_file(remote_base(self.lab, self.host), self.tag, name)


def test_links_out_of_a_role_and_a_shipped_dir_are_shipped_as_their_files(
    tmp_path: Path, lab: Lab
) -> None:
    project = Project(tmp_path, lab)
    done = project.play()
    assert done.code == 0, done
    for name in ("a.txt", "ext/s.txt", "tree/t.txt", "tree/ext/s.txt"):
        assert not project.remote(name).is_symlink(), name
    assert project.remote("ext/s.txt").read_text() == "shared v1\n"
    assert project.remote("tree/ext/s.txt").read_text() == "shared v1\n"


@pytest.mark.parametrize(
    "links",
    [
        (("roles/r/files/sub/up", ".."),),  # once 42 copies of every file
        (("roles/r/files/loop", "."),),  # once a traceback, exit 250
        (("roles/r/files/loop", "."), ("roles/r/files/loop2", ".")),  # once a hang past 250 MB
        (("roles/r/remote/loop", "."),),
        (("tree/sub/up", "../.."),),  # the playbook's shipped dir: back to the project
        (("tree/loop", "."), ("tree/loop2", ".")),
    ],
    ids=["files-up", "files-dot", "files-two", "remote-dot", "ship-up", "ship-two"],
)
def test_a_loop_in_a_role_or_shipped_dir_is_exit_3_naming_the_link(
    tmp_path: Path, lab: Lab, links: tuple[tuple[str, str], ...]
) -> None:
    project = Project(tmp_path, lab)
    for link, target in links:
        (tmp_path / link).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / link).symlink_to(target)
    before = project.host.accepted()
    done = project.play()
    assert done.refused(tmp_path / links[0][0]), done
    assert project.host.accepted() == before  # nothing contacted


def test_a_role_that_is_a_self_link_is_exit_3_naming_it(tmp_path: Path, lab: Lab) -> None:
    project = Project(tmp_path, lab)
    (tmp_path / "roles" / "self").symlink_to("self")
    project.book("self")
    before = project.host.accepted()
    done = project.play()
    assert done.refused(tmp_path / "roles" / "self"), done
    assert "never resolves" in done.err, done
    assert project.host.accepted() == before
    project.book("typo")  # an unrelated self-link does not break the "did you mean" search
    done = project.play()
    assert done.code == 3 and "unknown role 'typo'" in done.err, done


# --- a directory shipped by the seed API, under plain doit --------------------------------

DODO = """\
import os

from rorunner import gen_task_ship_files


def task_ship():
    yield gen_task_ship_files([os.environ["TREE"]], os.environ["HOST"], "links",
                              remote_dir=os.environ["REMOTE"])
"""


def _host_arg(host: LabHost) -> str:
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


def test_seed_api_ships_links_out_of_the_tree_and_refuses_a_loop(tmp_path: Path, lab: Lab) -> None:
    host = lab.hosts[0]
    remote = f"/tmp/rorunner-links-{host_token(_host_arg(host))}"
    assert host.sh(f"rm -rf {remote}").returncode == 0
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "s.txt").write_text("shared v1\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "t.txt").write_text("t\n")
    (tree / "ext").symlink_to("../outside")
    (tmp_path / "dodo.py").write_text(DODO)
    env = {**lab.env(), "TREE": str(tree), "HOST": _host_arg(host), "REMOTE": remote}
    argv = [sys.executable, "-m", "doit", "-f", str(tmp_path / "dodo.py")]

    def remote_text(path: str) -> str:
        done = host.sh(f"cat {remote}/{path}")
        assert done.returncode == 0, done.stderr
        return done.stdout

    done = run_measured(argv, tmp_path, env)
    assert done.code == 0, done
    assert (remote_text("tree/t.txt"), remote_text("tree/ext/s.txt")) == ("t\n", "shared v1\n")
    assert host.sh(f"test -L {remote}/tree/ext").returncode == 1  # a directory, not a link
    # A file reached through the link is one of the task's file_dep: a change ships again.
    (tmp_path / "outside" / "s.txt").write_text("shared v2\n")
    done = run_measured(argv, tmp_path, env)
    assert done.code == 0, done
    assert remote_text("tree/ext/s.txt") == "shared v2\n"
    (tree / "loop").symlink_to(".")
    (tree / "loop2").symlink_to(".")
    before = host.accepted()
    done = run_measured(argv, tmp_path, env)
    assert done.code != 0, done
    text = done.out + done.err
    assert f"{tree / 'loop'}: symlink loop" in text, done
    assert done.seconds < MAX_SECONDS and done.rss_mb < MAX_RSS_MB, done
    assert host.accepted() == before
