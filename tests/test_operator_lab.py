"""What an operator sees during `rorunner play`, through the CLI against the sshd lab: failures
with their output, the live display on a terminal, -v and -vv, play stops, auth failures, the
run record read during the run and after it."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import jsonschema

from rorunner.records import schema_path
from tests.lab import Lab
from tests.play_book import REPO, Book, block_of, example_project, steps

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WAIT_FOR_RELEASE = (
    'i=0; while [ ! -e release ] && [ "$i" -lt 1200 ]; do echo "tick $i"; sleep 0.5; '
    "i=$((i+1)); done"
)


FAILING = """\
- name: checks
  hosts: all
  remote_dir: "REMOTE_DIR"
  roles: [web]
  rtas:
    - name: quiet
      remote:
        - run: |
            if [ "$RORUNNER_HOST" = h1 ]; then echo "stdout: db_password=$db_password"; exit 3; fi
          name: stdout-only
  vars:
    db_password: "pw-{{ inventory_hostname }}-long"
"""
CHECK_SCRIPT = """\
#!/bin/sh
if [ "$RORUNNER_HOST" = h2 ]; then
  i=1
  while [ $i -le 25 ]; do echo "noise $i" >&2; i=$((i+1)); done
  echo "ERROR: port 9999 not configured" >&2
  exit 7
fi
"""


def test_a_failed_step_shows_its_reason_and_output_on_screen_and_in_the_record(
    tmp_path: Path, lab: Lab
) -> None:
    script = tmp_path / "roles" / "web" / "remote" / "10-check.sh"
    script.parent.mkdir(parents=True)
    script.write_text(CHECK_SCRIPT)
    script.chmod(0o755)
    book = Book(tmp_path, lab, FAILING)
    result = book.run("--private-key", str(lab.client_key))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()

    block = block_of(lines, "failed      [h2] 01-checks > web > remote > 10-check.sh (rc=7; ")
    record = {(s["host"], s["step"]): s for s in steps(book.record())}
    h2 = record[("h2", "10-check.sh")]
    log = Path(str(h2["stderr"]))
    assert block[1:3] == [
        f"    script {script} exited with status 7",
        f"    stderr, last 20 of 26 lines; full log: {log}:",
    ], result.stdout
    shown = [f"    | noise {i}" for i in range(7, 26)] + ["    | ERROR: port 9999 not configured"]
    assert block[3:] == shown, result.stdout
    assert len(log.read_text().splitlines()) == 26
    assert h2["reason"] == "\n".join(line[4:] for line in block[1:])

    # stderr empty: stdout is quoted; a secret-like variable's value is masked.
    block = block_of(lines, "failed      [h1] 01-checks > quiet > remote > stdout-only (rc=3; ")
    assert block[2:] == ["    stdout:", "    | stdout: db_password=********"]
    assert "pw-h1-long" not in result.stdout
    h1 = record[("h1", "stdout-only")]
    assert h1["reason"] == "\n".join(line[4:] for line in block[1:])
    assert "pw-h1-long" in Path(str(h1["stdout"])).read_text()  # the log is the step's own


SLOW = """\
- name: slow
  hosts: all
  remote_dir: "REMOTE_DIR"
  rtas:
    - name: s
      remote:
        - run: 'echo "early $RORUNNER_HOST"; WAIT; echo "late $RORUNNER_HOST"'
          name: waiter
          timeout: 900
