"""The frozen data that flows between layers: hosts, connections, steps."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rorunner.errors import Location

Connection = Literal["ssh", "local"]
HostKeyPolicy = Literal["strict", "accept-new"]
Phase = Literal[
    "local_pre",
    "ship",
    "remote",
    "fetch",
    "local_post",
    # Play semantics (issue 10): a play's run-once controller steps, and the step that
    # removes a host's secret files at the end of its play.
    "local_before",
    "local_after",
    "cleanup",
]
PHASES: tuple[Phase, ...] = ("local_pre", "ship", "remote", "fetch", "local_post")  # of an RTAS
# The host of a play's local_before/local_after steps: never an inventory name (those
# cannot hold '@'), shown as such in plans, dry runs, records and the recap.
CONTROLLER = "@controller"
StepKind = Literal["local", "ship", "remote", "fetch"]
Node = tuple[str, str, str, str, str]  # a plan node's graph id: (host, play, role, phase, step)
IN_CODE = Location("inventory")  # where a Host made in code, not read from a file, was defined
BecomeMethod = Literal["sudo"]
BECOME_METHODS: tuple[BecomeMethod, ...] = ("sudo",)
MASK = "********"


@dataclass(frozen=True, slots=True)
class Secret:
    """A decrypted value or a password: `reveal()` gives it; str, repr and format mask it."""

    _value: str

    def reveal(self) -> str:
        """The plaintext; call only where the value is used, never to display it."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


