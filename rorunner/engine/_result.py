"""The run result: per-step outcomes (rorunner.outcome) and per-host summaries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rorunner.errors import exit_code_for_hosts
from rorunner.outcome import STATUSES, Status, StepOutcome
from rorunner.records import RunRecord

if TYPE_CHECKING:
    from rorunner.engine._cache import NoopProof

HostState = Literal["ok", "failed", "unreachable"]


@dataclass(frozen=True)
class HostSummary:
    """Counts per status for one host and its final state."""

    host: str
    counts: tuple[tuple[Status, int], ...]
    state: HostState

    def count(self, status: Status) -> int:
        """How many of this host's steps ended with `status`."""
        return dict(self.counts).get(status, 0)


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced, for the CLI to report and map to an exit code."""

    run_id: str
    outcomes: tuple[StepOutcome, ...]
    hosts: tuple[HostSummary, ...]
    interrupted: bool = False
    record: str | None = None  # path of runs/<id>.json
    # what that file holds at the end of the run, as JSON data (run_record: parsed)
    record_doc: Mapping[str, Any] | None = field(default=None, repr=False)
    noop: NoopProof | None = None  # with EngineOptions.prove_noop: that nothing is left to do

    @property
    def run_record(self) -> RunRecord | None:
        """The run record at the end of the run (parsed on each use: only --json needs it)."""
        return None if self.record_doc is None else RunRecord.from_json(self.record_doc)

    @property
    def any_unreachable(self) -> bool:
        """Some host could not be reached."""
        return any(h.state == "unreachable" for h in self.hosts)

    @property
    def any_failed(self) -> bool:
        """Some host had a failing step."""
        return any(h.state == "failed" for h in self.hosts)

    @property
    def exit_code(self) -> int:
        """The exit code this run ends with: 99 interrupted, 4 unreachable, 2 failed, else 0."""
        return exit_code_for_hosts(
            interrupted=self.interrupted, unreachable=self.any_unreachable, failed=self.any_failed
        )


def summarise(hosts: Iterable[str], outcomes: Iterable[StepOutcome]) -> tuple[HostSummary, ...]:
    """Per-host counts and final state, in the order `hosts` gives."""
    by_host: dict[str, Counter[Status]] = {h: Counter() for h in hosts}
    for outcome in outcomes:
        by_host.setdefault(outcome.host, Counter())[outcome.status] += 1
    return tuple(
        HostSummary(host, tuple((s, c[s]) for s in STATUSES), _state(c))
        for host, c in by_host.items()
    )


def _state(counts: Counter[Status]) -> HostState:
    if counts["unreachable"]:
        return "unreachable"
    return "failed" if counts["failed"] else "ok"
