"""Secret shipped files and the state on the host (issue 10), through the CLI on the lab: a
secret file is gone from the host after its play and its content is in no log, record or
output; `--verify` finds what another checkout or a change on the host did, re-runs exactly
the steps concerned, and an unchanged `--verify` run opens one connection per host."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.play_project import play_cli, remote_base, remote_dir_for

TOKEN = "tok-5e3c9a71-never-shown"
STATE_FILE = ".rorunner-state.json"

pytestmark = pytest.mark.lab

SECRET_BOOK = """\
- name: deploy
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: app
      ship:
        - src: token.txt
          secret: true
        - app.conf
      remote:
        - sha256sum token.txt > token.sum && cp app.conf deployed.conf
    - name: more
      ship:
        - more.conf
      remote:
        - name: use
          run: test -s token.txt && cp more.conf more.out
"""

DEPLOY_BOOK = """\
- name: deploy
  hosts: all
  remote_dir: "{remote_dir}"
  vars:
    app_version: "{version}"
  rtas:
    - name: app
      ship:
        - version.txt.j2
        - app.conf
      remote:
        - name: install
          run: cp version.txt running.txt
      fetch:
        - running.txt
"""


def _play(project: Path, lab: Lab, *extra: str) -> subprocess.CompletedProcess[str]:
    return play_cli(project, lab, *extra)


def _new_project(tmp_path: Path, book: str) -> tuple[Path, str]:
    """A project whose site.yml is `book` with this test's remote dir; (project, tag)."""
    tag = tmp_path.name
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(book.format(remote_dir=remote_dir_for(tag)))
    return project, tag


def _ran(result: subprocess.CompletedProcess[str]) -> list[str]:
    """`host > play > role > phase > step` of every step that ran (ok or changed)."""
    assert "PLAY RECAP" in result.stdout, result.stdout + result.stderr
    return sorted(
        line.split("[", 1)[1].split(" (")[0].replace("] ", " > ")
        for line in result.stdout.splitlines()
        if line.startswith(("ok ", "changed "))
    )


def _work(lab: Lab, host: str, tag: str) -> Path:
    return remote_base(lab, lab.host(host)) / ".rr-tests" / tag


def _secret_project(tmp_path: Path, lab: Lab) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "site.yml").write_text(SECRET_BOOK.format(remote_dir=remote_dir_for(tmp_path.name)))
    (project / "token.txt").write_text(TOKEN + "\n")
    (project / "app.conf").write_text("app\n")
    (project / "more.conf").write_text("more v1\n")
    return project


def _nowhere(project: Path, lab: Lab, tag: str, *outputs: str) -> None:
    """The token is in no output, nothing under .rorunner/ and no file left on any host."""
    for text in outputs:
        assert TOKEN not in text
    for path in (project / ".rorunner").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    for host in lab.hosts:
        work = _work(lab, host.name, tag)
        assert not (work / "token.txt").exists(), host.name
        for path in work.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def test_a_secret_file_is_gone_after_the_play_and_shown_nowhere(tmp_path: Path, lab: Lab) -> None:
    project = _secret_project(tmp_path, lab)
    tag = tmp_path.name
    first = _play(project, lab, "-v")
    assert first.returncode == 0, first.stdout + first.stderr
    digest = hashlib.sha256((TOKEN + "\n").encode()).hexdigest()
    for host in lab.hosts:
        work = _work(lab, host.name, tag)
        assert (work / "token.sum").read_text().split()[0] == digest  # it was there in the play
        assert (work / "more.out").read_text() == "more v1\n"
    cleanup = [f"{h.name} > 01-deploy > play > cleanup > secrets" for h in lab.hosts]
    assert set(cleanup) <= set(_ran(first))
    _nowhere(project, lab, tag, first.stdout, first.stderr)

    graph = _play(project, lab, "--graph", "json")
    assert graph.returncode == 0 and TOKEN not in graph.stdout

    before = _logins(lab)
    again = _play(project, lab)  # nothing changed: the secret is not shipped again
    assert again.returncode == 0, again.stdout + again.stderr
    assert _ran(again) == []
    assert _logins(lab) == before

    # A step of the play runs on every host: the secret comes back for it, and goes again.
    (project / "more.conf").write_text("more v2\n")
    changed = _play(project, lab)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    expected = [
        f"{h.name} > 01-deploy > {step}"
        for h in lab.hosts
        for step in (
            "app > ship > files",
            "more > ship > files",
            "more > remote > use",
            "play > cleanup > secrets",
        )
    ]
    assert _ran(changed) == sorted(expected)
    for host in lab.hosts:
        assert (_work(lab, host.name, tag) / "more.out").read_text() == "more v2\n"
    _nowhere(project, lab, tag, changed.stdout, changed.stderr)


