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
            # A var twice in one section is an error for rorunner (Ansible keeps the last).
            if not any(line.startswith(f"{key}=") for line in body):
                body.append(f"{key}={value}")
        else:
            earlier = order[: order.index(group)]
            if earlier:
                body.append(rng.choice(earlier))
    return body


def _host_line(rng: random.Random, hosts: list[str]) -> str:
    token = rng.choice(hosts)
    # A var twice on one line is an error for rorunner (Ansible keeps the last): first only.
    assignments: list[str] = []
    for drawn in [_assignment(rng) for _ in range(rng.randint(0, 3))]:
        if all(a.partition("=")[0] != drawn.partition("=")[0] for a in assignments):
            assignments.append(drawn)
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


YAML_VALUES = (
    "1",
    "-7",
    "1.5",
    "true",
    "false",
    "null",
    "abc",
    '"q x"',
    "'007'",
    "[1, two]",
    "{a: 1, b: [x]}",
    '"{{ x }}"',
    "héllo",
    '""',
)
YAML_HOSTS = (
    "h1",
    "h2",
    "h3",
    '"r[1:3]"',
    '"2001:db8::[1:2]"',
    '"[2001:db8::9]:2200"',
    '"p:2222"',
    "192.0.2.7",
    '"fe80::1%eth0"',
)


def random_yaml(seed: int) -> str:
    """A YAML inventory with nested children (a DAG: groups repeat, never cycle)."""
    rng = random.Random(seed)
    lines: list[str] = []
    for top in rng.sample(("all", "g0", "g1"), rng.randint(1, 3)):
        _yaml_group(rng, top, [], 0, lines)
    return "\n".join(lines) + "\n"


def _yaml_group(
    rng: random.Random, name: str, path: list[str], indent: int, lines: list[str]
) -> None:
    pad = " " * indent
    lines.append(f"{pad}{name}:")
    sections = rng.sample(("hosts", "vars", "children"), rng.randint(0, 3))
    if not sections:
        lines[-1] += " {}" if rng.random() < 0.5 else ""
    for section in sections:
        lines.append(f"{pad}  {section}:")
        if section == "hosts":
            for host in rng.sample(YAML_HOSTS, rng.randint(1, 3)):
                lines.append(f"{pad}    {host}:")
                for key in rng.sample(("a", "b", "c", "ansible_user"), rng.randint(0, 2)):
                    lines.append(f"{pad}      {key}: {rng.choice(YAML_VALUES)}")
        elif section == "vars":
            for key in rng.sample(("a", "b", "c", "ansible_group_priority"), rng.randint(1, 3)):
                value = (
                    str(rng.randint(0, 5))
                    if key == "ansible_group_priority"
                    else rng.choice(YAML_VALUES)
                )
                lines.append(f"{pad}    {key}: {value}")
        else:
            rank = -1 if name == "all" else int(name[1:])  # children rank higher: no cycles
            free = [f"g{i}" for i in range(rank + 1, 5)]
            for child in rng.sample(free, min(len(free), rng.randint(0, 2))):
                if len(path) < 3:
                    _yaml_group(rng, child, [*path, name], indent + 4, lines)
                else:
                    lines.append(f"{pad}    {child}:")
