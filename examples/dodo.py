"""The seed README's examples, run against real hosts with plain doit.

    RORUNNER_LAB_HOSTS="2001:db8::11,2001:db8::12,[::1]:2203" doit -f examples/dodo.py
    RORUNNER_RENDEZVOUS=3 doit -f examples/dodo.py -n 3 -P thread      # the RTAS graph, in parallel

Environment:
  RORUNNER_LAB_HOSTS    comma-separated hosts: bare IPv6 addresses or "[addr]:port" (required)
  RORUNNER_USER, RORUNNER_PRIVATE_KEY, RORUNNER_KNOWN_HOSTS
                        how a bare address is reached (see docs/seed-api.md); `tests.lab` gives
                        them as `lab.env()`; `python -m tests.lab up` starts a lab by hand
  RORUNNER_EXAMPLE_DIR  local output and doit's database (default: .rorunner/examples here)
  RORUNNER_RENDEZVOUS   N: every RTAS local_pre step waits (at most RORUNNER_RENDEZVOUS_TIMEOUT,
                        default 60 s) until N hosts have reached it, so the run fails unless N
                        host chains run at the same time

Remote files go to /tmp/rorunner-seed-<host> and /tmp/rorunner-rtas-<host> on each host
(<host> = the doit-safe host token), so hosts that share a /tmp (the loopback lab) stay apart.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.tools import run_once

from rorunner import (
    doit_task_generator_for_RTAS,
    gen_task_fetch_files,
    gen_task_local_exec,
    gen_task_remote_exec,
    gen_task_ship_files,
    get_ref_name,
)
from rorunner.tasks import host_dir, host_token

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
OUT = Path(os.environ.get("RORUNNER_EXAMPLE_DIR") or HERE / ".rorunner" / "examples").resolve()
RENDEZVOUS = int(os.environ.get("RORUNNER_RENDEZVOUS") or 0)
RENDEZVOUS_LIMIT = float(os.environ.get("RORUNNER_RENDEZVOUS_TIMEOUT") or 60)

DOIT_CONFIG = {"dep_file": str(OUT / "doit.db")}


def lab_hosts() -> list[str]:
    """The hosts named by RORUNNER_LAB_HOSTS."""
    hosts = [h.strip() for h in os.environ.get("RORUNNER_LAB_HOSTS", "").split(",") if h.strip()]
    if not hosts:
        raise SystemExit("examples/dodo.py: set RORUNNER_LAB_HOSTS to a comma-separated host list")
    return hosts


def token(ipv6: str) -> str:
    """The doit-safe form of a host string, as the generators use it in task names."""
    return host_token(ipv6)


def seed_dir(ipv6: str) -> str:
    """Remote directory of the seed examples on one host."""
    return f"/tmp/rorunner-seed-{token(ipv6)}"


# --- seed example: gen_task_ship_files ------------------------------------------------------


def ship_task(ipv6: str) -> dict[str, Any]:
    """files_to_ship = ['file1.txt', 'file2.txt'] shipped with label 'ship_files_task'."""
    files_to_ship = [str(DATA / "file1.txt"), str(DATA / "file2.txt")]
    return gen_task_ship_files(files_to_ship, ipv6, "ship_files_task", remote_dir=seed_dir(ipv6))


def task_seed_ship() -> Iterator[dict[str, Any]]:
    """Ship two files to every host."""
    for ipv6 in lab_hosts():
        yield ship_task(ipv6)


# --- seed example: gen_task_remote_exec with a string and with a callable -------------------


def generate_command(ipv6: str, *args: str) -> str:
    """The seed's callable: builds the command from the address and args (recorded, not pinged)."""
    return f"printf 'ping %s %s\\n' {shlex.quote(ipv6)} {shlex.quote(' '.join(args))} > ping.txt"


def remote_exec_tasks(ipv6: str) -> list[dict[str, Any]]:
    """The seed's two remote exec examples; non-dep tasks, so distinct id_args keep them apart."""
    hello = gen_task_remote_exec(
        "echo 'Hello, World!' > hello.txt",
        ipv6,
        id_args=["hello"],
        deps=[ship_task(ipv6)],
        remote_dir=seed_dir(ipv6),
    )
    ping = gen_task_remote_exec(
        generate_command, ipv6, id_args=["ping"], args=["-c 5"], label="ping_task",
        deps=[ship_task(ipv6)], remote_dir=seed_dir(ipv6),
    )  # fmt: skip
    return [hello, ping]


def task_seed_remote_exec() -> Iterator[dict[str, Any]]:
    """Run the string and the callable command on every host."""
    for ipv6 in lab_hosts():
        yield from remote_exec_tasks(ipv6)


def remote_exec_refs(ipv6: str) -> list[str]:
    """Non-dep tasks take their basename from the task function that yields them."""
    return [get_ref_name(t, group="seed_remote_exec") for t in remote_exec_tasks(ipv6)]


