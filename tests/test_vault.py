"""rorunner.vault against the real `ansible-vault` (encrypt and encrypt_string)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from rorunner.errors import EXIT_BAD_INPUT, InputError, UsageError
from rorunner.vault import (
    Secret,
    VaultSecrets,
    decrypt,
    is_vault,
    load_vault_secrets,
    parse,
    password_from_file,
    split_vault_id,
)

PLAIN = "db_password: naïve ü s3cr3t\nport: 5432\n"
BLOCK = "0123456789abcdef"  # exactly one AES block: ansible pads a whole extra block
CLIENT = """#!/bin/sh
[ "$1" = --vault-id ] || exit 3
case "$2" in
  dev) echo 'client dev password' ;;
  *) echo "no secret for $2" >&2; exit 2 ;;
esac
"""


@dataclass(frozen=True)
class Corpus:
    """Payloads written by the real ansible-vault, and the password sources used."""

    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def text(self, name: str) -> str:
        return (self.dir / name).read_text()

    def inline(self, name: str) -> str:
        """The `!vault |` block of an encrypt_string output, as the YAML scalar's text."""
        lines = self.text(name).splitlines()
        assert lines[0].endswith(": !vault |"), lines[0]
        return textwrap.dedent("\n".join(lines[1:])) + "\n"


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)


