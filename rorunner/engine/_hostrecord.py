"""The host's state file (issue 10): its format, and a remote step's record folded into the
step's own command.

`.rorunner-state.json` holds lines of JSON, each `{"format": 2, "steps": {name: record}}`;
a reader folds them in order (a later line's record of a step replaces an earlier one) and
skips any line that is not such an object (a line of format 1, the whole file written by
earlier versions, is read alike). The controller writes the file whole (temp file and
rename) when it records a ship step or compacts it; a remote step's command appends its
record itself: after the user's command succeeded, the same shell appends one line with
one small write() to a file opened O_APPEND, so a kill never leaves half a record that a
reader takes for one, and the record costs no round trip, no SFTP request and no temp file.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from rorunner.model import CONTROLLER, PlanStep

STATE_FILE = ".rorunner-state.json"
FORMAT = 2
_READABLE = (1, FORMAT)  # format 1: one line, written whole (issue 10's first version)
# The exit status and stderr line of a remote step whose command succeeded but whose record
# could not be appended (a user command may exit 199 too: the line tells them apart).
RECORD_FAILED = 199
RECORD_FAILED_LINE = "rorunner: the step ran, but recording it on the host failed"


def tracked(step: PlanStep) -> bool:
    """Whether the host records this step: a ship or remote step acting as the login user."""
    return step.host != CONTROLLER and step.phase in ("ship", "remote") and step.conn.become is None


def folds(step: PlanStep) -> bool:
    """Whether the step's command records it on the host itself (a tracked remote step)."""
    return step.spec.kind == "remote" and tracked(step)


def state_line(steps: Mapping[str, Any]) -> str:
    """One line of the state file recording `steps` (name -> record), no newline."""
    return json.dumps({"format": FORMAT, "steps": steps}, sort_keys=True, separators=(",", ":"))


def fold_record(command: str, name: str, signature: str) -> str:
    """`command` (run in the work dir) followed by the append of its record on success.

    The command runs in a subshell, so that its `exit`, `exec` or EXIT trap cannot skip the
    record (dash execs a subshell's last command in place: no more processes than before);
    its exit status is kept. `:` first keeps a command that is only a comment valid, and
    the blank line ends a trailing backslash continuation."""
    line = state_line({name: {"signature": signature}})
    state = shlex.quote(STATE_FILE)
    return (
        f"(:\n{command}\n\n) || exit\n"
        "umask 077\n"
        f"[ ! -h {state} ] && printf '\\n%s\\n' {shlex.quote(line)} >>{state} || "
        f'{{ echo "{RECORD_FAILED_LINE}: cannot append to $PWD/{STATE_FILE}" >&2; '
        f"exit {RECORD_FAILED}; }}\n"
    )


def parse_state(lines: Iterable[str]) -> tuple[dict[str, Any], int]:
    """The records of a state file's lines, folded in order, and how many lines it has."""
    steps: dict[str, Any] = {}
    count = 0
    for line in lines:
        if not line.strip():
            continue
        count += 1
        try:
            data = json.loads(line)
        except ValueError:
            continue  # a line cut short (a full disk) or not ours: no record
        found = data.get("steps") if isinstance(data, dict) else None
        if isinstance(found, dict) and data.get("format") in _READABLE:
            steps.update(found)
    return steps, count
