"""A hand-built Plan for engine tests: hosts reached with connection=local, no lab needed."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rorunner.model import ConnectionSpec, PlanStep, StepSpec
from rorunner.plan import batches


@dataclass(frozen=True)
class FakePlay:
    id: str
    name: str
    hosts: tuple[str, ...]
    serial: tuple[int | str, ...] = ()
    max_fail_percentage: float | None = None

    @property
    def batches(self) -> tuple[tuple[str, ...], ...]:
        return batches(self.hosts, self.serial)


@dataclass(frozen=True)
class FakePlan:
    steps: tuple[PlanStep, ...]
    edges: Mapping[tuple[str, ...], tuple[PlanStep, ...]]
    plays: tuple[FakePlay, ...]
    notices: tuple[str, ...] = ()

    @property
    def nodes(self) -> tuple[PlanStep, ...]:
        return self.steps

    def predecessors(self, step: PlanStep) -> tuple[PlanStep, ...]:
        return self.edges.get(step.node, ())

    def ordered(self) -> Iterator[tuple[PlanStep, list[int]]]:
        index = {step.node: i for i, step in enumerate(self.steps)}
        for step in self.steps:
            yield step, sorted(index[p.node] for p in self.predecessors(step))

    def inputs(self, step: PlanStep, base: str, made: Any = ()) -> dict[str, str | None]:
        """No inputs one by one: a dry run says "inputs changed" (tests/test_plan_reasons_lab
        checks the real Plan.inputs)."""
        return {}

    def render(self, fmt: str, status: Mapping[Any, str] | None = None) -> str:
        status = status or {}
        return "\n".join(f"{'/'.join(s.node)} {status.get(s.node, '')}" for s in self.steps)

    def graph_file(self, status: Mapping[Any, str] | None = None) -> str:
        return self.render("json", status)


@dataclass
class PlanMaker:
    """Builds chains of remote/local steps per host; signatures chain like the planner's."""

    root: Path
    hosts: Sequence[str] = ("a", "b")
    play: str = "01-play"
    serial: tuple[int | str, ...] = ()
    max_fail_percentage: float | None = None
    barrier: bool = False  # add cross-host edges between serial batches
    over_ssh: bool = False  # hosts reached over SSH (give the engine a rorunner.testing pool)
    steps: list[tuple[str, str, StepSpec]] = field(default_factory=list)  # (phase, name, spec)

    def add(self, phase: str, name: str, **spec: Any) -> PlanMaker:
        kind = {"local_pre": "local", "local_post": "local"}.get(phase, phase)
        self.steps.append((phase, name, StepSpec(kind=kind, **spec)))  # type: ignore[arg-type]
        return self

    def build(self, salt: Mapping[tuple[str, str], str] | None = None) -> FakePlan:
        salt = salt or {}
        out: list[PlanStep] = []
        edges: dict[tuple[str, ...], tuple[PlanStep, ...]] = {}
        last_of: dict[str, PlanStep] = {}
        for host in self.hosts:
            # Made here so that tests can put files in it before a run.
            (self.root / "remote" / host).mkdir(parents=True, exist_ok=True)
            prev: PlanStep | None = None
            for phase, name, spec in self.steps:
                step = self._step(host, phase, name, spec)
                own = f"{spec}{salt.get((host, name), '')}"
                chain = prev.signature if prev else ""
                step = replace(step, signature=hashlib.sha256((own + chain).encode()).hexdigest())
                edges[step.node] = (prev,) if prev else ()
                out.append(step)
                prev = step
            if prev:
                last_of[host] = prev
        if self.barrier:
            self._barriers(out, edges, last_of)
        play = FakePlay(
            self.play, self.play, tuple(self.hosts), self.serial, self.max_fail_percentage
        )
        return FakePlan(tuple(out), edges, (play,))

    def _barriers(
        self,
        out: list[PlanStep],
        edges: dict[tuple[str, ...], tuple[PlanStep, ...]],
        last_of: Mapping[str, PlanStep],
    ) -> None:
        groups = batches(list(self.hosts), self.serial)
        for before, after in itertools.pairwise(groups):
            for host in after:
                first = next(s for s in out if s.host == host)
                edges[first.node] = edges[first.node] + tuple(last_of[h] for h in before)

    def _step(self, host: str, phase: str, name: str, spec: StepSpec) -> PlanStep:
        conn = (
            ConnectionSpec(address=f"2001:db8::{len(host)}", label=host)
            if self.over_ssh
            else ConnectionSpec(address="localhost", connection="local", label=host)
        )
        env = (("RORUNNER_HOST", host), ("COUNTERS", str(self.root / "counters")))
        return PlanStep(
            host=host,
            play=self.play,
            role="r",
            phase=phase,  # type: ignore[arg-type]
            name=name,
            spec=spec,
            conn=conn,
            env=env,
            remote_dir=str(self.root / "remote" / host),
            fetch_dir=str(self.root / "fetched" / host),
        )


def count_cmd(tag: str) -> str:
    """A command that appends one line per run to $COUNTERS/<host>.<tag>."""
    return f'mkdir -p "$COUNTERS" && echo x >> "$COUNTERS/$RORUNNER_HOST.{tag}"'


def counts(root: Path) -> dict[str, int]:
    """Run counters by '<host>.<tag>'."""
    folder = root / "counters"
    if not folder.exists():
        return {}
    return {p.name: len(p.read_text().splitlines()) for p in sorted(folder.iterdir())}


def slow_chain(root: Path) -> FakePlan:
    """Hosts a and b: steps one, slow, three; a's slow step touches $COUNTERS/a.started, then
    waits (at most 30 s) for $COUNTERS/release."""
    maker = PlanMaker(root, hosts=("a", "b"))
    maker.add("remote", "one", command=count_cmd("one"))
    wait = (
        '{ [ "$RORUNNER_HOST" != a ] || { i=0; while [ ! -e "$COUNTERS/release" ] && '
        "[ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; }; }"
    )
    started = 'touch "$COUNTERS/$RORUNNER_HOST.started"'
    maker.add("remote", "slow", command=f"{count_cmd('slow')} && {started} && {wait}")
    maker.add("remote", "three", command=count_cmd("three"))
    return maker.build()
