"""The RTAS workload the benchmarks share: one play of one inline unit (a local pre-step,
ship 3 files incl. 1 MiB, 3 remote commands, fetch, a local post-step).

Imported by the bench scripts as a sibling module (they run as `python bench/NAME.py`).
"""

from __future__ import annotations

RTAS_UNIT = """\
  rtas:
    - name: work
      local_pre:
        - run: mkdir -p build && printf 'stamp %s\\n' "$RORUNNER_HOST" > build/stamp-$RORUNNER_HOST
      ship:
        - run.sh
        - app.conf
        - data.bin
      remote:
        - sh run.sh
        - md5sum data.bin > sums.txt
        - wc -c app.conf >> sums.txt
      fetch:
        - sums.txt
      local_post:
        - run: grep -q data.bin "$RORUNNER_FETCH_DIR/sums.txt"
            && grep -q app.conf "$RORUNNER_FETCH_DIR/sums.txt"
"""


def rtas_playbook(name: str, *play_keys: str) -> str:
    """The workload's playbook: play `name` on all hosts, with `play_keys` (YAML lines such
    as 'serial: "50%"') before its unit."""
    head = [f"- name: {name}", "  hosts: all", *(f"  {key}" for key in play_keys)]
    return "\n".join(head) + "\n" + RTAS_UNIT
