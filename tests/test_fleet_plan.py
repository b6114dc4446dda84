"""Issue 8 without a lab: become keys and precedence, per-user work dirs, play and per-script
timeouts, ssh jump arguments, ssh_config options, and vault secrets in the plan."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rorunner import sshopts
from rorunner.errors import InputError, Location
from rorunner.inventory import load_inventory
from rorunner.model import ConnectionDefaults, ConnectionSpec, PlanStep, Secret
from rorunner.plan import Plan, build_plan
from rorunner.playbook import load_playbook
from rorunner.transport import check_routes
from rorunner.transport._ssh_route import Endpoint, expand_command
from rorunner.vault import VaultSecrets
from tests.inventory_helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
INVENTORY = """\
[web]
web1 ansible_host=2001:db8::1
web2 ansible_host=2001:db8::2
"""


def _project(tmp_path: Path, site: str, inventory: str = INVENTORY, **files: str) -> Path:
    (tmp_path / "site.yml").write_text(site)
    (tmp_path / "hosts.ini").write_text(inventory)
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def _plan(project: Path, defaults: ConnectionDefaults | None = None, **kw: object) -> Plan:
    vault = kw.pop("vault", None)
    inventory = load_inventory([str(project / "hosts.ini")], vault)  # type: ignore[arg-type]
    book = load_playbook(str(project / "site.yml"), vault=vault)  # type: ignore[arg-type]
    return build_plan(inventory, book, defaults=defaults, **kw)  # type: ignore[arg-type]


def _steps(plan: Plan, host: str = "web1") -> dict[str, PlanStep]:
    return {f"{s.role}/{s.phase}/{s.name}": s for s in plan.steps if s.host == host}


def _who(step: PlanStep) -> str | None:
    return step.conn.become.user if step.conn.become else None


# --- become --------------------------------------------------------------------------------

BECOME_SITE = """\
- hosts: web
  become: true
  rtas:
    - name: u
      ship: [a.txt]
      remote:
        - as-root
        - {run: as-app, become_user: appuser}
        - {run: as-login, become: false}
      fetch: [out.txt]
      local_pre: [echo local]
"""


def test_become_keys_play_unit_step_and_one_ship_per_user(tmp_path: Path) -> None:
    project = _project(tmp_path, BECOME_SITE, **{"a.txt": "a\n"})
    steps = _steps(_plan(project))
    assert {name: _who(step) for name, step in steps.items()} == {
        "u/local_pre/01-echo-local": None,  # the controller: never through sudo
        "u/ship/files": "root",
        "u/ship/files@appuser": "appuser",
        "u/ship/files@login": None,
        "u/remote/01-as-root": "root",
        "u/remote/02-as-app": "appuser",
        "u/remote/03-as-login": None,
        "u/fetch/files": "root",
    }
    assert steps["u/remote/01-as-root"].conn.become.method == "sudo"  # type: ignore[union-attr]


def test_become_precedence_command_line_keywords_then_variables(tmp_path: Path) -> None:
    site = """\
- hosts: web
  rtas:
    - name: u
      become: false
      remote:
        - {run: a, name: a}
        - {run: b, name: b, become: true, become_user: bob}
