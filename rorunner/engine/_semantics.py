"""What a step does beyond its own actions, for plays users can trust (issue 10).

- A play's local_before and local_after steps (on the controller, once) get the play's hosts
  and their outcomes so far in the environment: RORUNNER_HOSTS, RORUNNER_HOSTS_OK and
  RORUNNER_HOSTS_FAILED (space-separated inventory names). They are not part of the steps'
  signatures: they are known only as the run goes.
- A host step that runs marks its play's local_after steps stale (committed before it acts),
  so they run again after it, in this run or, if this one is cut short, in the next.
- A local_before step does not run when no host of its play is left.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import TypeVar, cast

from rorunner.engine._db import StateDB
from rorunner.engine._lower import LoweredTask
from rorunner.engine._state import RunState
from rorunner.model import CONTROLLER
from rorunner.tasks import RunCommands

_Action = TypeVar("_Action")


class PlaySemantics:
    """Shared by every step of one run; thread-safe."""

    def __init__(self, state: RunState, db: StateDB) -> None:
        self._state = state
        self._db = db
        self._lock = threading.Lock()
        self._stale: set[str] = set()  # marked stale in this run already

    def blocked(self, lowered: LoweredTask) -> str:
        """Why this step must not start, beyond what RunState says ('' when it may)."""
        step = lowered.step
        if step.phase == "local_before" and not self._state.hosts_of(step.play)[1]:
            return f"no host of play {step.play} is left"
        return ""

    def starting(self, lowered: LoweredTask) -> None:
        """The step is about to act: what it makes stale is marked so, once per run."""
        with self._lock:
            fresh = [name for name in lowered.invalidates if name not in self._stale]
            self._stale.update(fresh)
        reason = f"a host step of play {lowered.step.play} ran"
        for name in fresh:
            self._db.mark_stale(name, reason)

    def actions(self, lowered: LoweredTask, actions: Sequence[_Action]) -> tuple[_Action, ...]:
        """The step's actions as they run now: a controller step's commands get the play's
        hosts and their outcomes in the environment."""
        step = lowered.step
        if step.host != CONTROLLER:
            return tuple(actions)
        hosts, going, failed = self._state.hosts_of(step.play)
        extra = (
            ("RORUNNER_HOSTS", " ".join(hosts)),
            ("RORUNNER_HOSTS_OK", " ".join(going)),
            ("RORUNNER_HOSTS_FAILED", " ".join(failed)),
        )
        return tuple(
            cast(_Action, dataclasses.replace(action, env=(*action.env, *extra)))
            if isinstance(action, RunCommands)
            else action
            for action in actions
        )


RESHIP = "its secret files were removed after the play, and a step of the play runs"


def secret_reships(lowered: Sequence[LoweredTask], going: Iterable[str]) -> list[LoweredTask]:
    """Ship steps of secret files that must run again although up to date: their files were
    removed from the host after the play, and another step of the host's play (named in
    `going`) runs and may need them."""
    names = set(going)
    busy = {
        (lt.step.host, lt.step.play)
        for lt in lowered
        if lt.name in names and lt.step.phase != "cleanup" and not _ships_secrets(lt)
    }
    return [
        lt
        for lt in lowered
        if lt.name not in names and _ships_secrets(lt) and (lt.step.host, lt.step.play) in busy
    ]


def _ships_secrets(lowered: LoweredTask) -> bool:
    spec = lowered.step.spec
    return spec.kind == "ship" and any(move.secret for move in spec.files)
