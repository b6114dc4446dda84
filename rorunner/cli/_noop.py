"""`rorunner play` with nothing to do: answered from the plan cache (rorunner.records
PlanCache) without planning, doit or any connection, and the cache kept after each run.

Only a plain run is answered this way: any option the cache does not key on as input (a dry
run, --force, --verify, --check, -v, --json, a password prompt...) plans as usual. The fast
path imports only the CLI, the run records and the reporter's line formats.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rorunner.cli import warning_text
from rorunner.records import (
    InputRecorder,
    PlanCache,
    PlayRecord,
    RunMeta,
    StepRecord,
    answer_unchanged,
    forget_cache,
    run_key,
    save_cache,
)

if TYPE_CHECKING:
    from rorunner.engine import EngineOptions, NoopProof, RunResult
    from rorunner.plan import Plan

# Options whose non-default value the cache cannot stand for (they are not plain inputs).
_FLAGS = (
    "dry_run",
    "force",
    "verify",
    "as_json",
    "check",
    "diff",
    "list_hosts",
    "list_tasks",
    "ask_become_pass",
    "ask_vault_pass",
)


def cache_key(options: Mapping[str, Any], argv: Sequence[str]) -> str | None:
    """The plan cache's key for this command line as typed (what click makes of it is a
    function of it), or None when it is not cacheable."""
    if not argv or any(options[name] for name in _FLAGS) or options["graph"]:
        return None
    if options["verbosity"]:
        return None
    if any(source.rpartition("@")[2] == "prompt" for source in options["vault_ids"]):
        return None
    return run_key(list(argv))


def answer(playbook: Path, key: str) -> bool:
    """Answer an unchanged run from the cache (rorunner.records answer_unchanged) and print
    what a run with every step up to date prints; False (nothing done) when it cannot."""
    clock = time.monotonic()
    answered = answer_unchanged(playbook, key)
    if answered is None:
        return False
    from rorunner.report import unchanged_run_lines  # noqa: PLC0415 - lazy: the lines only

    cache, record = answered
    for line in cache.screen["stderr"]:
        click.echo(line, err=True)
    took = time.monotonic() - clock
    click.echo("\n".join(unchanged_run_lines(cache.screen, str(record), took)))
    return True


def remember(
    key: str,
    recorder: InputRecorder,
    plan: Plan,
    engine: EngineOptions,
    result: RunResult,
    warnings: Sequence[str],
) -> None:
    """After a run: cache its plan when every step is up to date now, else drop the cache
    of this key. Never fails the run: on any error there is simply no cache."""
    saved = None
    with contextlib.suppress(Exception):  # a cache is an optimisation: the run stands
        made = _verified(key, recorder, plan, engine, result)
        if made is not None:
            saved = save_cache(engine.state_dir, *_cache(key, recorder, made, warnings))
    if saved is None:
        with contextlib.suppress(OSError):
            forget_cache(engine.state_dir, key)


def _verified(
    key: str, recorder: InputRecorder, plan: Plan, engine: EngineOptions, result: RunResult
) -> tuple[Plan, EngineOptions, NoopProof] | None:
    """The proof, made by the run (EngineOptions.prove_noop), that the plan has nothing to do
    now (None: the run or the DB says it has, or planning read something it could not key on,
    or an input changed meanwhile)."""
    proof = result.noop
    if proof is None or recorder.doubt or recorder.current() != recorder.inputs:
        return None
    return plan, engine, proof


def _cache(
    key: str,
    recorder: InputRecorder,
    made: tuple[Plan, EngineOptions, NoopProof],
    warnings: Sequence[str],
) -> tuple[PlanCache, str, tuple[RunMeta, Sequence[PlayRecord], Sequence[StepRecord], str]]:
    """The cache, the plan graph and what the record template is made of."""
    from rorunner.report import play_totals, recap_lines  # noqa: PLC0415 - lazy

    plan, engine, proof = made
    screen = {
        "stderr": [warning_text(w) for w in warnings] + [f"rorunner: {n}" for n in plan.notices],
        "plays": [[p.id, p.name, p.steps] for p in play_totals(plan)],
        "recap": recap_lines(proof.result),
        "steps": len(proof.steps),
        "hosts": len(proof.result.hosts),
    }
    asked = engine.invocation
    meta = RunMeta.of(asked, "", str(engine.project_dir))
    extra = {"playbook": asked.playbook, "keep_runs": engine.keep_runs}
    cache = PlanCache(
        key,
        recorder.inputs,
        proof.db,
        proof.watched,
        proof.targets,
        extra,
        screen,
        saved_ns=proof.db.at_ns,  # when the watched files' states were taken (just before)
    )
    reason = proof.result.outcomes[0].reason
    return cache, plan.graph_file({}), (meta, proof.plays, proof.steps, reason)
