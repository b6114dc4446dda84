"""`--list-hosts` and `--list-tasks`: each play with its hosts and its selected steps, in the
layout ansible-playbook prints (`play #1 (all): Site<TAB>TAGS: [...]`, `pattern:`,
`hosts (N):`, `tasks:`); a step is listed as `UNIT : PHASE/STEP`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rorunner.plan._build import PlayInfo
from rorunner.plan._select import Selection, play_steps, selected_tails
from rorunner.playbook import Playbook


def _tags(tags: Iterable[str]) -> str:
    return f"TAGS: [{', '.join(sorted(tags))}]"


def listing(
    shown_path: str,
    playbook: Playbook,
    plays: Sequence[PlayInfo],
    selection: Selection,
    *,
    hosts: bool,
    tasks: bool,
) -> str:
    """The listing of every play: its hosts (after --limit) and/or its selected steps."""
    chosen = selected_tails(playbook, selection) if tasks else set()
    infos = {info.id: info for info in plays}
    lines = ["", f"playbook: {shown_path}"]
    for play in playbook.plays:
        lines.extend(["", f"  play #{play.index} ({play.hosts}): {play.name}\t{_tags(play.tags)}"])
        if hosts:
            members = infos[play.id].hosts
            lines.append(f"    pattern: {[play.hosts]!r}")
            lines.append(f"    hosts ({len(members)}):")
            lines.extend(f"      {host}" for host in members)
        if tasks:
            lines.append("    tasks:")
            lines.extend(
                f"      {step.label}\t{_tags(step.tags)}"
                for step in play_steps(playbook, play)
                if step.tail in chosen
            )
    return "\n".join(lines) + "\n"