""".replace("WAIT", WAIT_FOR_RELEASE)


def _read_pty(fd: int, timeout: float) -> str:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return ""
    try:
        return os.read(fd, 65536).decode("utf-8", errors="replace")
    except OSError:  # the child closed its end
        return ""


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run argv with a pseudo-terminal as stdout and stderr: (exit status, the screen's
    text without ANSI sequences or carriage returns)."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(argv, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    screen, deadline = "", time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            chunk = _read_pty(primary, 0.5)
            screen += chunk
            if not chunk and proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        os.close(primary)
    return proc.returncode, ANSI.sub("", screen).replace("\r", "")


def test_live_display_on_a_terminal_shows_the_running_step_and_its_log_grows(
    tmp_path: Path, lab: Lab
) -> None:
    book = Book(tmp_path, lab, SLOW)
    primary, secondary = pty.openpty()
    argv = book.argv("--private-key", str(lab.client_key), "-l", "h1")
    env = {**book.env(), "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(argv, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    screen = ""
    elapsed: list[int] = []
    sizes: list[int] = []
    running = re.compile(r"running \[h1\] 01-slow > s > remote > waiter +(\d+)s")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and (len(elapsed) < 2 or elapsed[-1] < 4):
            screen += ANSI.sub("", _read_pty(primary, 0.5))
            elapsed = [int(n) for n in running.findall(screen)]
            logs = list((tmp_path / ".rorunner" / "logs").glob("*/*waiter.stdout"))
            if logs:
                sizes.append(logs[0].stat().st_size)
        assert elapsed and elapsed[-1] >= 4, screen
        assert elapsed == sorted(elapsed) and elapsed[0] <= 2, elapsed
        assert "play 01-slow [slow]: 0/1 done, 0 failed" in screen
        # The step still waits for `release`: its log grew while it ran.
        grown = [size for size in sizes if size > 0]
        assert grown and grown[-1] > grown[0], sizes
        assert "tick 3" in logs[0].read_text()
        book.release()
        while proc.poll() is None and time.monotonic() < deadline:
            screen += ANSI.sub("", _read_pty(primary, 0.5))
        screen += ANSI.sub("", _read_pty(primary, 0.5))
    finally:
        book.release()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        os.close(primary)
    assert proc.returncode == 0, screen
    assert re.search(r"changed +\[h1\] 01-slow > s > remote > waiter \(", screen), screen
    assert "finished in " in screen


def test_verbose_streams_a_remote_echo_while_the_step_runs(tmp_path: Path, lab: Lab) -> None:
    book = Book(tmp_path, lab, SLOW)
    argv = book.argv("--private-key", str(lab.client_key), "-l", "h1", "-v")
    lines: list[str] = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=book.env()) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("[h1] s > waiter: early h1"):
                    break
            # The step waits for `release`, which only now exists: the echo came while it ran.
            assert lines[-1] == "[h1] s > waiter: early h1", lines
            book.release()
            lines += proc.stdout.read().splitlines()
        finally:
            book.release()
            proc.wait(timeout=120)
    assert proc.returncode == 0, lines
    late = lines.index("[h1] s > waiter: late h1")
    done = next(i for i, line in enumerate(lines) if line.startswith("changed     [h1]"))
    assert lines.index("[h1] s > waiter: early h1") < late < done


ECHO = """\
- name: echo
  hosts: all
  rtas:
    - name: e
      remote: [echo hi]
"""


def test_very_verbose_shows_connection_events(tmp_path: Path, lab: Lab) -> None:
    book = Book(tmp_path, lab, ECHO)
    result = book.run("--private-key", str(lab.client_key), "-vv", "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    host = lab.hosts[0]
    events = [line for line in result.stdout.splitlines() if line.startswith(f"[{host.name}] ssh:")]
    assert len(events) == 3, result.stdout
    assert events[0].startswith(f"[{host.name}] ssh: connected to ")
    assert events[0].endswith(f"; authenticating as {lab.user}")
    assert events[1] == (
        f"[{host.name}] ssh: authenticated as {lab.user}; tried key files "
        f"{lab.client_key}; no agent (only the given keys)"
    )
    assert events[2] == f"[{host.name}] ssh: closing the connection"
    plain = book.run("--private-key", str(lab.client_key), "-v", "--force")
    assert " ssh: " not in plain.stdout


def _keyless_inventory(lab: Lab, path: Path) -> Path:
    """The lab's inventory without its private key variable."""
    text = lab.inventory_ini.read_text()
    path.write_text(
        "\n".join(line for line in text.splitlines() if "private_key_file" not in line) + "\n"
    )
    return path


def test_an_auth_failure_names_the_user_the_keys_tried_and_the_agent(
    tmp_path: Path, lab: Lab
) -> None:
    inventory = _keyless_inventory(lab, tmp_path / "hosts.ini")
    book = Book(tmp_path, lab, ECHO, inventory)
    result = book.run("-l", "h1")
    assert result.returncode == 4, result.stdout + result.stderr
    block = block_of(result.stdout.splitlines(), "unreachable [h1] 01-echo > e > remote > 01-echo")
    host = lab.host("h1")
    where = f"[{host.address}]:{host.port}" if host.port != 22 else host.address
    assert block[1:] == [
        f"    authentication failed for {lab.user}@{where}: tried no key file "
        "(none in ~/.ssh); no agent (SSH_AUTH_SOCK unset)"
    ]
    record = steps(book.record())
    assert record[0]["reason"] == block[1][4:]

    other = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
        check=True,
        timeout=30,
        capture_output=True,
    )
    wrong = book.run("-l", "h1", "--private-key", str(other))
    assert wrong.returncode == 4, wrong.stdout + wrong.stderr
    block = block_of(wrong.stdout.splitlines(), "unreachable [h1]")
    assert block[1] == (
        f"    authentication failed for {lab.user}@{where}: tried key files {other}; "
        "no agent (only the given keys)"
    )


