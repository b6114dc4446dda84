"""build_plan: every host of every play expanded, linked and validated before anything connects."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rorunner.errors import InputError, Location
from rorunner.model import ConnectionDefaults, Host, Inventory
from rorunner.plan._expand import Expander, HostPlay, Planned, host_location
from rorunner.plan._graph import GraphBuilder, Node
from rorunner.plan._hosts import check_pattern, select
from rorunner.plan._jinja import render_string
from rorunner.playbook import Play, Playbook, StepEntry

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


@dataclass
class Built:
    """What build_plan hands to Plan."""

    builder: GraphBuilder
    plays: list[PlayInfo]
    notices: list[str]


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
) -> Built:
    """Expand every play for its hosts into one graph (the work behind build_plan)."""
    allowed = None
    if limit:
        check_pattern(inventory, limit, Location("--limit"))
        allowed = set(select(inventory, limit, Location("--limit")))
    built = Built(GraphBuilder(), [], [])
    expander = Expander(playbook, extra_vars)
    last: dict[str, Node] = {}  # per host: the last step of its latest play
    for play in playbook.plays:
        hosts = _play_hosts(inventory, play, allowed)
        info = PlayInfo(
            id=play.id,
            name=play.name,
            hosts=tuple(hosts),
            serial=play.serial,
            max_fail_percentage=play.max_fail_percentage,
            batches=batches(hosts, play.serial),
        )
        built.plays.append(info)
        if not hosts:
            why = "after --limit" if allowed is not None else "by its hosts pattern"
            built.notices.append(f"play {play.id} ({play.name}): skipped, no hosts matched {why}")
            continue
        context = _PlayContext(inventory, playbook, play, expander, built.builder, defaults)
        ends = {host: context.host_steps(host, fetch_dir) for host in hosts}
        for host, (first, final) in ends.items():
            if host in last and first is not None:
                built.builder.link(last[host], first, feeds=False)
            if final is not None:
                last[host] = final
        _serial_barriers(built.builder, info.batches, ends)
    return built


def _play_hosts(inventory: Inventory, play: Play, allowed: set[str] | None) -> list[str]:
    check_pattern(inventory, play.hosts, play.hosts_at)
    chosen = select(inventory, play.hosts, play.hosts_at)
    return [host for host in chosen if allowed is None or host in allowed]


def _serial_barriers(
    builder: GraphBuilder,
    groups: tuple[tuple[str, ...], ...],
    ends: Mapping[str, tuple[Node | None, Node | None]],
) -> None:
    """Batch k+1 of a play starts after every host of batch k finished the play."""
    for earlier, later in itertools.pairwise(groups):
        finals = [ends[h][1] for h in earlier if ends[h][1] is not None]
        for host in later:
            first = ends[host][0]
            for final in finals:
                if first is not None and final is not None:
                    builder.link(final, first, feeds=False)


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
        self.run_list = playbook.run_list(play)

    def host_steps(self, name: str, fetch_dir: str | None) -> tuple[Node | None, Node | None]:
        """Add the host's steps for this play; return its first and last step."""
        host = self.inventory.hosts[name]
        where = HostPlay(
            host, self.play, self.defaults.spec_for(host), self._fetch_dir(host, fetch_dir)
        )
        exits: dict[str, list[Node]] = {}  # per unit: what a dependent unit waits for
        first: Node | None = None
        previous: Node | None = None
        units = [(self.playbook.roles[n], use) for n, use in self.run_list]
        units += [(unit, None) for unit in self.play.rtas]
        for unit, use in units:
            planned = self.expander.unit(where, unit, use)
            nodes = self.builder.add_chain(planned, _where_map(planned, unit.steps))
            feeders = [node for dep in unit.depends for node in exits.get(dep, [])]
            exits[unit.name] = [nodes[-1]] if nodes else feeders
            if not nodes:
                continue
            for node in feeders:
                self.builder.link(node, nodes[0], feeds=True)
            if previous is not None:
                self.builder.link(previous, nodes[0], feeds=False)
            first = first or nodes[0]
            previous = nodes[-1]
        return first, previous

    def _fetch_dir(self, host: Host, cli_dir: str | None) -> str:
        if "/" in host.name or host.name in (".", ".."):
            at = host_location(host)
            message = f"host name {host.name!r} cannot name a fetch directory"
            raise InputError(message, at.path, at.line)
        if cli_dir:
            return os.path.join(os.path.abspath(cli_dir), host.name)
        base = os.path.join(self.playbook.directory, DEFAULT_FETCH_DIR)
        if self.play.fetch_dir:
            at = self.play.fetch_dir_at or self.play.at
            variables = self.expander.variables(host, self.play)
            text = render_string(self.play.fetch_dir, variables, at, "fetch_dir")
            base = os.path.join(self.playbook.directory, text)
        return os.path.join(os.path.normpath(base), host.name)


def _where_map(planned: Sequence[Planned], entries: Sequence[StepEntry]) -> dict[Node, Location]:
    return {p.step.node: e.at for p, e in zip(planned, entries, strict=True)}
