"""A small rorunner project written into a test's tmp dir, with remote and local counters."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.lab import Lab, LabHost

REPO = Path(__file__).resolve().parents[1]

WAIT_FOR_MARKER = """\
echo x >> count.slow
touch started
i=0
while [ ! -e release ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
"""

SITE = """\
- name: deploy
  hosts: all
  remote_dir: "{remote_dir}"
  vars:
    colour: blue
  roles:
    - app
  rtas:
    - name: inline
      ship:
        - src: secret.txt
          dest: private/secret.txt
          mode: "0600"
      remote:
        - echo x >> count.inline
"""

SLOW = """\
- name: slow
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: s
      remote:
        - echo x >> count.one
        - run: |
{wait}
          timeout: 60
        - echo x >> count.three
"""

FAIL = """\
- name: fail
  hosts: all
  remote_dir: "{remote_dir}"
  rtas:
    - name: f
      remote:
        - echo x >> count.before
        - test "$RORUNNER_HOST" != h2
        - echo x >> count.after
"""

ROLE_FILES: dict[str, str] = {
    "roles/base/files/base.conf": "base v1\n",
    "roles/base/remote/10-base.sh": "#!/bin/sh\necho x >> count.base\n",
    "roles/app/role.yml": "depends: [base]\nfetch: [app.conf]\n",
    "roles/app/files/app.conf.j2": "host={{ inventory_hostname }} colour={{ colour }}\n",
    "roles/app/remote/10-app.sh": "#!/bin/sh\necho x >> count.app\ngrep -q host= app.conf\n",
    "roles/app/local_pre/10-pre.sh": (
        "#!/bin/sh\nenv | grep '^RORUNNER_' | sort "
        '> "$RORUNNER_PLAYBOOK_DIR/env-$RORUNNER_HOST.txt"\n'
    ),
    "roles/app/local_post/10-post.sh": (
        '#!/bin/sh\ntest -f "$RORUNNER_FETCH_DIR/app.conf"\n'
        'echo x >> "$RORUNNER_PLAYBOOK_DIR/post-$RORUNNER_HOST.count"\n'
    ),
    "playbooks/secret.txt": "s3cret\n",
}


def remote_dir_for(tag: str) -> str:
    """The plays' remote_dir: ~/.rr-tests/<tag>, under the lab's per-host `remote_dir` var when
    the inventory has one (loopback mode, where every host shares the real login home)."""
    return "{{ remote_dir | default('.') }}/.rr-tests/" + tag


def write_project(root: Path, tag: str) -> Path:
    """Write the project; returns the playbooks dir. Remote state: see remote_dir_for."""
    remote_dir = remote_dir_for(tag)
    for rel, text in ROLE_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith(".sh"):
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    books = root / "playbooks"
    (books / "site.yml").write_text(SITE.format(remote_dir=remote_dir))
    wait = "".join(f"            {line}\n" for line in WAIT_FOR_MARKER.splitlines())
    (books / "slow.yml").write_text(SLOW.format(remote_dir=remote_dir, wait=wait.rstrip("\n")))
    (books / "fail.yml").write_text(FAIL.format(remote_dir=remote_dir))
    return books


def remote_file(base: Path, tag: str, name: str) -> Path:
    """A file in the remote work dir of a lab host, seen from the controller (see remote_base)."""
    return base / ".rr-tests" / tag / name


def remote_base(lab: Lab, host: LabHost) -> Path:
    """Where a host's ~/.rr-tests lives on the controller: its HOME (netns) or its
    inventory `remote_dir` (loopback, where HOME is shared)."""
    return host.home / "work" if lab.mode == "loopback" else host.home


def remote_count(base: Path, tag: str, name: str) -> int:
    """How many times a counter line was appended on a host (0 when missing)."""
    path = remote_file(base, tag, f"count.{name}")
    return len(path.read_text().splitlines()) if path.exists() else 0


def play_cli(
    project: Path, lab: Lab, *extra: str, inventory: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`rorunner play <project>/site.yml` on the lab (its inventory unless given), run in
    `project`, as a user would."""
    argv = [sys.executable, "-m", "rorunner", "play", str(project / "site.yml")]
    argv += ["-i", str(inventory or lab.inventory_ini), "--known-hosts", str(lab.known_hosts)]
    argv += ["--private-key", str(lab.client_key), *extra]
    return rorunner_cli(argv[3:], cwd=project)


def rorunner_cli(
    argv: list[str], cwd: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """`python -m rorunner <argv>` run in `cwd` with this checkout on the path, its output
    captured (never raises on its exit code)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "rorunner", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
