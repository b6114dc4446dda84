"""build_plan: every host of every play expanded, linked and validated before anything connects."""

from __future__ import annotations

import hashlib
import math
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rorunner.errors import ErrorCollector, InputError, InputErrors, Location
from rorunner.model import (
    CONTROLLER,
    Barrier,
    ConnectionDefaults,
    ConnectionSpec,
    Host,
    Inventory,
    Phase,
    PlanStep,
    StepSpec,
)
from rorunner.plan._become import SigningKey, process_key
from rorunner.plan._expand import Expander, HostPlay, PlannedUnit
from rorunner.plan._files import FileCache
from rorunner.plan._graph import GraphBuilder, chained_signature
from rorunner.plan._hosts import check_pattern, select
from rorunner.plan._jinja import is_template
from rorunner.plan._newstep import new_step
from rorunner.plan._overwrite import ShipLedger
from rorunner.playbook import Play, Playbook, Unit

DEFAULT_FETCH_DIR = "fetched"
CONTROLLER_ROLE = "play"  # the role part of a local_before/local_after step's node
CLEANUP_STEP = "secrets"  # a host's last step of a play that shipped it secret files


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
    ledger = ShipLedger()
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
        context = _PlayContext(
            inventory, playbook, play, expander, built.builder, defaults, hosts, fetch_dir, ledger
        )
        built.tails.update(context.tails())
        for error in _add_play(context, info, order):
            errors.add(error)
    errors.raise_any()
    return built