"""
    inventory = INVENTORY + "[web:vars]\nansible_become_user=carol\n"
    project = _project(tmp_path, site, inventory)
    cli = ConnectionDefaults(become=True, become_user="dave")
    steps = _steps(_plan(project, cli))
    assert _who(steps["u/remote/a"]) is None  # the unit's `become: false` beats -b
    assert _who(steps["u/remote/b"]) == "carol"  # a variable beats every keyword
    (tmp_path / "hosts.ini").write_text(INVENTORY + "web1 ansible_become=yes\n")
    steps = _steps(_plan(project, cli))
    assert _who(steps["u/remote/a"]) == "dave"  # ansible_become beats `become: false`
    assert _who(_steps(_plan(project, cli), "web2")["u/remote/a"]) is None


def test_become_password_from_the_command_line_or_a_variable(tmp_path: Path) -> None:
    site = "- hosts: web\n  become: yes\n  rtas: [{name: u, remote: [x]}]\n"
    inventory = INVENTORY + "[web:vars]\nansible_become_pass=fromvar\n"
    project = _project(tmp_path, site, inventory)
    steps = _plan(project, ConnectionDefaults(become_password=Secret("fromcli"))).steps
    assert {s.conn.become.password for s in steps} == {Secret("fromvar")}  # type: ignore[union-attr]
    (tmp_path / "hosts.ini").write_text(INVENTORY)
    steps = _plan(project, ConnectionDefaults(become_password=Secret("fromcli"))).steps
    assert {s.conn.become.password for s in steps} == {Secret("fromcli")}  # type: ignore[union-attr]
    assert "fromcli" not in repr(steps[0])


def test_become_changes_the_signature_and_the_password_does_not(tmp_path: Path) -> None:
    site = "- hosts: web\n  rtas: [{name: u, remote: [{run: x, become: true}]}]\n"
    project = _project(tmp_path, site)
    first = _plan(project).steps[0].signature
    again = _plan(project, ConnectionDefaults(become_password=Secret("pw"))).steps[0].signature
    assert first == again
    (tmp_path / "site.yml").write_text(site.replace("become: true", "become_user: x"))
    assert _plan(project).steps[0].signature != first  # no become at all now
    (tmp_path / "site.yml").write_text(site.replace("true", "true, become_user: ops"))
    assert _plan(project).steps[0].signature != first


ROLE = {
    "roles__r__remote__10-a.sh": "#!/bin/sh\ntrue\n",
    "roles__r__remote__20-b.sh": "#!/bin/sh\ntrue\n",
    "roles__r__local_post__90-c.sh": "#!/bin/sh\ntrue\n",
}


def test_role_yml_become_and_per_script_become(tmp_path: Path) -> None:
    files = {
        **ROLE,
        "roles__r__role.yml": (
            "become: true\ntimeouts: {20-b.sh: 7}\nscripts:\n  20-b.sh: {become_user: app}\n"
        ),
    }
    project = _project(tmp_path, "- hosts: web\n  timeout: 30\n  roles: [r]\n", **files)
    (project / "roles" / "r" / "local_post" / "90-c.sh").chmod(0o755)
    steps = _steps(_plan(project))
    assert (_who(steps["r/remote/10-a.sh"]), steps["r/remote/10-a.sh"].spec.timeout) == (
        "root",
        30.0,  # the play's default
    )
    assert (_who(steps["r/remote/20-b.sh"]), steps["r/remote/20-b.sh"].spec.timeout) == ("app", 7.0)
    assert steps["r/local_post/90-c.sh"].spec.timeout == 30.0


@pytest.mark.parametrize(
    ("site", "files", "place", "words"),
    [
        (
            "- hosts: web\n  become_method: su\n  rtas: [{name: u, remote: [x]}]\n",
            {},
            "site.yml:2",
            "'become_method' 'su' is not supported (rorunner becomes with: sudo)",
        ),
        (
            "- hosts: web\n  rtas:\n    - name: u\n      remote:\n"
            "        - {run: x, become_method: doas}\n",
            {},
            "site.yml:5",
            "'doas' is not supported",
        ),
        (
            "- hosts: web\n  rtas: [{name: u, local_pre: [{run: x, become: true}]}]\n",
            {},
            "site.yml:2",
            "become applies to steps on the host; local_pre steps run on the controller",
        ),
        (
            "- hosts: web\n  become: maybe\n  rtas: [{name: u, remote: [x]}]\n",
            {},
            "site.yml:2",
            "'become' must be true or false, not 'maybe'",
        ),
        (
            "- hosts: web\n  become_user: 'no body'\n  rtas: [{name: u, remote: [x]}]\n",
            {},
            "site.yml:2",
            "must be a user name or #uid",
        ),
        (
            "- hosts: web\n  roles: [r]\n",
            {**ROLE, "roles__r__role.yml": "scripts:\n  30-x.sh: {become: true}\n"},
            "roles/r/role.yml:2",
            "unknown key '30-x.sh'",
        ),
        (
            "- hosts: web\n  roles: [r]\n",
            {**ROLE, "roles__r__role.yml": "become_method: runas\n"},
            "roles/r/role.yml:1",
            "'runas' is not supported",
        ),
        (
            "- hosts: web\n  rtas: [{name: u, remote: [x]}]\n",
            {"hosts.ini": INVENTORY + "[web:vars]\nansible_become_method=pbrun\n"},
            "hosts.ini:5",
            "ansible_become_method 'pbrun' is not supported",
        ),
        (
            "- hosts: web\n  rtas: [{name: u, remote: [x]}]\n",
            {"hosts.ini": "[web]\nweb1 ansible_connection=local ansible_become=true\n"},
            "site.yml:2",
            "host 'web1' is ansible_connection=local: become is not supported there",
        ),
    ],
    ids=[
        "play-method",
        "step-method",
        "local-step",
        "not-a-boolean",
        "bad-user",
        "unknown-script",
        "role-method",
        "var-method",
        "local-host",
    ],
)
def test_bad_become_input_is_exit_3_at_its_line(
    tmp_path: Path, site: str, files: dict[str, str], place: str, words: str
) -> None:
    project = _project(tmp_path, site, **files)
    for path in project.rglob("*.sh"):
        path.chmod(0o755)
    done = run_cli("play", str(project / "site.yml"), "-i", str(project / "hosts.ini"))
    assert done.code == 3, done
    assert done.err.startswith(f"rorunner: error: {project / place}: "), done.err
    assert words in done.err, done.err


def test_become_user_on_the_command_line_is_checked(tmp_path: Path) -> None:
    project = _project(tmp_path, "- hosts: web\n  rtas: [{name: u, remote: [x]}]\n")
    done = run_cli(
        "play",
        str(project / "site.yml"),
        "-i",
        str(project / "hosts.ini"),
        "-b",
        "--become-user",
        "a;b",
    )
    assert done.code == 5 and "--become-user 'a;b': not a user name or #uid" in done.err


# --- ssh arguments and ssh_config ------------------------------------------------------------


def test_jump_arguments_become_the_connection_route(tmp_path: Path) -> None:
    inventory = (
        INVENTORY
        + "[web:vars]\n"
        + "ansible_ssh_common_args='-o ControlMaster=auto -J ops@[2001:db8::9]:2222,b2'\n"
    )
    project = _project(tmp_path, "- hosts: web\n  rtas: [{name: u, remote: [x]}]\n", inventory)
    conn = _plan(project).steps[0].conn
    assert (conn.proxy_jump, conn.proxy_command) == ("ops@[2001:db8::9]:2222,b2", None)
    (tmp_path / "hosts.ini").write_text(
        INVENTORY + "web1 ansible_ssh_extra_args='-o \"ProxyCommand=nc %h %p\"'\n"
    )
    steps = _steps(_plan(project))
    assert steps["u/remote/01-x"].conn.proxy_command == "nc %h %p"
    assert (
        steps["u/remote/01-x"].conn.pool_key
        != _steps(_plan(project), "web2")["u/remote/01-x"].conn.pool_key[:1] + (None,) * 4
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("-o StrictHostKeyChecking=no", "-o StrictHostKeyChecking=no is not supported"),
        ("-p 2222", "ssh option -p is not supported: use ansible_port"),
        ("-o Port=2222", "-o Port=2222 is not supported"),
        ("-o ProxyUseFdpass=yes", "ProxyUseFdpass=yes is not supported"),
        ("-F other.conf", "ssh option -F is not supported"),
        ("-o HostKeyAlias=x", "HostKeyAlias=x is not supported"),
        ("-J ops@", "ProxyJump 'ops@': no host in 'ops@'"),
        ("-o Bogus=1", "-o bogus=1 is not supported: unknown option"),
    ],
)
def test_bad_ssh_arguments_are_exit_3_at_the_variable(
    tmp_path: Path, args: str, words: str
) -> None:
    inventory = INVENTORY + f"web2 ansible_ssh_common_args='{args}'\n"
    project = _project(tmp_path, "- hosts: web\n  rtas: [{name: u, remote: [x]}]\n", inventory)
    done = run_cli("play", str(project / "site.yml"), "-i", str(project / "hosts.ini"))
    assert done.code == 3, done
    assert done.err.startswith(f"rorunner: error: {project}/hosts.ini:4: "), done.err
    assert "ansible_ssh_common_args of host 'web2'" in done.err and words in done.err, done.err


SSH_CONFIG = """\
Host web1 2001:db8::1
  User deploy
  ControlMaster auto
  ForwardAgent yes