STOPPING = """\
- name: batches
  hosts: all
  serial: 1
  max_fail_percentage: 0
  remote_dir: "REMOTE_DIR"
  rtas:
    - name: t
      remote: ['test "$RORUNNER_HOST" != h1']
"""


def test_a_play_stopped_by_max_fail_percentage_says_why_on_screen(tmp_path: Path, lab: Lab) -> None:
    book = Book(tmp_path, lab, STOPPING)
    result = book.run("--private-key", str(lab.client_key))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    batches = len(lab.hosts)
    reason = (
        f"play 01-batches stopped: 1 of 1 hosts of batch 1 of {batches} failed, "
        "more than max_fail_percentage 0"
    )
    assert lines.count(reason) == 1, result.stdout
    end = next(line for line in lines if line.startswith("play 01-batches [batches] done in "))
    assert end.endswith(f": 1 failed, {batches - 1} not run"), result.stdout


SECRETS = """\
- name: secrets
  hosts: h1
  remote_dir: "REMOTE_DIR"
  vars:
    db_secret: "db-secret-value"
    SECRET_KEY: "secret-key-value"
    ansible_ssh_pass: "ssh-pass-value"
  rtas:
    - name: s
      remote:
        - env | grep -E '^(db_secret|SECRET_KEY|ansible_ssh_pass)=' | sort > env.txt
        - echo "key=$SECRET_KEY db=$db_secret" >&2; exit 1
"""


def test_secret_like_variables_reach_the_step_and_are_masked_in_reasons(
    tmp_path: Path, lab: Lab
) -> None:
    """docs/playbooks.md, Step environment: secret-like names reach steps (the environment
    is how variables reach commands); Ansible's connection passwords do not; rorunner's
    own messages mask their values."""
    book = Book(tmp_path, lab, SECRETS)
    result = book.run("--private-key", str(lab.client_key))
    assert result.returncode == 2, result.stdout + result.stderr
    env = book.remote("h1", "env.txt").read_text().splitlines()
    assert env == ["SECRET_KEY=secret-key-value", "db_secret=db-secret-value"]
    block = block_of(result.stdout.splitlines(), "failed      [h1]")
    assert block[-1] == "    | key=******** db=********"
    (failed,) = [s for s in steps(book.record()) if s["status"] == "failed"]
    assert "value" not in str(failed["reason"]) and "********" in str(failed["reason"])


VAULTED = """\
- name: vaulted
  hosts: h1
  remote_dir: "REMOTE_DIR"
  vars:
INLINE
  rtas:
    - name: v
      remote: ['echo "cannot use $app_setting" >&2; exit 4']
"""