def _add_play(context: _PlayContext, info: PlayInfo, order: _Order) -> list[InputError]:
    """Add one play: its local_before steps, every host's steps batch by batch, its
    local_after steps; the mistakes found (each once, naming its hosts when it hit only
    some)."""
    failed = HostErrors()
    play = context.play
    for number, group in enumerate(info.batches, start=1):
        if number > 1 or not info.pipeline:
            order.barrier_before(context.builder, info.id, number)
        if number == 1 and play.local_before:
            order.open_gate(context.controller("local_before", order.before(CONTROLLER)))
        for host in group:
            try:
                final = context.host_steps(host, order.before(host))
            except InputError as exc:
                for error in exc.errors if isinstance(exc, InputErrors) else (exc,):
                    failed.add(host, error)
                continue
            if final is not None:
                order.ended(host, final)
    if play.local_after:
        order.closed_by(context.controller("local_after", order.everything()))
    order.close_gate()
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
        self.gate: int | None = None  # the play's last local_before step, while it lasts
        self.last: dict[str, int] = {}
        self.since: dict[str, int] = {}
        self.hosts_since = 0  # hosts with work since the last barrier

    def barrier_before(self, builder: GraphBuilder, play: str, batch: int) -> None:
        """A barrier node here, unless nothing happened since the last one."""
        if not self.since:
            return
        preds = dict.fromkeys(self.since.values(), False)
        self.barrier = builder.add(Barrier(play, batch, self.hosts_since), preds)
        self.since = {}
        self.hosts_since = 0

    def before(self, host: str) -> list[int]:
        """What the host's next step waits for: its own last step, if that came after the
        last barrier, else the last barrier; and the play's local_before steps."""
        last = self.last.get(host)
        if last is not None and (self.barrier is None or last > self.barrier):
            waits = [last]
        else:
            waits = [] if self.barrier is None else [self.barrier]
        if self.gate is not None and host != CONTROLLER and self.gate not in waits:
            waits.append(self.gate)
        return waits

    def everything(self) -> list[int]:
        """What a play's local_after waits for: every host's latest step since the last
        barrier (so, through them, everything before), or what the controller would."""
        hosts = [i for host, i in self.since.items() if host != CONTROLLER or i != self.gate]
        return sorted(hosts) or self.before(CONTROLLER)

    def closed_by(self, last_after: int) -> None:
        """The play's local_after steps end with `last_after`, after all the work since the
        last barrier: a next barrier need wait for it alone."""
        self.last[CONTROLLER] = last_after
        self.since = {CONTROLLER: last_after}

    def open_gate(self, last_before: int) -> None:
        """The play's local_before steps end with `last_before`: its hosts wait for it."""
        self.ended(CONTROLLER, last_before)
        self.gate = last_before

    def close_gate(self) -> None:
        """The play is planned: the next one's hosts do not wait for its local_before."""
        self.gate = None

    def ended(self, host: str, final: int) -> None:
        """The host's steps so far end with node `final`."""
        if host not in self.since and host != CONTROLLER:
            self.hosts_since += 1
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
        hosts: Sequence[str],
        cli_fetch_dir: str | None,
        ledger: ShipLedger,
    ) -> None:
        self.inventory = inventory
        self.playbook = playbook
        self.play = play
        self.expander = expander
        self.builder = builder
        self.defaults = defaults
        self.hosts = hosts
        self.cli_fetch_dir = cli_fetch_dir
        self.ledger = ledger
        units = [(playbook.roles[n], use) for n, use in playbook.run_list(play)]
        self.units = units + [(unit, None) for unit in play.rtas]
        self._ships_secrets = [_ships_secrets(unit) for unit, _ in self.units]
        templated = play.fetch_dir is not None and is_template(play.fetch_dir)
        self._fetch_base = None if templated else self._static_fetch_base()
        self.made: dict[str, tuple[str, int]] = {}  # local_before files: name, node of maker
        self._made_names: dict[str, str] = {}

    def tails(self) -> set[tuple[str, str, str, str]]:
        """(play, role, phase, step) of every step a host (or the controller) of this play
        gets."""
        tails: set[tuple[str, str, str, str]] = {
            (self.play.id, u.name, e.phase, e.name) for u, _ in self.units for e in u.steps
        }
        for entries in (self.play.local_before, self.play.local_after):
            tails.update((self.play.id, CONTROLLER_ROLE, e.phase, e.name) for e in entries)
        return tails

    def controller(self, phase: Phase, before: list[int]) -> int:
        """Add the play's local_before or local_after steps (on the controller, once), the
        first waiting for `before`; the index of the last."""
        play = self.play
        entries = play.local_before if phase == "local_before" else play.local_after
        root = self.fetch_root()
        planned = self.expander.controller(play, entries, root)
        preds = dict.fromkeys(before, False)
        index = -1
        for entry, _, conn, spec, digest in planned.steps:
            step = PlanStep(
                host=CONTROLLER,
                play=play.id,
                role=CONTROLLER_ROLE,
                phase=phase,
                name=entry.name,
                spec=spec,
                conn=conn,
                env=planned.env,
                remote_dir="",
                fetch_dir=root,
                signature=self.builder.signature(digest + planned.digest, preds),
            )
            index = self.builder.add(step, preds)
            preds = {index: True}
            for path in spec.creates:
                self.made[path] = (entry.name, index)
                self._made_names[path] = f"{phase}/{entry.name}"
        return index

    def host_steps(self, name: str, before: list[int]) -> int | None:
        """Add the host's steps for this play, its first waiting for `before`; its last step."""
        host = self.inventory.hosts[name]
        fetch = self._fetch_dir(host, self.cli_fetch_dir)
        where = self.expander.host_play(host, self.play, self.defaults, fetch)
        exits: dict[str, list[int]] = {}  # per unit: what a dependent unit waits for
        previous: int | None = None
        errors = ErrorCollector()  # each unit's first mistake (the plan is not run then)
        secrets: list[_Secret] = []  # the secret files the host gets in this play
        for (unit, use), ships_secrets in zip(self.units, self._ships_secrets, strict=True):
            try:
                planned = self.expander.unit(where, unit, use, self._made_names)
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
            if ships_secrets:
                secrets.extend(_secrets(planned))
        errors.raise_any()
        if secrets and previous is not None:
            previous = self._cleanup(where, secrets, previous)
        return previous

    def _cleanup(self, where: HostPlay, secrets: list[_Secret], last: int) -> int:
        """The host's last steps of the play: remove the secret files it shipped, one step
        per user and work dir they were shipped as and to (each fed by the step before it,
        so it runs again whenever anything before it changes); the index of the last."""
        groups: dict[tuple[ConnectionSpec, str], list[str]] = {}
        for conn, remote_dir, path in secrets:
            groups.setdefault((conn, remote_dir), []).append(path)
        for number, ((conn, remote_dir), paths) in enumerate(groups.items(), start=1):
            quoted = " ".join(shlex.quote(path) for path in dict.fromkeys(paths))
            spec = StepSpec("remote", command=f"rm -f -- {quoted}")
            own = hashlib.sha256(b"cleanup\0" + repr((conn, remote_dir, quoted)).encode())
            preds = {last: True}
            step = PlanStep(
                where.host.name,
                self.play.id,
                CONTROLLER_ROLE,
                "cleanup",
                cleanup_name(number),
                spec,
                conn,
                (),
                remote_dir,
                where.fetch_dir,
                self.builder.signature(own.digest(), preds),
            )
            last = self.builder.add(step, preds)
        return last

    def _add_unit(
        self, where: HostPlay, unit: Unit, planned: PlannedUnit, preds: dict[int, bool]
    ) -> int:
        """Add the unit's steps, each feeding the next; the index of the first. A ship step
        of a file that a local_before step makes is fed by that step too."""
        builder = self.builder
        first = len(builder.nodes)
        host, play, fetch_dir = where.host.name, where.play.id, where.fetch_dir
        env, remote_dir, shared = planned.env, planned.remote_dir, planned.digest
        previous: PlanStep | None = None
        for entry, name, conn, spec, digest in planned.steps:
            own = digest + shared
            makers: dict[int, bool] = {}
            if spec.kind == "ship":
                self.ledger.ship(host, play, unit, entry, spec, planned)
                makers = self._makers(spec)
            if previous is not None and makers:
                preds = {len(builder.nodes) - 1: True}
            preds = {**preds, **makers} if makers else preds
            signature = (
                builder.signature(own, preds)
                if previous is None or makers
                else chained_signature(own, previous.signature)
            )
            step = new_step(
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
            if previous is None or makers:
                builder.add(step, preds)
            else:
                builder.add_fed_by_previous(step)
            previous = step
        return first

    def _makers(self, spec: StepSpec) -> dict[int, bool]:
        """The local_before steps that make files this ship step ships (each feeds it)."""
        if not self.made:
            return {}
        makers = (self.made.get(move.src) for move in spec.files)
        return {maker[1]: True for maker in makers if maker is not None}

    def fetch_root(self) -> str:
        """The directory holding the play's `<host>/` fetch dirs (RORUNNER_FETCH_ROOT)."""
        if self.cli_fetch_dir:
            return os.path.abspath(self.cli_fetch_dir)
        if self._fetch_base is not None:
            return self._fetch_base
        hosts = self.inventory.hosts
        roots = {os.path.dirname(self._fetch_dir(hosts[name], None)) for name in self.hosts}
        if len(roots) != 1:
            at = self.play.fetch_dir_at or self.play.at
            shown = ", ".join(sorted(roots)[:3])
            message = (
                "local_before/local_after need one fetch root (RORUNNER_FETCH_ROOT), "
                f"but fetch_dir gives this play's hosts several: {shown}"
            )
            raise InputError(message, at.path, at.line)
        return roots.pop()

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


_Secret = tuple[ConnectionSpec, str, str]  # who shipped it, into which work dir, to which path


def _ships_secrets(unit: Unit) -> bool:
    """Whether a ship entry of `unit` marks a file secret (then hosts get a cleanup step)."""
    return any(item.secret for entry in unit.steps if entry.phase == "ship" for item in entry.items)


def _secrets(planned: PlannedUnit) -> list[_Secret]:
    """The unit's secret files: who shipped each, into which work dir, and where it landed
    (relative to that dir, or absolute)."""
    return [
        (conn, planned.remote_dir, move.dest)
        for _, _, conn, spec, _ in planned.steps
        if spec.kind == "ship"
        for move in spec.files
        if move.secret
    ]


def cleanup_name(number: int) -> str:
    """The name of a host's n-th secret-removing step of a play: secrets, secrets-2, ..."""
    return CLEANUP_STEP if number == 1 else f"{CLEANUP_STEP}-{number}"