def _checkout(root: Path, tag: str, version: str) -> Path:
    root.mkdir()
    book = DEPLOY_BOOK.format(remote_dir=remote_dir_for(tag), version=version)
    (root / "site.yml").write_text(book)
    (root / "version.txt.j2").write_text("{{ app_version }}\n")
    (root / "app.conf").write_text("listen=8080\n")
    return root


def _running(lab: Lab, tag: str) -> dict[str, str]:
    return {h.name: (_work(lab, h.name, tag) / "running.txt").read_text() for h in lab.hosts}


def _recorded(state: Path) -> dict[str, object]:
    """The steps a state file records: its lines of JSON folded in order (docs/playbooks.md)."""
    steps: dict[str, object] = {}
    for line in state.read_text().splitlines():
        if line:
            data = json.loads(line)
            assert data["format"] in (1, 2), line
            steps.update(data["steps"])
    return steps


def _logins(lab: Lab) -> dict[str, int]:
    return {h.name: h.accepted() for h in lab.hosts}


def test_verify_restores_what_another_checkout_changed(tmp_path: Path, lab: Lab) -> None:
    tag = tmp_path.name
    a = _checkout(tmp_path / "a", tag, "1.0.0")
    b = _checkout(tmp_path / "b", tag, "2.0.0")
    hosts = [h.name for h in lab.hosts]
    assert _play(a, lab).returncode == 0
    assert set(_running(lab, tag).values()) == {"1.0.0\n"}
    for host in hosts:
        state = _work(lab, host, tag) / STATE_FILE
        assert state.stat().st_mode & 0o777 == 0o600
        assert state.stat().st_uid == os.stat(_work(lab, host, tag)).st_uid
        recorded = _recorded(state)
        assert sorted(recorded) == [
            f"{host}/01-deploy/app/remote/install",
            f"{host}/01-deploy/app/ship/files",
        ]
    assert _play(b, lab).returncode == 0
    assert set(_running(lab, tag).values()) == {"2.0.0\n"}

    trusting = _play(a, lab)  # without --verify, A trusts its own DB: the documented trade-off
    assert trusting.returncode == 0 and _ran(trusting) == []
    assert set(_running(lab, tag).values()) == {"2.0.0\n"}

    dry = _play(a, lab, "--verify", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert (
        "  would run  01-deploy > app > ship > files (drifted: the host has other inputs applied"
        in dry.stdout
    )
    assert set(_running(lab, tag).values()) == {"2.0.0\n"}

    verified = _play(a, lab, "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    steps = ("ship > files", "remote > install", "fetch > files")
    assert _ran(verified) == sorted(f"{h} > 01-deploy > app > {s}" for h in hosts for s in steps)
    assert set(_running(lab, tag).values()) == {"1.0.0\n"}

    before = _logins(lab)
    unchanged = _play(a, lab, "--verify")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert _ran(unchanged) == []
    after = _logins(lab)
    assert {h: after[h] - before[h] for h in hosts} == dict.fromkeys(hosts, 1)


def test_verify_reruns_only_the_steps_fed_by_a_file_deleted_on_one_host(
    tmp_path: Path, lab: Lab
) -> None:
    tag = tmp_path.name
    a = _checkout(tmp_path / "a", tag, "1.0.0")
    assert _play(a, lab).returncode == 0
    (_work(lab, "h2", tag) / "app.conf").unlink()
    before = _logins(lab)
    assert _ran(_play(a, lab)) == []  # without --verify: no connection, nothing seen
    assert _logins(lab) == before

    verified = _play(a, lab, "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert _ran(verified) == [
        "h2 > 01-deploy > app > fetch > files",
        "h2 > 01-deploy > app > remote > install",
        "h2 > 01-deploy > app > ship > files",
    ]
    assert (_work(lab, "h2", tag) / "app.conf").read_text() == "listen=8080\n"
    assert _ran(_play(a, lab, "--verify")) == []


def test_a_secret_file_is_removed_from_a_host_whose_step_failed(tmp_path: Path, lab: Lab) -> None:
    project = _secret_project(tmp_path, lab)
    tag = tmp_path.name
    book = project / "site.yml"
    book.write_text(
        book.read_text().replace(
            "run: test -s token.txt", 'run: test "$RORUNNER_HOST" != h3 && test -s token.txt'
        )
    )
    result = _play(project, lab)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "h3 > 01-deploy > play > cleanup > secrets" in _ran(result)
    assert (_work(lab, "h3", tag) / "token.sum").exists()  # the secret was shipped to h3
    _nowhere(project, lab, tag, result.stdout, result.stderr)


def test_verify_with_an_unreachable_host_reports_it_and_repairs_the_others(
    tmp_path: Path, lab: Lab
) -> None:
    tag = tmp_path.name
    a = _checkout(tmp_path / "a", tag, "1.0.0")
    assert _play(a, lab).returncode == 0
    (_work(lab, "h2", tag) / "app.conf").unlink()
    down = lab.host("h3")
    down.stop_sshd()
    try:
        verified = _play(a, lab, "--verify")
    finally:
        down.start_sshd()
    out = verified.stdout + verified.stderr
    assert verified.returncode == 4, out
    for step in ("ship > files", "remote > install"):  # what verifying h3 would have checked
        assert f"unreachable [h3] 01-deploy > app > {step} (" in verified.stdout, out
    assert "could not verify the host's state: cannot connect to" in verified.stdout, out
    assert "h3 : ok=0  changed=0  skipped=1  failed=0  unreachable=2" in verified.stdout, out
    assert _ran(verified) == [  # h2's drift is repaired although h3 could not be read
        "h2 > 01-deploy > app > fetch > files",
        "h2 > 01-deploy > app > remote > install",
        "h2 > 01-deploy > app > ship > files",
    ]
    assert (_work(lab, "h2", tag) / "app.conf").read_text() == "listen=8080\n"
    # h3 was never changed: once it answers again, verifying it finds nothing to do.
    again = _play(a, lab, "--verify")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _ran(again) == []


TAGGED_BOOK = """\
- name: deploy
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: a
      tags: [a]
      ship:
        - a.conf
      remote:
        - {{name: use, run: cp a.conf a.out}}
    - name: b
      tags: [b]
      ship:
        - b.conf
      remote:
        - {{name: use, run: cp b.conf b.out}}
"""


def test_a_run_whose_steps_all_run_keeps_the_records_of_the_other_steps(
    tmp_path: Path, lab: Lab
) -> None:
    # --force -t a: every recorded step of the plan runs, so no host is read before the run;
    # its state is read just before its first record is written, and b's records stay.
    project, tag = _new_project(tmp_path, TAGGED_BOOK)
    (project / "a.conf").write_text("a\n")
    (project / "b.conf").write_text("b\n")
    assert _play(project, lab).returncode == 0
    forced = _play(project, lab, "--force", "-t", "a")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert _ran(forced) == sorted(
        f"{h.name} > 01-deploy > a > {s}"
        for h in lab.hosts
        for s in ("ship > files", "remote > use")
    )
    for host in lab.hosts:
        state = _recorded(_work(lab, host.name, tag) / STATE_FILE)
        assert sorted(name.split("/", 1)[1] for name in state) == [
            "01-deploy/a/remote/use",
            "01-deploy/a/ship/files",
            "01-deploy/b/remote/use",
            "01-deploy/b/ship/files",
        ]
    verified = _play(project, lab, "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert _ran(verified) == []


def test_records_are_read_from_old_whole_files_and_past_a_torn_line(
    tmp_path: Path, lab: Lab
) -> None:
    tag = tmp_path.name
    a = _checkout(tmp_path / "a", tag, "1.0.0")
    assert _play(a, lab).returncode == 0
    install = "01-deploy/app/remote/install"
    for host in lab.hosts:
        state = _work(lab, host.name, tag) / STATE_FILE
        lines = [json.loads(line) for line in state.read_text().splitlines() if line]
        # The ship step's record written whole, then the install command's own appended.
        assert [sorted(line["steps"]) for line in lines] == [
            [f"{host.name}/01-deploy/app/ship/files"],
            [f"{host.name}/{install}"],
        ]
    # h1: the whole file as the first version of issue 10 wrote it (format 1, one line).
    h1 = _work(lab, "h1", tag) / STATE_FILE
    h1.write_text(json.dumps({"format": 1, "steps": _recorded(h1)}, sort_keys=True) + "\n")
    # h2: the install record cut short (a full disk), and a line that is not JSON.
    h2 = _work(lab, "h2", tag) / STATE_FILE
    first, appended = [line for line in h2.read_text().splitlines() if line]
    h2.write_text(f"{first}\nnot json\n{appended[: len(appended) // 2]}")
    verified = _play(a, lab, "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert _ran(verified) == [
        "h2 > 01-deploy > app > fetch > files",
        "h2 > 01-deploy > app > remote > install",
    ]
    # The new record starts a line of its own: the torn one does not swallow it.
    assert f"h2/{install}" in _recorded_skipping_garbage(h2)
    assert _ran(_play(a, lab, "--verify")) == []


def _recorded_skipping_garbage(state: Path) -> dict[str, object]:
    steps: dict[str, object] = {}
    for line in state.read_text().splitlines():
        try:
            steps.update(json.loads(line)["steps"])
        except ValueError:
            continue
    return steps


REMOTE_ONLY_BOOK = """\
- name: deploy
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: app
      remote:
        - {{name: first, run: echo x >> count.first}}
        - {{name: second, run: echo x >> count.second}}
"""


def test_a_record_the_host_cannot_append_fails_the_step_and_the_next_run_repeats_it(
    tmp_path: Path, lab: Lab
) -> None:
    project, tag = _new_project(tmp_path, REMOTE_ONLY_BOOK)
    blocked = _work(lab, "h1", tag) / STATE_FILE
    blocked.mkdir(parents=True)  # the command runs, its record cannot be appended
    failed = _play(project, lab)
    out = failed.stdout + failed.stderr
    assert failed.returncode == 2, out
    (line,) = [x for x in failed.stdout.splitlines() if "[h1] 01-deploy > app > remote > " in x]
    assert line.startswith("failed ") and " remote > first (" in line, out
    assert "the step ran, but recording it on the host failed" in failed.stdout, out
    assert "Is a directory" in failed.stdout, out
    assert (_work(lab, "h1", tag) / "count.first").read_text() == "x\n"
    assert not (_work(lab, "h1", tag) / "count.second").exists()
    blocked.rmdir()
    again = _play(project, lab)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _ran(again) == [
        "h1 > 01-deploy > app > remote > first",
        "h1 > 01-deploy > app > remote > second",
    ]
    assert (_work(lab, "h1", tag) / "count.first").read_text() == "x\nx\n"
    for host in lab.hosts:
        state = _work(lab, host.name, tag) / STATE_FILE
        assert state.stat().st_mode & 0o777 == 0o600  # created by the append
        assert sorted(_recorded(state)) == [
            f"{host.name}/01-deploy/app/remote/first",
            f"{host.name}/01-deploy/app/remote/second",
        ]
    assert _ran(_play(project, lab, "--verify")) == []


def test_a_long_state_file_is_compacted_when_a_run_has_read_it(tmp_path: Path, lab: Lab) -> None:
    project, tag = _new_project(tmp_path, REMOTE_ONLY_BOOK)
    book = project / "site.yml"
    assert _play(project, lab).returncode == 0
    h1 = _work(lab, "h1", tag) / STATE_FILE
    lines = [line for line in h1.read_text().splitlines() if line]
    h1.write_text("\n".join(lines * 20) + "\n")  # 40 lines: many runs' appends
    book.write_text(book.read_text().replace("count.second}", "count.second; true}"))
    changed = _play(project, lab)  # `first` is not going to run: each host's state is read
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert _ran(changed) == sorted(
        f"{h.name} > 01-deploy > app > remote > second" for h in lab.hosts
    )
    (line,) = [line for line in h1.read_text().splitlines() if line]  # written whole
    assert sorted(json.loads(line)["steps"]) == [
        "h1/01-deploy/app/remote/first",
        "h1/01-deploy/app/remote/second",
    ]
    h2 = _work(lab, "h2", tag) / STATE_FILE
    assert len([line for line in h2.read_text().splitlines() if line]) == 3  # short: appended
    assert _ran(_play(project, lab, "--verify")) == []


def test_a_forced_run_rewrites_no_state_file_whose_records_it_finds_unchanged(
    tmp_path: Path, lab: Lab
) -> None:
    tag = tmp_path.name
    a = _checkout(tmp_path / "a", tag, "1.0.0")
    assert _play(a, lab).returncode == 0
    states = {h.name: _work(lab, h.name, tag) / STATE_FILE for h in lab.hosts}
    before = {name: (state.stat().st_ino, state.read_text()) for name, state in states.items()}
    forced = _play(a, lab, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert len(_ran(forced)) == 3 * len(lab.hosts)
    for name, state in states.items():
        inode, text = before[name]
        assert state.stat().st_ino == inode, name  # not written whole again: same file
        appended = state.read_text().removeprefix(text)
        assert [sorted(json.loads(line)["steps"]) for line in appended.split()] == [
            [f"{name}/01-deploy/app/remote/install"]
        ]
    assert _ran(_play(a, lab, "--verify")) == []