Host 2001:db8::2
  ProxyJump b1
Host b1
  HostName 2001:db8::ff
"""


@pytest.mark.parametrize(
    ("extra", "option", "line"),
    [
        ("Host b1\n  ProxyUseFdpass yes\n", "ProxyUseFdpass yes", 10),
        ("Host *\n  HostKeyAlias other\n", "HostKeyAlias other", 10),
        ("Host *\n  Tunnel yes\n", "Tunnel yes", 10),
        ("Host *\n  CanonicalizeHostname always\n", "CanonicalizeHostname always", 10),
        ("Host *\n  StrictHostKeyChecking no\n", "StrictHostKeyChecking no", 10),
        ("Include more.conf\n", "Include more.conf", 9),
        ("Host *\n  ProxyJmp b1\n", "proxyjmp b1", 10),
    ],
)
def test_ssh_config_options_rorunner_cannot_honour_are_exit_3(
    tmp_path: Path, extra: str, option: str, line: int
) -> None:
    project = _project(tmp_path, "- hosts: web\n  rtas: [{name: u, remote: [x]}]\n")
    config = tmp_path / "ssh_config"
    config.write_text(SSH_CONFIG + extra)
    argv = ["play", str(project / "site.yml"), "-i", str(project / "hosts.ini")]
    assert run_cli(*argv, "--ssh-config", str(tmp_path / "ok"), "--dry-run").code == 3
    config.write_text(SSH_CONFIG)
    assert run_cli(*argv, "--ssh-config", str(config), "--dry-run").code == 0
    config.write_text(SSH_CONFIG + extra)
    done = run_cli(*argv, "--ssh-config", str(config), "--dry-run")
    assert done.code == 3, done
    assert done.err.startswith(f"rorunner: error: {config}:{line}: ssh_config option {option}")
    assert "is not supported" in done.err


def test_ignore_unknown_and_harmless_options_pass(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("IgnoreUnknown UseKeychain,Foo*\nHost *\n  UseKeychain yes\n  FooBar 1\n")
    spec = ConnectionDefaults(ssh_config=str(config)).spec_for(
        load_inventory("web1,").hosts["web1"]
    )
    check_routes([spec])


def test_proxy_loops_and_bad_tokens_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    inv = load_inventory("a,c,")
    config.write_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    spec = ConnectionDefaults(ssh_config=str(config)).spec_for(inv.hosts["a"])
    with pytest.raises(InputError, match="ProxyJump loop or chain longer than 8 hops: a -> b -> a"):
        check_routes([spec])
    config.write_text("Host c\n  ProxyCommand nc %h %p %k\n")
    spec = ConnectionDefaults(ssh_config=str(config)).spec_for(inv.hosts["c"])
    with pytest.raises(InputError, match=r"ssh_config:2: ProxyCommand of host 'c': token %k"):
        check_routes([spec])


# --- vault ----------------------------------------------------------------------------------


def _ansible_vault(where: Path, *args: str) -> str:
    tool = Path(sys.executable).with_name("ansible-vault")
    done = subprocess.run(
        [str(tool), *args], cwd=where, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


@pytest.fixture(scope="module")
def vaulted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A group_vars file and an inline value encrypted by the real ansible-vault."""
    where = tmp_path_factory.mktemp("vaulted")
    (where / "pass").write_text("correct horse\n")
    (where / "web.yml").write_text("db_password: gv-S3CRET-1\ndb_port: 5432\n")
    _ansible_vault(where, "encrypt", "--vault-password-file", "pass", "web.yml")
    inline = _ansible_vault(
        where, "encrypt_string", "--vault-password-file", "pass", "in-S3CRET-2", "--name", "tok"
    )
    return {"group_vars": (where / "web.yml").read_text(), "inline": inline, "password": "pass"}