def has_secret(value: Any) -> bool:
    """Whether `value` is a Secret or holds one (a mapping's or a list's values, at any depth;
    mapping keys are never secrets)."""
    if isinstance(value, Secret):
        return True
    if isinstance(value, _PLAIN):
        return False
    if isinstance(value, Mapping):
        return any(has_secret(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_secret(item) for item in value)
    return False


_PLAIN = (str, int, float, type(None))  # bool is an int


def reveal(value: Any) -> Any:
    """`value` with every Secret in it replaced by its plaintext (for the one place that uses
    it: a step's environment, a rendered file, a keyed signature)."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Mapping):
        return {reveal(k): reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    if isinstance(value, tuple):
        return tuple(reveal(item) for item in value)
    return value


EnvValue = str | Secret
Env = tuple[tuple[str, EnvValue], ...]


@dataclass(frozen=True)
class Become:
    """Privilege escalation of a step on its host: run as `user` through sudo.

    The password (from -K or ansible_become_password) travels to sudo over the SSH
    channel, never in argv or the environment; None means sudo must not ask (`sudo -n`).
    """

    user: str = "root"
    method: BecomeMethod = "sudo"
    password: Secret | None = None


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    """How to reach one host; plain data, safe to put in a doit task and to pickle.

    `address` is unbracketed and normalised (IPv6 compressed, scope id kept).
    `port`, `user` and `key_file` left as None are filled at connect time from
    ssh_config, then defaults (22, the current user). The pool shares one
    connection per (address, port, user).
    """

    address: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    connection: Connection = "ssh"
    label: str = ""  # inventory name for messages; the address when empty
    known_hosts: tuple[str, ...] = ()  # searched in order; the first is written by accept-new
    host_key_policy: HostKeyPolicy = "strict"
    connect_timeout: float = 10.0
    ssh_config: str | None = None
    # From ansible_ssh_common_args/extra_args (they override ssh_config): ProxyJump hops
    # ("none": connect directly) or a ProxyCommand; None: what ssh_config says.
    proxy_jump: str | None = None
    proxy_command: str | None = None
    become: Become | None = None  # a view of the same pooled connection, acting as become.user

    @property
    def pool_key(self) -> tuple[str, int | None, str | None, str | None, str | None]:
        """Identity of the pooled connection (become users share it)."""
        return (self.address, self.port, self.user, self.proxy_jump, self.proxy_command)

    @property
    def name(self) -> str:
        """What messages call this host."""
        return self.label or self.address


@dataclass(frozen=True)
class ConnectionDefaults:
    """Connection settings from the command line; inventory vars override them."""

    user: str | None = None
    key_file: str | None = None
    known_hosts: tuple[str, ...] = ()
    host_key_policy: HostKeyPolicy = "strict"
    connect_timeout: float = 10.0
    ssh_config: str | None = None
    become: bool = False  # -b/--become
    become_user: str | None = None  # --become-user
    become_password: Secret | None = None  # -K/--ask-become-pass

    def spec_for(self, host: Host) -> ConnectionSpec:
        """How to reach `host`: its inventory vars, then these; None fields fall to ssh_config."""
        return ConnectionSpec(
            address=host.address,
            port=host.port,
            user=host.user or self.user,
            key_file=host.key_file or self.key_file,
            connection=host.connection,
            label=host.name,
            known_hosts=self.known_hosts,
            host_key_policy=self.host_key_policy,
            connect_timeout=self.connect_timeout,
            ssh_config=self.ssh_config,
        )


@dataclass(frozen=True)
class Host:
    """One inventory host with its resolved vars (all < groups by depth < host)."""

    name: str  # exactly as written in the inventory
    address: str  # connection address: ansible_host or the name, normalised
    port: int | None = None  # ansible_port; None = ssh_config / 22
    user: str | None = None  # ansible_user
    key_file: str | None = None  # ansible_ssh_private_key_file
    connection: Connection = "ssh"  # ansible_connection
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)
    groups: tuple[str, ...] = ()  # every group it belongs to, all included, sorted
    source: Location = IN_CODE  # where it was first defined
    # where each var got its value (vars without one: see `source`)
    origins: Mapping[str, Location] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Group:
    """One inventory group: direct hosts, child groups and its own vars."""

    name: str
    hosts: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)
    source: Location | None = None  # None for the implicit all and ungrouped
    priority: int = 1  # ansible_group_priority: orders vars merging among groups of equal depth
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """Hosts and groups in definition order, resolved once."""

    hosts: Mapping[str, Host]
    groups: Mapping[str, Group]
    sources: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()  # warnings for the CLI to show (empty inventory, name clashes)


@dataclass(frozen=True, slots=True)
class FileMove:
    """One file to ship (src local, dest remote) or fetch (src remote, dest local).

    For a shipped Jinja2 template `content` holds the rendered bytes and `src`
    names the template it came from.
    """

    src: str
    dest: str
    mode: int | None = None
    content: bytes | None = field(default=None, repr=False)  # may hold rendered secrets
    # Issue 10: a secret file is removed from the host after its play and its content is
    # never logged, diffed, recorded nor hashed into anything stored; `digest` is the hex
    # sha256 of a shipped file's content when known at plan time ("" otherwise, and always
    # for a secret), for the host's state record.
    secret: bool = False
    digest: str = ""


@dataclass(frozen=True, slots=True)
class StepSpec:
    """What a step does, independent of where it sits in the plan."""

    kind: StepKind
    command: str | None = None  # local/remote: run with `sh -c`
    script: str | None = None  # local: executable path; remote: local script shipped then run
    files: tuple[FileMove, ...] = ()  # ship/fetch
    creates: tuple[str, ...] = ()  # local_pre: local files it promises to make
    always: bool = False
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One node of the plan: a step of one RTAS of one host in one play."""

    host: str
    play: str  # stable play id, e.g. "01-site" (index + slug of the name)
    role: str  # role name, or the inline rtas name
    phase: Phase
    name: str  # unique within (host, play, role, phase)
    spec: StepSpec
    conn: ConnectionSpec
    env: Env  # RORUNNER_* and the host's vars, sorted by key; secrets stay Secret
    remote_dir: str  # absolute, or relative to the login home
    fetch_dir: str  # local, per host: <fetch_dir>/<host>
    signature: str = ""  # hash of own inputs and predecessors' signatures (up-to-date key)

    @property
    def node(self) -> Node:
        """The graph node id."""
        return (self.host, self.play, self.role, self.phase, self.name)


@dataclass(frozen=True, slots=True)
class Barrier:
    """A plan node of its own kind: it runs nothing, and the steps after it wait until all
    the work before it has ended (a play's start, or the start of a serial batch)."""

    play: str  # id of the play it opens
    batch: int  # 1: the play's start (all earlier plays ended); k > 1: serial batch k
    waits_for: int  # how many hosts' work it waits for (not counting earlier barriers)

    @property
    def name(self) -> str:
        """`start`, or `batch-<k>`."""
        return "start" if self.batch == 1 else f"batch-{self.batch}"

    @property
    def node(self) -> Node:
        """The graph node id: no host, phase `barrier`."""
        return ("", self.play, "", "barrier", self.name)


PlanNode = PlanStep | Barrier