def test_a_vault_value_is_masked_in_a_failure_reason_whatever_its_name(
    tmp_path: Path, lab: Lab
) -> None:
    """docs/playbooks.md, Step environment: vault secrets are masked like secret-like names."""
    secret = f"vaulted-{tmp_path.name}"
    (tmp_path / "vault.pass").write_text("correct horse battery\n")
    tool = Path(sys.executable).with_name("ansible-vault")
    inline = subprocess.run(
        [str(tool), "encrypt_string", "--vault-password-file", "vault.pass", secret,
         "--name", "app_setting"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    text = VAULTED.replace("INLINE", "\n".join(f"    {line}" for line in inline.splitlines()))
    book = Book(tmp_path, lab, text)
    vault = str(tmp_path / "vault.pass")
    result = book.run("--private-key", str(lab.client_key), "--vault-password-file", vault)
    assert result.returncode == 2, result.stdout + result.stderr
    block = block_of(result.stdout.splitlines(), "failed      [h1]")
    assert block[-1] == "    | cannot use ********", result.stdout
    (failed,) = steps(book.record())
    assert str(failed["reason"]).endswith("| cannot use ********")
    assert secret not in result.stdout + result.stderr + json.dumps(book.record())
    assert secret in Path(str(failed["stderr"])).read_text()  # the step's own log


def test_the_state_files_are_named_as_the_readme_says(tmp_path: Path, lab: Lab) -> None:
    """README, State: .rorunner/ holds deps.sqlite, runs/<id>.json, logs/<id>/ and lock."""
    book = Book(tmp_path, lab, ECHO)
    result = book.run("--private-key", str(lab.client_key), "-l", "h1")
    assert result.returncode == 0, result.stdout + result.stderr
    state = tmp_path / ".rorunner"
    assert (state / "deps.sqlite").is_file() and not (state / "deps.sqlite3").exists()
    (record,) = [p for p in (state / "runs").glob("*.json") if not p.name.endswith(".plan.json")]
    assert (state / "logs" / record.stem).is_dir() and (state / "lock").exists()


def test_a_no_op_run_on_a_terminal_prints_one_line_per_play_and_the_recap(
    tmp_path: Path, lab: Lab
) -> None:
    argv, _books = example_project(tmp_path, lab)
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160", "TERM": "xterm"}
    first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180)
    assert first.returncode == 0, first.stdout + first.stderr
    code, screen = _on_a_terminal(argv, env)
    assert code == 0, screen
    display = re.compile(r"^(play \S+ \[[^]]*\]: \d+/\d+ done, \d+ failed|  running |  \.\.\. )")
    lines = [line for line in screen.splitlines() if not display.match(line)]
    recap = lines.index("PLAY RECAP " + "*" * 60)
    assert [line.split(" done in ")[0] for line in lines[: recap - 1]] == [
        "play 01-site [Site]",
        "play 02-web-tier-check [Web tier check]",
    ], screen
    assert lines[recap - 1] == ""
    # hosts (and @controller: the example's fleet report), run record, final line
    assert len(lines) == recap + 1 + len(lab.hosts) + 1 + 2, screen
    assert lines[-1].startswith("finished in ") and lines[-1].endswith(" up to date"), screen


STORY = """\
- name: story
  hosts: all
  remote_dir: "REMOTE_DIR"
  rtas:
    - name: s
      remote:
        - run: 'if [ "$RORUNNER_HOST" = h1 ]; then echo "ERROR: disk full" >&2; exit 5; fi; WAIT'
          name: story
          timeout: 900
""".replace("WAIT", WAIT_FOR_RELEASE)


def _record_while(book: Book, done: object, deadline: float) -> dict[str, object]:
    """The run record as read while the run goes on, once `done(record)` holds."""
    runs = book.root / ".rorunner" / "runs"
    while time.monotonic() < deadline:
        for path in runs.glob("*.json") if runs.is_dir() else ():
            if not path.name.endswith(".plan.json"):
                doc: dict[str, object] = json.loads(path.read_text())  # replaced atomically
                if done(doc):  # type: ignore[operator]
                    return doc
        time.sleep(0.2)
    raise AssertionError("the run record never showed the expected state")


def test_the_run_record_validates_against_its_schema_during_the_run_and_after(
    tmp_path: Path, lab: Lab
) -> None:
    """docs/run-records.md: the record is rewritten as the run goes, valid at every read."""
    validator = jsonschema.Draft202012Validator(json.loads(schema_path().read_text()))
    book = Book(tmp_path, lab, STORY)
    argv = book.argv("--private-key", str(lab.client_key))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=book.env())

    def failed_and_running(doc: dict[str, object]) -> bool:
        statuses = {(s["host"], s["status"]) for s in steps(doc)}  # type: ignore[index]
        # A step is "running" from before its work dir exists; `release` lands only in one
        # that does (a host whose dir came later would wait for it to the end).
        dirs = all(book.remote(h.name, "release").parent.exists() for h in lab.hosts)
        return ("h1", "failed") in statuses and ("h2", "running") in statuses and dirs

    try:
        mid = _record_while(book, failed_and_running, time.monotonic() + 120)
        validator.validate(mid)
        assert (mid["status"], mid["exit_code"]) == ("running", None)
        (failed,) = [s for s in steps(mid) if s["host"] == "h1"]
        assert "ERROR: disk full" in str(failed["reason"])
        assert proc.poll() is None  # h2 still waits for `release`
    finally:
        book.release()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out.decode() + err.decode()
    final = book.record()
    validator.validate(final)
    assert (final["status"], final["exit_code"]) == ("finished", 2)
    (failed,) = [s for s in steps(final) if s["host"] == "h1"]
    how, *quoted = str(failed["reason"]).splitlines()
    assert how.startswith("command `if [") and how.endswith("` exited with status 5"), how
    assert quoted == ["stderr:", "| ERROR: disk full"]
    assert "| ERROR: disk full" in out.decode()
    others = {str(s["host"]): s["status"] for s in steps(final) if s["host"] != "h1"}
    assert others == {h.name: "changed" for h in lab.hosts if h.name != "h1"}