def _vault_project(tmp_path: Path, vaulted: dict[str, str]) -> Path:
    inline = "\n".join(f"    {line}" for line in vaulted["inline"].splitlines())
    site = f"""\
- hosts: web
  vars:
{inline}
    dsn: "pg://app:{{{{ db_password }}}}@db:{{{{ db_port }}}}"
  rtas:
    - name: u
      ship: [app.conf.j2]
      remote: ['echo "$tok $dsn"']
"""
    return _project(
        tmp_path,
        site,
        **{
            "group_vars__web.yml": vaulted["group_vars"],
            "pass": "correct horse\n",
            "wrong": "incorrect horse\n",
            "app.conf.j2": "password={{ db_password }}\n",
        },
    )


def test_vault_values_are_secrets_in_the_plan(tmp_path: Path, vaulted: dict[str, str]) -> None:
    project = _vault_project(tmp_path, vaulted)
    secrets = VaultSecrets((("default", Secret("correct horse")),))
    steps = _steps(_plan(project, vault=secrets))
    env = dict(steps["u/remote/01-echo-tok-dsn"].env)
    assert env["tok"] == Secret("in-S3CRET-2") and env["db_password"] == Secret("gv-S3CRET-1")
    assert env["dsn"] == Secret("pg://app:gv-S3CRET-1@db:5432")  # rendered from a secret
    assert env["db_port"] == Secret("5432")  # every value of an encrypted file
    shipped = steps["u/ship/files"].spec.files[0]
    assert shipped.content == b"password=gv-S3CRET-1\n"  # templates see the plaintext
    for step in steps.values():
        assert "S3CRET" not in repr(step) and "S3CRET" not in str(step)


