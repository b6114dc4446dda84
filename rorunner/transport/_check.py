"""Checking routes before a run: paramiko is imported only when there is something to read."""

from __future__ import annotations

import os
from collections.abc import Iterable

from rorunner.model import ConnectionSpec

# ConnectionSpec.pool_key: one pooled connection per (address, port, user, jump, command).
PoolKey = tuple[str, int | None, str | None, str | None, str | None]

USER_SSH_CONFIG = "~/.ssh/config"


def routes_to_read(specs: Iterable[ConnectionSpec]) -> bool:
    """Whether `check_routes` has anything to read for these hosts: an ssh_config file, or
    jump settings of their own (without either, every host is reached directly)."""
    configs: set[str | None] = set()
    for spec in {id(spec): spec for spec in specs}.values():  # a plan shares them per host
        if spec.connection == "ssh":
            if spec.proxy_jump or spec.proxy_command:
                return True
            configs.add(spec.ssh_config)
    paths = {os.path.expanduser(path or USER_SSH_CONFIG) for path in configs}
    return any(os.path.isfile(path) for path in paths)


def check_routes(specs: Iterable[ConnectionSpec]) -> None:
    """Refuse, before anything connects, an ssh_config option or a jump route that rorunner
    cannot honour for any of these hosts or their bastions (InputError naming option, host
    and file:line). Without an ssh_config file or jump settings there is nothing to read."""
    ssh = [spec for spec in dict.fromkeys(specs) if spec.connection == "ssh"]
    if not routes_to_read(ssh):
        return
    from rorunner.transport._ssh_paramiko import load_paramiko  # noqa: PLC0415

    load_paramiko()
    from rorunner.transport._ssh_route import check_routes as check  # noqa: PLC0415 - paramiko

    check(ssh)


def bastion_keys(specs: Iterable[ConnectionSpec]) -> frozenset[PoolKey]:
    """The pool keys of every bastion (ProxyJump hop) on the routes of these hosts: the
    connections other hosts tunnel through. Without an ssh_config file or jump settings
    there are none (and nothing is read)."""
    ssh = [spec for spec in dict.fromkeys(specs) if spec.connection == "ssh"]
    if not routes_to_read(ssh):
        return frozenset()
    from rorunner.transport._ssh_route import bastion_keys as hops  # noqa: PLC0415 - paramiko

    return hops(ssh)
