"""build_plan: every host of every play expanded, linked and validated before anything connects."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rorunner.errors import ErrorCollector, InputError, InputErrors, Location
from rorunner.model import Barrier, ConnectionDefaults, Host, Inventory, PlanStep
from rorunner.plan._become import SigningKey, process_key
from rorunner.plan._expand import Expander, HostPlay, PlannedUnit
from rorunner.plan._files import FileCache
from rorunner.plan._graph import GraphBuilder, chained_signature
from rorunner.plan._hosts import check_pattern, select
from rorunner.plan._jinja import is_template
from rorunner.playbook import Play, Playbook, Unit

DEFAULT_FETCH_DIR = "fetched"


@dataclass(frozen=True)
class PlayInfo:
    """A planned play: its hosts in order and their serial batches."""

    id: str
    name: str
    hosts: tuple[str, ...]
    serial: tuple[int | str, ...]  # as written; () = all hosts in one batch
    max_fail_percentage: float | None
    batches: tuple[tuple[str, ...], ...]
    pipeline: bool = False  # hosts enter the play one by one, no barrier before it


@dataclass
class Built:
    """What build_plan hands to Plan."""

    builder: GraphBuilder
    plays: list[PlayInfo]
    notices: list[str]
    tails: set[tuple[str, str, str, str]]  # (play, role, phase, step) of every step
    files: FileCache | None = None  # the file digests planning took


def batches(hosts: Sequence[str], serial: Sequence[int | str]) -> tuple[tuple[str, ...], ...]:
    """Split hosts into serial batches as Ansible does (the last size repeats; 0 = all)."""
    if not serial:
        return (tuple(hosts),) if hosts else ()
    sizes = [_batch_size(value, len(hosts)) for value in serial]
    result: list[tuple[str, ...]] = []
    start = 0
    while start < len(hosts):
        size = sizes[min(len(result), len(sizes) - 1)]
        result.append(tuple(hosts[start : start + size]))
        start += size
    return tuple(result)


def _batch_size(value: int | str, total: int) -> int:
    if isinstance(value, str):
        return max(1, math.floor(total * int(value.rstrip("%")) / 100))
    return value if value > 0 else max(total, 1)


def build_graph(
    inventory: Inventory,
    playbook: Playbook,
    limit: str | None,
    extra_vars: Mapping[str, Any],
    fetch_dir: str | None,
    defaults: ConnectionDefaults,
    signing_key: SigningKey = process_key,
) -> Built:
    """Expand every play for its hosts into one graph (the work behind build_plan)."""
    allowed = None
    if limit:
        check_pattern(inventory, limit, Location("--limit"))
        allowed = set(select(inventory, limit, Location("--limit")))
    built = Built(GraphBuilder(), [], [], set())
    expander = Expander(playbook, extra_vars, defaults, signing_key)
    built.files = expander.files
    order = _Order()
    errors = ErrorCollector()  # every mistake of the plan at once (per play, per host)
    for play in playbook.plays:
        try:
            hosts = _play_hosts(inventory, play, allowed)
        except InputError as exc:
            errors.add(exc)
            continue
        info = PlayInfo(
            id=play.id,
            name=play.name,
            hosts=tuple(hosts),
            serial=play.serial,
            max_fail_percentage=play.max_fail_percentage,
            batches=batches(hosts, play.serial),
            pipeline=play.pipeline,
        )
        built.plays.append(info)
        if not hosts:
            why = "after --limit" if allowed is not None else "by its hosts pattern"
            built.notices.append(f"play {play.id} ({play.name}): skipped, no hosts matched {why}")
            continue
        context = _PlayContext(inventory, playbook, play, expander, built.builder, defaults)
        built.tails.update(context.tails())
        for error in _add_play(context, info, order, fetch_dir):
            errors.add(error)
    errors.raise_any()
    return built


def _add_play(
    context: _PlayContext, info: PlayInfo, order: _Order, fetch_dir: str | None
) -> list[InputError]:
    """Add every host's steps of one play, batch by batch; the mistakes found (each once,
    naming its hosts when it hit only some)."""
    failed = HostErrors()
    for number, group in enumerate(info.batches, start=1):
        if number > 1 or not info.pipeline:
            order.barrier_before(context.builder, info.id, number)
        for host in group:
            try:
                final = context.host_steps(host, fetch_dir, order.before(host))
            except InputError as exc:
                for error in exc.errors if isinstance(exc, InputErrors) else (exc,):
                    failed.add(host, error)
                continue
            if final is not None:
                order.ended(host, final)
    return failed.errors(len(info.hosts))


class HostErrors:
    """The errors of one play's hosts, each distinct error once with the hosts it hit: an
    error on only some of the play's hosts names them (a variable missing on some hosts)."""

    SHOWN_HOSTS = 10

    def __init__(self) -> None:
        self._hosts: dict[str, tuple[InputError, list[str]]] = {}

    def add(self, host: str, error: InputError) -> None:
        """`host` could not be planned because of `error`."""
        self._hosts.setdefault(str(error), (error, []))[1].append(host)

    def errors(self, play_hosts: int) -> list[InputError]:
        """Each error once; one that hit fewer than all `play_hosts` hosts names them."""
        found = []
        for error, hosts in self._hosts.values():
            if len(hosts) == play_hosts:
                found.append(error)
                continue
            names = ", ".join(hosts[: self.SHOWN_HOSTS])
            names += ", ..." if len(hosts) > self.SHOWN_HOSTS else ""
            message = f"{error.message} (on {len(hosts)} of {play_hosts} hosts: {names})"
            found.append(InputError.at(message, error.location or Location(""), error.also))
        return found


