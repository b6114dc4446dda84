"""Run many ansible-inventory commands in one interpreter: ansible is imported once, each
command runs in a forked child (ansible keeps global state, so one child per command).

stdin: a JSON list of argument lists (without the program name).
stdout: a JSON list of {"rc": int, "out": str}, in the same order.
Used by tests/test_inventory_diff.py; run with the interpreter that has ansible-core.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

import ansible.cli.inventory as inventory_cli


def _child(argv: list[str], out_path: str) -> None:
    captured: list[str] = []

    def capture(msg: str, *args: Any, **kwargs: Any) -> None:
        captured.append(msg)

    inventory_cli.display.display = capture  # type: ignore[method-assign]
    code: Any = 0
    try:
        inventory_cli.InventoryCLI(["ansible-inventory", *argv]).run()
    except SystemExit as exc:
        code = exc.code or 0
    except Exception as exc:
        code, captured = 250, [repr(exc)]
    with open(out_path, "w", encoding="utf-8") as stream:
        json.dump({"rc": code, "out": captured[-1] + "\n" if captured else ""}, stream)


def main() -> None:
    jobs: list[list[str]] = json.loads(sys.stdin.read())
    tmp = tempfile.mkdtemp(prefix="ansible-oracle-")
    children: list[tuple[int, str]] = []
    for index, argv in enumerate(jobs):
        path = os.path.join(tmp, f"{index}.json")
        pid = os.fork()
        if pid == 0:
            try:
                _child(argv, path)
            finally:
                os._exit(0)
        children.append((pid, path))
    results = []
    for pid, path in children:
        os.waitpid(pid, 0)
        with open(path, encoding="utf-8") as stream:
            results.append(json.load(stream))
        os.unlink(path)
    os.rmdir(tmp)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