def test_vault_signatures_are_keyed(tmp_path: Path, vaulted: dict[str, str]) -> None:
    project = _vault_project(tmp_path, vaulted)
    secrets = VaultSecrets((("default", Secret("correct horse")),))
    one = _plan(project, vault=secrets, signing_key=lambda: b"k" * 32).steps
    two = _plan(project, vault=secrets, signing_key=lambda: b"k" * 32).steps
    other = _plan(project, vault=secrets, signing_key=lambda: b"j" * 32).steps
    assert [s.signature for s in one] == [s.signature for s in two]
    assert all(a.signature != b.signature for a, b in zip(one, other, strict=True))
    (project / "group_vars" / "web.yml").unlink()
    (project / "site.yml").write_text(
        (project / "site.yml")
        .read_text()
        .replace("{{ db_password }}", "x")
        .replace("{{ db_port }}", "1")
    )
    (project / "app.conf.j2").write_text("password=x\n")
    plain = _plan(project, vault=secrets, signing_key=lambda: b"j" * 32).steps
    assert [s.signature for s in plain] != [s.signature for s in other]


@pytest.mark.parametrize(
    ("argv", "place", "words"),
    [
        ((), "group_vars/web.yml:1", "but no vault password given"),
        (("--vault-password-file", "wrong"), "group_vars/web.yml:1", "cannot decrypt vault data"),
    ],
)
def test_vault_input_errors_are_exit_3(
    tmp_path: Path, vaulted: dict[str, str], argv: tuple[str, ...], place: str, words: str
) -> None:
    project = _vault_project(tmp_path, vaulted)
    args = [a if not a.startswith("wrong") else str(project / a) for a in argv]
    done = run_cli("play", str(project / "site.yml"), "-i", str(project / "hosts.ini"), *args)
    assert done.code == 3, done
    assert done.err.startswith(f"rorunner: error: {project / place}: "), done.err
    assert words in done.err and "S3CRET" not in done.err


def test_inline_vault_without_a_password_names_its_line(
    tmp_path: Path, vaulted: dict[str, str]
) -> None:
    project = _vault_project(tmp_path, vaulted)
    (project / "group_vars" / "web.yml").write_text("db_password: x\ndb_port: 1\n")
    done = run_cli("play", str(project / "site.yml"), "-i", str(project / "hosts.ini"))
    assert done.code == 3 and f"{project}/site.yml:3: vault-encrypted data" in done.err, done


def test_a_secret_may_not_name_a_path(tmp_path: Path, vaulted: dict[str, str]) -> None:
    project = _vault_project(tmp_path, vaulted)
    site = project / "site.yml"
    site.write_text(site.read_text().replace("  rtas:", "  remote_dir: 'w/{{ tok }}'\n  rtas:"))
    argv = ["play", str(site), "-i", str(project / "hosts.ini")]
    done = run_cli(*argv, "--vault-password-file", str(project / "pass"))
    assert done.code == 3, done
    assert "remote_dir: 'tok' is a secret (vault) value and cannot be part of a path" in done.err


