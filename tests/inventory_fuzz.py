"""Seeded random INI inventories for the differential test (groups, children, typed vars,
ranges, IPv6, ports, ansible_group_priority, redefinitions, forward references)."""

from __future__ import annotations

import random

VALUES = (
    "1",
    "-2",
    "1.5",
    "True",
    "False",
    "None",
    "abc",
    '"q x"',
    "'s'",
    "[1,2]",
    '{"a":1}',
    "007",
    "0x1f",
    "x=y",
    "",
    "héllo",
    "1e5",
    "(1,2)",
    '"{{ x }}"',
    "0o17",
)
HOST_TOKENS = (
    "r[1:3]",
    "x[a:b]",
    "n[01:10:4]",
    "2001:db8::[1:2]",
    "[2001:db8::9]:2200",
    "p:2222",
    "192.0.2.[7:8]",
    "fe80::1%eth0",
)
KEYS = ("a", "b", "c", "ansible_user", "ansible_port")


def random_ini(seed: int) -> str:
    """One inventory; children only point at earlier-declared groups, so there is no cycle."""
    rng = random.Random(seed)
    groups = [f"g{i}" for i in range(rng.randint(1, 6))]
    hosts = [f"h{i}" for i in range(rng.randint(1, 8))] + list(HOST_TOKENS)
    order: list[str] = []
    lines = [_host_line(rng, hosts) for _ in range(rng.randint(0, 2))]
    for _ in range(rng.randint(2, 12)):
        group = rng.choice(groups)
        kind = rng.choice(("", "", ":vars", ":children")) if group in order else ""
        lines.append(f"[{group}{kind}]")
        if group not in order:
            order.append(group)
        lines += _section_body(rng, kind, group, hosts, order)
    return "\n".join(lines) + "\n"


def _section_body(
    rng: random.Random, kind: str, group: str, hosts: list[str], order: list[str]
) -> list[str]:
    body: list[str] = []
    for _ in range(rng.randint(0, 4)):
        if kind == "":
            body.append(_host_line(rng, hosts))
        elif kind == ":vars":
            key = rng.choice((*KEYS[:3], "ansible_group_priority"))
            value = (
                str(rng.randint(0, 5)) if key == "ansible_group_priority" else rng.choice(VALUES)
            )
            body.append(f"{key}={value}")
        else:
            earlier = order[: order.index(group)]
            if earlier:
                body.append(rng.choice(earlier))
    return body


def _host_line(rng: random.Random, hosts: list[str]) -> str:
    token = rng.choice(hosts)
    assignments = [_assignment(rng) for _ in range(rng.randint(0, 3))]
    # Ansible reads "[addr]:port ... x=[1,2]" (a line ending in ']') as a broken section
    # header; rorunner reads it as the host line it is. Keep the corpus to common ground.
    if token.startswith("[") and assignments and assignments[-1].endswith("]"):
        assignments.append("z=1")
    return " ".join([token, *assignments])


def _assignment(rng: random.Random) -> str:
    key = rng.choice(KEYS)
    if key == "ansible_port":
        return f"{key}={rng.randint(1, 65535)}"
    value = rng.choice(VALUES)
    return f"{key}={value}" if " " not in value or value[0] in "\"'" else f"{key}='{value}'"
