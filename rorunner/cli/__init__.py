"""Command line: the only layer that prints and picks exit codes."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from rorunner import __version__
from rorunner.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    InputError,
    InputErrors,
    RorunnerError,
    UsageError,
)
from rorunner.errors import exit_code_for_hosts as exit_code_for_hosts  # for the commands

if TYPE_CHECKING:
    from rorunner.model import ConnectionDefaults, Inventory
    from rorunner.vault import VaultSecrets

# Subcommand -> the module whose import attaches it to `cli` (with `@cli.command`).
COMMAND_MODULES = {
    "dashboard": "_dashboard",
    "inventory": "_inventory",
    "play": "_play",
    "report": "_dashboard",
    "run": "_inventory",
    "runs": "_runs",
}


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that command is asked for,
    so `play` never pays for the inventory/ad hoc modules (and the reverse)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"rorunner.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rorunner")
def cli() -> None:
    """Plan and run scripted work on fleets of IPv6 hosts over SSH."""


def _register() -> None:
    """Import every command module now (for code that reads `cli.commands` directly)."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"rorunner.cli.{module}")


def exit_code_for(exc: BaseException) -> int:
    """The one mapping from an exception to a process exit code."""
    if isinstance(exc, RorunnerError):
        return exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_INTERNAL


def _report(exc: BaseException) -> None:
    if isinstance(exc, click.ClickException):
        exc.show()
    elif isinstance(exc, KeyboardInterrupt):
        click.echo("rorunner: interrupted", err=True)
    elif isinstance(exc, InputErrors):
        for line in exc.lines():
            click.echo(f"rorunner: error: {line}", err=True)
    elif isinstance(exc, RorunnerError):
        click.echo(f"rorunner: error: {exc}", err=True)
    else:
        import traceback  # noqa: PLC0415

        traceback.print_exception(exc, file=sys.stderr)
        click.echo(f"rorunner: internal error: {exc!r}", err=True)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the `rorunner` console script."""
    try:
        # With standalone_mode=False click returns the code of a raised click.exceptions.Exit.
        args = list(argv) if argv is not None else sys.argv[1:]
        # obj: the command line as given, for the run record (masked there)
        returned = cli.main(args=args, standalone_mode=False, obj={"argv": ["rorunner", *args]})
        code = returned if isinstance(returned, int) else 0
    except click.exceptions.Abort:
        click.echo("rorunner: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except BaseException as exc:  # the one place that maps errors to exit codes
        if isinstance(exc, SystemExit):
            raise
        _report(exc)
        code = exit_code_for(exc)
    sys.exit(code)


def warn(message: str) -> None:
    """Print a warning on stderr, in the one format every command uses."""
    click.echo(warning_text(message), err=True)


def warning_text(message: str) -> str:
    """A warning as every command prints it."""
    return f"rorunner: warning: {message}"


def load_inventories(sources: Sequence[str], vault: VaultSecrets | None = None) -> Inventory:
    """The inventory of the -i sources; its notices (no hosts, ...) are printed as warnings."""
    from rorunner.inventory import load_inventory  # noqa: PLC0415 - lazy: keeps --help light

    inventory = load_inventory(list(sources), vault)
    for notice in inventory.notices:
        warn(notice)
    return inventory


inventory_option = click.option(
    "-i",
    "--inventory",
    "inventories",
    multiple=True,
    required=True,
    help='Inventory file, directory or host list "a,b," (repeatable).',
)


def ask_secret(text: str) -> str:
    """Ask for a password once: without echo on a terminal; from a pipe, its first line."""
    if sys.stdin is not None and sys.stdin.isatty():
        return str(click.prompt(text.rstrip(": "), hide_input=True, prompt_suffix=": "))
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise click.UsageError(f"{text.rstrip(': ')}: nothing to read on stdin")
    return line.rstrip("\r\n")


def _add(func: Callable[..., Any], options: Sequence[Callable[..., Any]]) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


def vault_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command with Ansible's vault options."""
    return _add(
        func,
        [
            click.option(
                "--vault-id",
                "vault_ids",
                multiple=True,
                help="LABEL@SOURCE: a vault password from a file, a script or 'prompt'.",
            ),
            click.option(
                "--vault-password-file",
                "--vault-pass-file",
                "vault_password_files",
                multiple=True,
                type=click.Path(dir_okay=False),
                help="Vault password file (or an executable printing it); repeatable.",
            ),
            click.option(
                "--ask-vault-pass",
                "--ask-vault-password",
                "ask_vault_pass",
                is_flag=True,
                help="Ask for the vault password.",
            ),
        ],
    )


