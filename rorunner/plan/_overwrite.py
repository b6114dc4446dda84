"""No silent overwrites (issue 10): where every shipped file lands on each host, over all the
plays of a run. A step that ships to a remote path another step of the run already shipped
to is a plan error naming both sources, unless its entry says `override`.

Hosts with the same history of ship steps share one record of it (a state of the ledger),
so the check costs one dict lookup per ship step and host, not a copy of every path per host.
Paths are compared as written: a relative work dir is under the login home, so an absolute
path naming the same place is not recognised as such.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rorunner.errors import InputError, Location
from rorunner.plan._expand import default_dest
from rorunner.plan._jinja import is_template

if TYPE_CHECKING:
    from rorunner.model import StepSpec
    from rorunner.plan._expand import PlannedUnit
    from rorunner.playbook import PathEntry, StepEntry, Unit

_StateKey = tuple[int, str, str, int, tuple[str, ...]]


@dataclass(frozen=True)
class _Source:
    """What shipped a file: its unit and play, where it is written, whether it may replace."""

    what: str  # "role app", "rtas inline"
    play: str
    at: Location
    item: int  # identity of the entry item: the same item shipping again is no clash
    override: bool


class ShipLedger:
    """Per host, the source of every remote path shipped to so far in the plan."""

    def __init__(self) -> None:
        self._host_state: dict[str, int] = {}
        self._states: list[dict[str, _Source]] = [{}]
        self._next: dict[_StateKey, int] = {}

    def ship(
        self,
        host: str,
        play: str,
        unit: Unit,
        entry: StepEntry,
        spec: StepSpec,
        planned: PlannedUnit,
    ) -> None:
        """Record a ship step of `host`; a clash with an earlier step is an InputError."""
        dests = tuple(move.dest for move in spec.files)
        state = self._host_state.get(host, 0)
        key = (state, play, planned.remote_dir, id(entry), dests)
        after = self._next.get(key)
        if after is None:
            after = self._advance(host, key, unit, entry)
            self._next[key] = after
        self._host_state[host] = after

    def _advance(self, host: str, key: _StateKey, unit: Unit, entry: StepEntry) -> int:
        state, play, remote_dir, _, dests = key
        ledger = dict(self._states[state])
        what = f"{'role' if unit.is_role else 'rtas'} {unit.name}"
        for dest in dests:
            item = _item_for(entry, dest)
            source = _Source(
                what,
                play,
                item.at if item is not None else entry.at,
                id(item) if item is not None else id(entry),
                item.override if item is not None else False,
            )
            path = posixpath.normpath(posixpath.join(remote_dir, dest))
            earlier = ledger.get(path)
            if earlier is not None and earlier.item != source.item and not source.override:
                raise _clash(path, dest, earlier, source, unit.is_role)
            ledger[path] = source
        self._states.append(ledger)
        return len(self._states) - 1


def _clash(path: str, dest: str, earlier: _Source, later: _Source, role: bool) -> InputError:
    mark = f"override: [{dest}] in its role.yml" if role else "override: true on its ship entry"
    message = (
        f"two steps ship to the same remote path {path!r} of a host: "
        f"{earlier.what} (play {earlier.play}) and then {later.what} (play {later.play}); "
        f"if the later one is meant to replace the file, mark it ({mark}), else give a role "
        "a work dir of its own (work_subdir: true) or change a dest"
    )
    return InputError.at(message, later.at, [earlier.at])


def _item_for(entry: StepEntry, dest: str) -> PathEntry | None:
    """The item of a ship entry that lands at `dest` (by its path as written; an item whose
    path is templated is taken when no other one matches)."""
    templated = None
    for item in entry.items:
        if item.templated and is_template(f"{item.src}{item.dest or ''}"):
            templated = templated or item
            continue
        target = posixpath.normpath(item.dest or default_dest(item.src))
        if dest in (target, target.removesuffix(".j2")) or dest.startswith(target + "/"):
            return item
    return templated