class _Order:
    """What the next steps wait for: the last barrier, each host's last step, and every
    host's latest step since that barrier (what the next barrier waits for).

    Every node comes after the last barrier before it, so a barrier that waits for every
    host's latest step since the last barrier waits for all the work before it (the last
    barrier included, through those steps).
    """

    def __init__(self) -> None:
        self.barrier: int | None = None
        self.last: dict[str, int] = {}
        self.since: dict[str, int] = {}

    def barrier_before(self, builder: GraphBuilder, play: str, batch: int) -> None:
        """A barrier node here, unless nothing happened since the last one."""
        if not self.since:
            return
        preds = dict.fromkeys(self.since.values(), False)
        self.barrier = builder.add(Barrier(play, batch, len(self.since)), preds)
        self.since = {}

    def before(self, host: str) -> list[int]:
        """What the host's next step waits for: its own last step, if that came after the
        last barrier, else the last barrier."""
        last = self.last.get(host)
        if last is not None and (self.barrier is None or last > self.barrier):
            return [last]
        return [] if self.barrier is None else [self.barrier]

    def ended(self, host: str, final: int) -> None:
        """The host's steps so far end with node `final`."""
        self.last[host] = self.since[host] = final


def _play_hosts(inventory: Inventory, play: Play, allowed: set[str] | None) -> list[str]:
    check_pattern(inventory, play.hosts, play.hosts_at)
    chosen = select(inventory, play.hosts, play.hosts_at)
    return [host for host in chosen if allowed is None or host in allowed]


class _PlayContext:
    """Expands one play for one host at a time and links its units."""

    def __init__(
        self,
        inventory: Inventory,
        playbook: Playbook,
        play: Play,
        expander: Expander,
        builder: GraphBuilder,
        defaults: ConnectionDefaults,
    ) -> None:
        self.inventory = inventory
        self.playbook = playbook
        self.play = play
        self.expander = expander
        self.builder = builder
        self.defaults = defaults
        units = [(playbook.roles[n], use) for n, use in playbook.run_list(play)]
        self.units = units + [(unit, None) for unit in play.rtas]
        templated = play.fetch_dir is not None and is_template(play.fetch_dir)
        self._fetch_base = None if templated else self._static_fetch_base()

    def tails(self) -> set[tuple[str, str, str, str]]:
        """(play, role, phase, step) of every step a host of this play gets."""
        return {(self.play.id, u.name, e.phase, e.name) for u, _ in self.units for e in u.steps}

    def host_steps(self, name: str, fetch_dir: str | None, before: list[int]) -> int | None:
        """Add the host's steps for this play, its first waiting for `before`; its last step."""
        host = self.inventory.hosts[name]
        fetch = self._fetch_dir(host, fetch_dir)
        where = self.expander.host_play(host, self.play, self.defaults, fetch)
        exits: dict[str, list[int]] = {}  # per unit: what a dependent unit waits for
        previous: int | None = None
        errors = ErrorCollector()  # each unit's first mistake (the plan is not run then)
        for unit, use in self.units:
            try:
                planned = self.expander.unit(where, unit, use)
            except InputError as exc:
                errors.add(exc)
                continue
            feeders = [node for dep in unit.depends for node in exits.get(dep, [])]
            if not planned.steps:
                exits[unit.name] = feeders
                continue
            preds = dict.fromkeys(before if previous is None else [previous], False)
            preds.update(dict.fromkeys(feeders, True))
            first = self._add_unit(where, unit, planned, preds)
            previous = first + len(planned.steps) - 1
            exits[unit.name] = [previous]
        errors.raise_any()
        return previous

    def _add_unit(
        self, where: HostPlay, unit: Unit, planned: PlannedUnit, preds: dict[int, bool]
    ) -> int:
        """Add the unit's steps, each feeding the next; the index of the first."""
        builder = self.builder
        first = len(builder.nodes)
        host, play, fetch_dir = where.host.name, where.play.id, where.fetch_dir
        env, remote_dir, shared = planned.env, planned.remote_dir, planned.digest
        previous: PlanStep | None = None
        for entry, name, conn, spec, digest in planned.steps:
            own = digest + shared
            signature = (
                builder.signature(own, preds)
                if previous is None
                else chained_signature(own, previous.signature)
            )
            step = PlanStep(
                host,
                play,
                unit.name,
                entry.phase,
                name,
                spec,
                conn,
                env,
                remote_dir,
                fetch_dir,
                signature,
            )
            if previous is None:
                builder.add(step, preds)
            else:
                builder.add_fed_by_previous(step)
            previous = step
        return first

    def _static_fetch_base(self) -> str:
        where = self.play.fetch_dir or DEFAULT_FETCH_DIR
        return os.path.normpath(os.path.join(self.playbook.directory, where))

    def _fetch_dir(self, host: Host, cli_dir: str | None) -> str:
        if "/" in host.name or host.name in (".", ".."):
            message = f"host name {host.name!r} cannot name a fetch directory"
            raise InputError.at(message, host.source)
        if cli_dir:
            return os.path.join(os.path.abspath(cli_dir), host.name)
        base = self._fetch_base
        if base is None:
            at = self.play.fetch_dir_at or self.play.at
            variables = self.expander.variables(host, self.play)
            text = self.expander.renders.string(
                self.play.fetch_dir or "", variables, at, "fetch_dir"
            )
            base = os.path.normpath(os.path.join(self.playbook.directory, text))
        return os.path.join(base, host.name)
