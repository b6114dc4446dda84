"""Step entries as written in a playbook (`rtas`) or role.yml (`fetch`): strict parsing."""

from __future__ import annotations

import re

from rorunner.become import BECOME_KEYS, BecomeKeys, check_bool, check_method, check_user
from rorunner.errors import InputError
from rorunner.model import PHASES, Phase
from rorunner.playbook._model import PathEntry, StepEntry
from rorunner.playbook._node import Node
from rorunner.safe_yaml import shown

COMMAND_PHASES: tuple[Phase, ...] = ("local_pre", "remote", "local_post")
_COMMAND_KEYS = ("name", "run", "creates", "always", "timeout", "tags", *BECOME_KEYS)
_SHIP_KEYS = ("src", "dest", "mode", "override", "secret")
CREATING_PHASES: tuple[Phase, ...] = ("local_pre", "local_before")  # may say `creates`
_FETCH_KEYS = ("src", "dest")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+@-]*")
TAG_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@:-]*")
FILES_STEP = "files"  # the one ship (or fetch) step of a unit


def slug(text: str, limit: int = 24) -> str:
    """Lower-case words of `text` joined by '-', whole words up to about `limit` characters."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    kept: list[str] = []
    for word in words:
        if kept and len("-".join([*kept, word])) > limit:
            break
        kept.append(word[:limit])
    return "-".join(kept) or "step"


def parse_tags(node: Node | None) -> tuple[str, ...]:
    """A `tags:` value: a list of names, or one string of comma-separated names (as Ansible
    reads it); each name once, in the order written."""
    if node is None or node.value is None:
        return ()
    if isinstance(node.value, str):
        names = [part.strip() for part in node.value.split(",")]
    else:
        names = [item.string().strip() for item in node.sequence("tag")]
    if not all(names):
        node.fail(f"{node.what}: a tag must not be empty")
    bad = next((name for name in names if not TAG_NAME.fullmatch(name)), None)
    if bad is not None:
        node.fail(f"{node.what}: tag {bad!r} may use only letters, digits and . _ + @ - :")
    return tuple(dict.fromkeys(names))


def check_name(node: Node, name: str) -> str:
    """A step, role or rtas name must be safe for task names and paths."""
    if not SAFE_NAME.fullmatch(name):
        node.fail(f"{node.what}: name {name!r} may use only letters, digits and . _ + @ -")
    return name


def become_keys(keys: dict[str, Node]) -> BecomeKeys:
    """The `become`, `become_user` and `become_method` among `keys`, checked."""
    become, user, method = (keys.get(key) for key in BECOME_KEYS)
    return BecomeKeys(
        become=check_bool(become.value, become.what, become.at) if become else None,
        user=check_user(user.value, user.what, user.at) if user else None,
        method=check_method(method.value, method.what, method.at) if method else None,
    )


def local_become(keys: dict[str, Node], phase: Phase) -> None:
    """Refuse become keys on a step that runs on the controller."""
    found = next((keys[key] for key in BECOME_KEYS if key in keys), None)
    if found is not None and phase != "remote":
        found.fail(
            f"{found.what}: become applies to steps on the host; {phase} steps run on the "
            "controller as you"
        )


def command_steps(node: Node, phase: Phase, base: str) -> tuple[StepEntry, ...]:
    """Parse a list of command entries (strings or {name, run, creates, always, timeout});
    two steps of one name are refused, naming both lines."""
    steps: dict[str, StepEntry] = {}
    for index, item in enumerate(node.sequence(f"{phase} entry"), start=1):
        if isinstance(item.value, str):
            run = item.string()
            step = StepEntry(phase, f"{index:02d}-{slug(run)}", item.at, run=run, base=base)
        else:
            step = _command_mapping(item, phase, index, base)
        if step.name in steps:
            message = f"duplicate step name {step.name!r} in {phase}"
            raise InputError.at(message, step.at, [steps[step.name].at])
        steps[step.name] = step
    return tuple(steps.values())


def _command_mapping(item: Node, phase: Phase, index: int, base: str) -> StepEntry:
    keys = item.mapping(_COMMAND_KEYS, required=("run",))
    run = keys["run"].string()
    name = check_name(keys["name"], keys["name"].string()) if "name" in keys else None
    creates: tuple[str, ...] = ()
    if "creates" in keys:
        if phase not in CREATING_PHASES:
            where = " and ".join(CREATING_PHASES)
            keys["creates"].fail(f"{keys['creates'].what} is only allowed in {where}")
        creates = keys["creates"].strings()
    timeout = keys["timeout"].number(minimum=0.001) if "timeout" in keys else None
    local_become(keys, phase)
    return StepEntry(
        phase,
        name or f"{index:02d}-{slug(run)}",
        item.at,
        run=run,
        creates=creates,
        always=keys["always"].boolean() if "always" in keys else False,
        timeout=timeout,
        base=base,
        become=become_keys(keys),
        tags=parse_tags(keys.get("tags")),
    )


def parse_mode(node: Node) -> int:
    """A file mode written as a quoted octal string: '0644', '755' or '0o600'."""
    text = node.value
    if not isinstance(text, str):
        node.fail(f"{node.what} must be a quoted octal string like '0644', not {shown(text)}")
    digits = text[2:] if text.lower().startswith("0o") else text
    if not re.fullmatch(r"[0-7]{1,4}", digits):
        node.fail(f"{node.what} must be an octal mode like '0644', not {text!r}")
    return int(digits, 8)


def ship_step(node: Node, base: str) -> StepEntry:
    """Parse `ship`: paths or {src, dest, mode, override, secret}, relative to `base`; one step for
    all of them."""
    items = []
    for item in node.sequence("ship entry"):
        if isinstance(item.value, str):
            items.append(PathEntry(item.string(), item.at))
            continue
        keys = item.mapping(_SHIP_KEYS, required=("src",))
        items.append(
            PathEntry(
                keys["src"].string(),
                item.at,
                dest=keys["dest"].string() if "dest" in keys else None,
                mode=parse_mode(keys["mode"]) if "mode" in keys else None,
                override=keys["override"].boolean() if "override" in keys else False,
                secret=keys["secret"].boolean() if "secret" in keys else False,
            )
        )
    return StepEntry("ship", FILES_STEP, node.at, items=tuple(items), base=base)


def fetch_step(node: Node, base: str) -> StepEntry:
    """Parse `fetch`: remote paths or {src, dest}; one step for all of them."""
    items = []
    for item in node.sequence("fetch entry"):
        if isinstance(item.value, str):
            items.append(PathEntry(item.string(), item.at))
            continue
        keys = item.mapping(_FETCH_KEYS, required=("src",))
        dest = keys["dest"].string() if "dest" in keys else None
        items.append(PathEntry(keys["src"].string(), item.at, dest=dest))
    return StepEntry("fetch", FILES_STEP, node.at, items=tuple(items), base=base)


def inline_steps(keys: dict[str, Node], base: str) -> tuple[StepEntry, ...]:
    """All steps of an inline rtas, in phase order."""
    steps: list[StepEntry] = []
    for phase in PHASES:
        if phase not in keys or keys[phase].value is None:
            continue
        node = keys[phase]
        if phase in ("ship", "fetch"):
            step = ship_step(node, base) if phase == "ship" else fetch_step(node, base)
            steps.extend([step] if step.items else [])
        else:
            steps.extend(command_steps(node, phase, base))
    return tuple(steps)