def load_vault(options: Mapping[str, Any]) -> VaultSecrets | None:
    """The vault passwords the options give (None when they give none: an encrypted value is
    then bad input naming it)."""
    if not (options["vault_ids"] or options["vault_password_files"] or options["ask_vault_pass"]):
        return None
    from rorunner.vault import load_vault_secrets  # noqa: PLC0415 - lazy: cryptography

    return load_vault_secrets(
        vault_ids=options["vault_ids"],
        password_files=options["vault_password_files"],
        ask_vault_pass=options["ask_vault_pass"],
        prompt=ask_secret,
    )


def become_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command with Ansible's become options (sudo)."""
    return _add(
        func,
        [
            click.option("-b", "--become", is_flag=True, help="Run remote steps through sudo."),
            click.option("--become-user", default=None, help="The user to become (root)."),
            click.option(
                "-K",
                "--ask-become-pass",
                "ask_become_pass",
                is_flag=True,
                help="Ask for the sudo password (once).",
            ),
        ],
    )


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command with the connection options shared by `play` and `run`."""
    options = [
        click.option("-u", "--user", default=None, help="Login user (default: ssh_config, you)."),
        click.option(
            "--private-key", type=click.Path(dir_okay=False), default=None, help="Private key file."
        ),
        click.option(
            "--ssh-config",
            type=click.Path(dir_okay=False),
            default=None,
            help="OpenSSH client config (default ~/.ssh/config).",
        ),
        click.option(
            "--known-hosts",
            type=click.Path(dir_okay=False),
            default=None,
            help="known_hosts file (default .rorunner/known_hosts, then ~/.ssh).",
        ),
        click.option(
            "--host-key-checking",
            type=click.Choice(["strict", "accept-new"]),
            default="strict",
            show_default=True,
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            help="Connect timeout in seconds.",
        ),
    ]
    return become_options(_add(func, options))


def connection_defaults(options: Mapping[str, Any], project: Path) -> ConnectionDefaults:
    """ConnectionDefaults from the connection and become options; known_hosts defaults to the
    project's. -K asks for the become password here, once.

    A missing --ssh-config is bad input, refused before anything runs or connects."""
    ssh_config = options["ssh_config"]
    if ssh_config and not os.path.isfile(ssh_config):
        raise InputError("ssh_config file not found", ssh_config)
    known = options["known_hosts"]
    known_hosts = (
        (str(Path(known).resolve()),)
        if known
        else (str(project / ".rorunner" / "known_hosts"), os.path.expanduser("~/.ssh/known_hosts"))
    )
    from rorunner.model import ConnectionDefaults, Secret  # noqa: PLC0415 - lazy: see main

    key = options["private_key"]
    password = Secret(ask_secret("BECOME password: ")) if options["ask_become_pass"] else None
    if options["become_user"] is not None:
        from rorunner.become import is_user  # noqa: PLC0415 - lazy: keeps --help light

        if not is_user(options["become_user"]):
            raise UsageError(f"--become-user {options['become_user']!r}: not a user name or #uid")
    return ConnectionDefaults(
        user=options["user"],
        key_file=str(Path(key).resolve()) if key else None,
        known_hosts=known_hosts,
        host_key_policy=options["host_key_checking"],
        connect_timeout=options["timeout"],
        ssh_config=ssh_config,
        become=options["become"],
        become_user=options["become_user"],
        become_password=password,
    )