# --- seed example: gen_task_local_exec and an "other task" depending on them -----------------


def my_function(arg1: int, arg2: int) -> None:
    """The seed's local function; also writes its result where the tests look."""
    result = arg1 + arg2
    print(f"Result: {result}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "add_task.txt").write_text(f"{result}\n")


def local_task() -> dict[str, Any]:
    """The seed's call: gen_task_local_exec(my_function, id_args=[10, 20], label="add_task")."""
    return gen_task_local_exec(my_function, id_args=[10, 20], label="add_task")


def task_seed_local_exec() -> Iterator[dict[str, Any]]:
    """Run my_function(10, 20) on the controller (yielded: the task has a name)."""
    yield local_task()


def do_something(refs: list[str]) -> None:
    """Stands in for the seed's 'do_something' action: records which tasks it waited for."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "other_task.txt").write_text("\n".join(refs) + "\n")


def task_seed_other() -> Iterator[dict[str, Any]]:
    """The seed's 'other_task', depending on every example task above."""
    refs = [get_ref_name(local_task())]
    for ipv6 in lab_hosts():
        refs += [get_ref_name(ship_task(ipv6)), *remote_exec_refs(ipv6)]
    yield {"name": "other_task", "actions": [(do_something, [refs])], "task_dep": refs}


# --- gen_task_fetch_files -------------------------------------------------------------------


def task_seed_fetch() -> Iterator[dict[str, Any]]:
    """Fetch what the remote commands wrote into <OUT>/fetched/<host>/."""
    for ipv6 in lab_hosts():
        yield gen_task_fetch_files(
            ["hello.txt", "ping.txt"],
            ipv6,
            "fetch_task",
            remote_dir=seed_dir(ipv6),
            local_dir=str(OUT / "fetched"),
            deps=remote_exec_refs(ipv6),
        )


# --- the RTAS template over every host ------------------------------------------------------


def rtas_local(ipv6: str) -> Path:
    """Local work directory of one host's RTAS."""
    return OUT / "rtas" / token(ipv6)


def rendezvous(ipv6: str) -> None:
    """Write this host's marker, then wait (bounded) until RENDEZVOUS hosts have written theirs."""
    meeting = OUT / "rendezvous"
    meeting.mkdir(parents=True, exist_ok=True)
    (meeting / token(ipv6)).write_text(f"{time.time()}\n")
    deadline = time.monotonic() + RENDEZVOUS_LIMIT
    while len(list(meeting.iterdir())) < RENDEZVOUS:
        if time.monotonic() > deadline:
            raise RuntimeError(f"rendezvous: only {len(list(meeting.iterdir()))}/{RENDEZVOUS}")
        time.sleep(0.05)


def prepare(ipv6: str) -> None:
    """local_pre: write the input to ship (and meet the other hosts when asked)."""
    if RENDEZVOUS:
        rendezvous(ipv6)
    work = rtas_local(ipv6)
    work.mkdir(parents=True, exist_ok=True)
    (work / "input.txt").write_text(f"input for {ipv6}\n")


def remote_work(ipv6: str) -> list[str]:
    """remote: two commands run in order in the remote work dir."""
    return [
        "date +%s%N > started",
        f"{{ cat input.txt; echo {shlex.quote('seen ' + ipv6)}; }} > result.txt",
        "date +%s%N > ended",
    ]


def check(ipv6: str) -> None:
    """local_post: the fetched result must hold what was shipped."""
    fetched = OUT / "rtas-fetched" / host_dir(ipv6) / "result.txt"
    text = fetched.read_text()
    if f"input for {ipv6}" not in text:
        raise RuntimeError(f"unexpected result from {ipv6}: {text!r}")
    (rtas_local(ipv6) / "post.txt").write_text("checked\n")


def task_rtas() -> Iterator[dict[str, Any]]:
    """One RTAS per host; `execute_RTAS` waits for all of them (the seed's example)."""
    finals = []
    for ipv6 in lab_hosts():
        rtas_generator = doit_task_generator_for_RTAS(
            "rtas", ipv6, [], remote_work_dir=f"/tmp/rorunner-rtas-{token(ipv6)}",
            local_dir=str(OUT / "rtas-fetched"),
        )  # fmt: skip
        yield from rtas_generator(
            local_steps_pre=prepare,
            to_ship_files=[str(rtas_local(ipv6) / "input.txt")],
            remote_steps=remote_work,
            from_ship_files=["result.txt", "started", "ended"],
            local_steps_post=check,
        )
        assert rtas_generator.final_task is not None
        finals.append(get_ref_name(rtas_generator.final_task))
    yield {"name": "execute_RTAS", "actions": None, "task_dep": finals, "uptodate": [run_once]}