def _vault(where: Path, *args: str) -> subprocess.Popen[str]:
    tool = Path(sys.executable).with_name("ansible-vault")
    env = {**os.environ, "ANSIBLE_HOME": str(where / "ah"), "ANSIBLE_LOCAL_TEMP": str(where)}
    return subprocess.Popen(
        [str(tool), *args],
        cwd=where,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    where = tmp_path_factory.mktemp("vault")
    _write(where / "one.pass", "  correct horse \n\n")  # surrounding whitespace is dropped
    _write(where / "two.pass", "battery staple\n")
    _write(where / "three.pass", "three\n")
    _write(where / "spaced.sh", "#!/bin/sh\necho '  spaced pw  '\n", 0o700)  # kept as printed
    _write(where / "pw-client.sh", CLIENT, 0o700)
    for name in ("v11.yml", "v12.yml", "script.yml", "client.yml"):
        _write(where / name, PLAIN)
    _write(where / "three.pass.vault", "three\n")
    jobs = {
        "v11": ["encrypt", "--vault-password-file", "one.pass", "v11.yml"],
        "v12": ["encrypt", "--vault-id", "dev@two.pass", "v12.yml"],
        "script": ["encrypt", "--vault-password-file", "spaced.sh", "script.yml"],
        "client": ["encrypt", "--vault-id", "dev@pw-client.sh", "client.yml"],
        "pwvault": ["encrypt", "--vault-id", "dev@two.pass", "three.pass.vault"],
        "prod.str": ["encrypt_string", "--vault-id", "prod@three.pass", "tok en", "--name", "k"],
        "block.str": ["encrypt_string", "--vault-password-file", "one.pass", BLOCK, "--name", "b"],
    }
    procs = {name: _vault(where, *argv) for name, argv in jobs.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {err}"
        if name.endswith(".str"):
            (where / name).write_text(out)
    return Corpus(where)


def _secrets(corpus: Corpus, *specs: str) -> VaultSecrets:
    return load_vault_secrets(
        vault_ids=[spec.replace("@", "@" + str(corpus.dir) + "/") for spec in specs]
    )


def test_a_whole_file_in_format_1_1(corpus: Corpus) -> None:
    text = corpus.text("v11.yml")
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256\n") and is_vault(text)
    payload = parse(text, "v11.yml")
    assert (payload.version, payload.cipher, payload.vault_id) == ("1.1", "AES256", None)
    secrets = load_vault_secrets(password_files=[corpus.path("one.pass")])
    assert decrypt(text, secrets, "v11.yml").reveal() == PLAIN


def test_a_whole_file_in_format_1_2_with_a_vault_id(corpus: Corpus) -> None:
    text = corpus.text("v12.yml")
    assert text.startswith("$ANSIBLE_VAULT;1.2;AES256;dev\n")
    assert parse(text, "v12.yml").vault_id == "dev"
    secrets = _secrets(corpus, "prod@three.pass", "dev@two.pass")
    assert decrypt(text, secrets, "v12.yml").reveal() == PLAIN


def test_inline_encrypt_string_values(corpus: Corpus) -> None:
    prod = corpus.inline("prod.str")
    assert prod.startswith("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    secrets = _secrets(corpus, "prod@three.pass", "one@one.pass")
    assert decrypt(prod, secrets, "group_vars/all.yml", 7).reveal() == "tok en"
    block = corpus.inline("block.str")
    assert parse(block, "x").vault_id is None and len(parse(block, "x").ciphertext) == 32
    assert decrypt(block, secrets, "group_vars/all.yml", 9).reveal() == BLOCK


def test_several_vault_ids_each_payload_finds_its_password(corpus: Corpus) -> None:
    secrets = load_vault_secrets(
        vault_ids=[f"prod@{corpus.path('three.pass')}", f"dev@{corpus.path('two.pass')}"],
        password_files=[corpus.path("one.pass")],
    )
    assert secrets.labels == ("prod", "dev", "default")
    assert [label for label, _ in secrets.candidates("dev")] == ["dev", "prod", "default"]
    assert decrypt(corpus.text("v11.yml"), secrets, "a").reveal() == PLAIN
    assert decrypt(corpus.text("v12.yml"), secrets, "b").reveal() == PLAIN
    assert decrypt(corpus.inline("prod.str"), secrets, "c").reveal() == "tok en"


def test_a_vault_id_without_its_label_still_tries_every_password(corpus: Corpus) -> None:
    """ansible's default (vault_id_match = False): the id in the header only orders the tries."""
    secrets = load_vault_secrets(password_files=[corpus.path("one.pass"), corpus.path("two.pass")])
    assert secrets.labels == ("default", "default")
    assert decrypt(corpus.text("v12.yml"), secrets, "v12.yml").reveal() == PLAIN


def test_password_scripts_and_client_scripts_as_ansible_runs_them(corpus: Corpus) -> None:
    script = load_vault_secrets(password_files=[corpus.path("spaced.sh")])
    assert script.entries[0][1].reveal() == "  spaced pw  "
    assert decrypt(corpus.text("script.yml"), script, "s").reveal() == PLAIN
    client = load_vault_secrets(vault_ids=[f"dev@{corpus.path('pw-client.sh')}"])
    assert client.entries[0][1].reveal() == "client dev password"
    assert decrypt(corpus.text("client.yml"), client, "c").reveal() == PLAIN
    with pytest.raises(InputError, match=r"pw-client\.sh: .*no secret for vault id 'prod'"):
        load_vault_secrets(vault_ids=[f"prod@{corpus.path('pw-client.sh')}"])


def test_a_password_file_encrypted_with_an_earlier_password(corpus: Corpus) -> None:
    vaulted = corpus.path("three.pass.vault")
    assert is_vault(corpus.text("three.pass.vault"))
    secrets = load_vault_secrets(vault_ids=[f"dev@{corpus.path('two.pass')}", f"prod@{vaulted}"])
    assert secrets.entries[1][1].reveal() == "three"
    assert decrypt(corpus.inline("prod.str"), secrets, "p").reveal() == "tok en"
    with pytest.raises(InputError, match=r"three\.pass\.vault:1: .*no vault password given"):
        load_vault_secrets(vault_ids=[f"prod@{vaulted}"])


def test_a_wrong_password_names_file_and_line_and_never_the_password(corpus: Corpus) -> None:
    secrets = _secrets(corpus, "dev@two.pass", "other@one.pass")
    with pytest.raises(InputError) as err:
        decrypt(corpus.inline("prod.str"), secrets, "group_vars/all.yml", 12)
    message = str(err.value)
    assert message.startswith("group_vars/all.yml:12: cannot decrypt vault data (vault id 'prod')")
    assert "(dev, other)" in message and "wrong password" in message
    assert "battery" not in message and "horse" not in message
    assert err.value.exit_code == EXIT_BAD_INPUT


def _retamper(text: str, part: int) -> str:
    """Change one hex digit of the salt (0), HMAC (1) or ciphertext (2), keeping it valid hex."""
    lines = text.splitlines()
    inner = bytes.fromhex("".join(lines[1:])).split(b"\n")
    digit = inner[part][5:6]
    inner[part] = inner[part][:5] + (b"1" if digit != b"1" else b"2") + inner[part][6:]
    return lines[0] + "\n" + b"\n".join(inner).hex() + "\n"


@pytest.mark.parametrize("part", [0, 1, 2], ids=["salt", "hmac", "ciphertext"])
def test_tampered_data_fails_the_hmac_check(corpus: Corpus, part: int) -> None:
    secrets = load_vault_secrets(password_files=[corpus.path("one.pass")])
    tampered = _retamper(corpus.text("v11.yml"), part)
    assert parse(tampered, "v11.yml").version == "1.1"  # still well-formed
    with pytest.raises(InputError, match=r"^v11\.yml:1: cannot decrypt .*HMAC mismatch"):
        decrypt(tampered, secrets, "v11.yml")


def _good_body(corpus: Corpus) -> list[str]:
    return corpus.text("v11.yml").splitlines()[1:]


@pytest.mark.parametrize(
    ("header", "body", "line", "message"),
    [
        ("$ANSIBLE_VAULT;1.1", None, 5, "malformed vault header"),
        ("$ANSIBLE_VAULT;1.1;AES", None, 5, "unsupported vault cipher 'AES'"),
        ("$ANSIBLE_VAULT;1.3;AES256", None, 5, "unsupported vault format version '1.3'"),
        ("$ANSIBLE_VAULT;1.2;AES256", None, 5, "1.2 needs a vault id"),
        ("$ANSIBLE_VAULT;1.2;AES256;", None, 5, "1.2 needs a vault id"),
        ("ANSIBLE_VAULT;1.1;AES256", None, 5, "not vault data"),
        (None, ["zz"], 8, "not hexadecimal"),  # the third body line
        (None, [], 6, "truncated"),
        (None, ["abc"], 6, "truncated"),
        (None, ["6162"], 5, "bad salt/HMAC/ciphertext"),
    ],
)
def test_malformed_payloads_name_the_line(
    corpus: Corpus, header: str | None, body: list[str] | None, line: int, message: str
) -> None:
    good = _good_body(corpus)
    lines = [header or "$ANSIBLE_VAULT;1.1;AES256"]
    if body is None:
        lines += good
    elif body == ["zz"]:
        lines += [*good[:2], good[2][:10] + "zz" + good[2][12:], *good[3:]]
    else:
        lines += body
    secrets = load_vault_secrets(password_files=[corpus.path("one.pass")])
    with pytest.raises(InputError) as err:
        decrypt("\n".join(lines) + "\n", secrets, "vars.yml", 5)
    assert str(err.value).startswith(f"vars.yml:{line}: ")
    assert message in str(err.value)


def test_ciphertext_that_is_not_whole_blocks_is_malformed() -> None:
    inner = b"\n".join([b"ab" * 8, b"cd" * 32, b"ef" * 15])
    text = "$ANSIBLE_VAULT;1.1;AES256\n" + inner.hex() + "\n"
    with pytest.raises(InputError, match="not whole AES blocks"):
        parse(text, "v.yml")


def test_vault_data_without_any_password(corpus: Corpus) -> None:
    with pytest.raises(InputError, match=r"^v\.yml:3: .*vault id 'dev'.* no vault password given"):
        decrypt(corpus.text("v12.yml"), VaultSecrets(), "v.yml", 3)


def test_a_secret_is_masked_everywhere_but_reveal() -> None:
    secret = Secret("hunter2")
    shown = [
        str(secret),
        repr(secret),
        f"{secret}",
        format(secret),
        repr(VaultSecrets((("a", secret),))),
    ]
    assert not any("hunter2" in text for text in shown)
    assert str(secret) == "********" and repr(secret) == "Secret('********')"
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2") and secret != Secret("hunter3")
    assert len({secret, Secret("hunter2")}) == 1
    with pytest.raises(TypeError):
        json.dumps(secret)


def test_password_file_rules(tmp_path: Path) -> None:
    empty, blank, missing = tmp_path / "empty", tmp_path / "blank", tmp_path / "missing"
    _write(empty, "")
    _write(blank, " \n\t\n")
    failing = tmp_path / "fail.sh"
    _write(failing, "#!/bin/sh\necho oops >&2\nexit 1\n", 0o700)
    silent = tmp_path / "silent.sh"
    _write(silent, "#!/bin/sh\necho\n", 0o700)
    cases = {
        empty: "empty vault password",
        blank: "empty vault password",
        missing: "vault password file not found",
        tmp_path: "vault password file is a directory",
        failing: "vault password script exited with status 1",
        silent: "empty vault password",
    }
    for path, message in cases.items():
        with pytest.raises(InputError) as err:
            password_from_file(str(path))
        assert str(err.value) == f"{path}: {message}"


def test_vault_ids_and_prompts_in_ansible_order(tmp_path: Path) -> None:
    _write(tmp_path / "a", "file a\n")
    _write(tmp_path / "b@c", "file b@c\n")
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return f" typed {len(asked)} \n"

    secrets = load_vault_secrets(
        vault_ids=["ops@prompt", f"@{tmp_path / 'a'}"],
        password_files=[str(tmp_path / "b@c")],
        ask_vault_pass=True,
        prompt=prompt,
    )
    assert asked == ["Vault password (ops): ", "Vault password: "]
    assert secrets.labels == ("ops", "default", "default", "default")
    assert [s.reveal() for _, s in secrets.entries] == ["typed 1", "file a", "file b@c", "typed 2"]
    with pytest.raises(UsageError, match="no terminal"):
        load_vault_secrets(ask_vault_pass=True)
    with pytest.raises(UsageError, match="empty vault password"):
        load_vault_secrets(vault_ids=["x@prompt"], prompt=lambda _text: "  \n")
    with pytest.raises(UsageError, match="no password source"):
        load_vault_secrets(vault_ids=["x@"])


def test_split_vault_id() -> None:
    assert split_vault_id("dev@/p/f") == ("dev", "/p/f")
    assert split_vault_id("/p/f") == (None, "/p/f")
    assert split_vault_id("@/p/f") == (None, "/p/f")
    assert split_vault_id("dev@a@b") == ("dev", "a@b")
    assert split_vault_id("dev@prompt") == ("dev", "prompt")