def test_encrypted_playbooks_and_inventories_are_refused(
    tmp_path: Path, vaulted: dict[str, str]
) -> None:
    project = _vault_project(tmp_path, vaulted)
    argv = ["--vault-password-file", str(project / "pass")]
    (project / "book.yml").write_text(vaulted["group_vars"])
    done = run_cli("play", str(project / "book.yml"), "-i", str(project / "hosts.ini"), *argv)
    assert done.code == 3 and "vault-encrypted playbooks are not supported" in done.err
    (project / "inv.ini").write_text(vaulted["group_vars"])
    done = run_cli("inventory", "-i", str(project / "inv.ini"), "--list", *argv)
    assert done.code == 3 and "vault-encrypted inventory files are not supported" in done.err


def test_inventory_list_masks_secrets(tmp_path: Path, vaulted: dict[str, str]) -> None:
    project = _vault_project(tmp_path, vaulted)
    argv = ["--vault-password-file", str(project / "pass")]
    done = run_cli("inventory", "-i", str(project / "hosts.ini"), "--list", *argv)
    assert done.code == 0, done
    hostvars = json.loads(done.out)["_meta"]["hostvars"]["web1"]
    assert hostvars["db_password"] == "********" and "S3CRET" not in done.out


def test_extra_vars_file_may_be_encrypted(tmp_path: Path, vaulted: dict[str, str]) -> None:
    project = _vault_project(tmp_path, vaulted)
    (project / "group_vars" / "web.yml").rename(project / "extra.yml")
    argv = ["-e", f"@{project / 'extra.yml'}", "--vault-password-file", str(project / "pass")]
    done = run_cli(
        "play",
        str(project / "site.yml"),
        "-i",
        str(project / "hosts.ini"),
        "--graph",
        "json",
        *argv,
    )
    assert done.code == 0, done
    assert "S3CRET" not in done.out + done.err
    plain = hashlib.sha256(b"gv-S3CRET-1").hexdigest()
    assert plain not in done.out


# --- the docs list exactly the options the code honours, refuses and ignores ---------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "fleet.md"


def _names(text: str) -> set[str]:
    return {name.lower() for name in re.findall(r"`([A-Za-z0-9]+)`", text)}


def test_the_docs_list_the_ssh_config_options_exactly() -> None:
    text = DOCS.read_text()
    honoured = text.split("**Honoured** (exactly these):", 1)[1].split("\n\n", 1)[0]
    refused = text.split("**Refused**", 1)[1].split("**Ignored**", 1)[0]
    ignored = text.split("**Ignored**", 1)[1].split("Any other keyword", 1)[0]
    assert _names(honoured) == set(sshopts.HONOURED)
    table = {line.split("|")[1] for line in refused.splitlines() if line.startswith("| `")}
    assert _names(" ".join(table)) == set(sshopts._REFUSED) | set(sshopts._REFUSED_IF)
    assert _names(ignored) == set(sshopts.IGNORED)
    assert len(sshopts.IGNORED) == len(set(sshopts.IGNORED))


def test_proxycommand_tokens_use_the_final_host_port_and_user() -> None:
    spec = ConnectionSpec(address="inner1", port=2222, user="ops")
    end = Endpoint("2001:db8::5", 2222, "ops")
    got = expand_command("nc -X 5 %h %p # %r %n 100%%", spec, end, Location("cfg", 3))
    assert got == "nc -X 5 2001:db8::5 2222 # ops inner1 100%"
    with pytest.raises(InputError, match="cfg:3: ProxyCommand of host 'inner1': %r would be"):
        expand_command(
            "ssh -l %r b1",
            ConnectionSpec("inner1", user="a;b"),
            Endpoint("x", 22, "a;b"),
            Location("cfg", 3),
        )


def test_vault_id_and_ask_vault_pass_from_a_pipe(tmp_path: Path, vaulted: dict[str, str]) -> None:
    """--vault-id LABEL@FILE with a wrong password first, then --ask-vault-pass reading the
    right one from stdin (not a terminal): the right one decrypts; a graph shows no secret."""
    project = _vault_project(tmp_path, vaulted)
    argv = [sys.executable, "-m", "rorunner", "play", "site.yml", "-i", "hosts.ini"]
    argv += ["--vault-id", "dev@wrong", "--ask-vault-pass", "--graph", "text"]

    def run(stdin: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=project,
            env=env,
            timeout=120,
            check=False,
        )

    done = run("correct horse\n")
    assert done.returncode == 0, done.stderr
    assert "web1" in done.stdout and "S3CRET" not in done.stdout + done.stderr
    empty = run("")
    assert empty.returncode == 5 and "Vault password: nothing to read on stdin" in empty.stderr
