"""`rorunner inventory` (ansible-inventory views) and `rorunner run` (ad hoc commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rorunner.cli import (
    cli,
    connection_defaults,
    connection_options,
    exit_code_for_hosts,
    inventory_option,
    load_inventories,
    load_vault,
    vault_options,
    warn,
)
from rorunner.errors import EXIT_INTERRUPTED
from rorunner.inventory import (
    host_view,
    select_hosts,
    to_ansible_graph,
    to_ansible_list,
    to_json,
    unmatched_terms,
)
from rorunner.records import STATE_DIR, Invocation


@cli.command("inventory")
@inventory_option
@click.option("--list", "mode", flag_value="list", help="Print ansible-inventory --list JSON.")
@click.option("--graph", "mode", flag_value="graph", help="Print the group tree.")
@click.option("--host", "host", default=None, help="Print one host's vars as JSON.")
@click.option("-l", "--limit", default=None, help="With --list: only hosts matching a pattern.")
@click.argument("group", required=False, default="all")
@vault_options
def inventory_command(
    inventories: tuple[str, ...],
    mode: str | None,
    host: str | None,
    limit: str | None,
    group: str,
    **vault: Any,
) -> None:
    """Show an inventory as ansible-inventory does (--list, --graph [GROUP], --host NAME).

    Vault-encrypted values are shown masked."""
    if (mode is None) == (host is None):
        raise click.UsageError("give exactly one of --list, --graph or --host NAME")
    inv = load_inventories(inventories, load_vault(vault))
    if host is not None:
        click.echo(to_json(host_view(inv, host)))
    elif mode == "list":
        only = None if limit is None else [h.name for h in select_hosts(inv, "all", limit=limit)]
        click.echo(to_json(to_ansible_list(inv, only)))
    else:
        click.echo(to_ansible_graph(inv, group))


@cli.command("run")
@click.argument("pattern")
@inventory_option
@click.option("-a", "--args", "command", required=True, help="Shell command to run on each host.")
@click.option("-l", "--limit", default=None, help="Further limit the hosts with a pattern.")
@click.option(
    "-f",
    "--forks",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Hosts at a time.",
)
@click.option(
    "--command-timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds the command may run on each host.",
)
@connection_options
@vault_options
def run_command(
    pattern: str,
    inventories: tuple[str, ...],
    command: str,
    limit: str | None,
    forks: int,
    command_timeout: float | None,
    **connection: Any,
) -> None:
    """Run an ad hoc shell command on the hosts matching PATTERN, in parallel."""
    defaults = connection_defaults(connection, Path.cwd())
    inv = load_inventories(inventories, load_vault(connection))
    for text in (pattern, limit):
        for term in unmatched_terms(inv, text) if text else ():
            warn(f"host pattern term {term!r} matches no group or host")
    hosts = select_hosts(inv, pattern, limit=limit)
    if not hosts:
        warn("no hosts matched, nothing to do")
        return
    from rorunner.adhoc import (  # noqa: PLC0415 - lazy: needs transport
        AdhocRecord,
        adhoc_specs,
        run_adhoc,
    )
    from rorunner.report import Reporter  # noqa: PLC0415 - lazy: `inventory` prints no run
    from rorunner.transport import check_routes  # noqa: PLC0415

    check_routes(adhoc_specs(hosts, defaults))
    reporter = Reporter()
    options = {"pattern": pattern, "limit": limit, "forks": forks, "timeout": command_timeout}
    record = AdhocRecord(
        Path.cwd() / STATE_DIR,
        _invocation(inventories, options),
        [host.name for host in hosts],
        command,
        then=reporter,
    )
    try:
        outcomes = run_adhoc(
            hosts, command, defaults, forks=forks, timeout=command_timeout, events=record
        )
    except KeyboardInterrupt:
        record.finish(EXIT_INTERRUPTED, interrupted=True)
        raise
    reporter.command_summary(outcomes)
    code = exit_code_for_hosts(
        interrupted=False,
        unreachable=any(o.status == "unreachable" for o in outcomes),
        failed=any(o.status == "failed" for o in outcomes),
    )
    record.finish(code)
    raise click.exceptions.Exit(code)


def _invocation(inventories: tuple[str, ...], options: dict[str, Any]) -> Invocation:
    """What this command line asked for, for the run record (no password is in it)."""
    root = click.get_current_context().find_root().obj or {}
    return Invocation(
        inventory=inventories, argv=tuple(root.get("argv", ())), options=options, command="run"
    )
