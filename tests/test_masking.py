"""Secret-like variable names and masking (docs/playbooks.md, Step environment)."""

from __future__ import annotations

import pytest

from rorunner.masking import MASK, is_secret_name, mask, printable, secret_values
from rorunner.model import Secret


@pytest.mark.parametrize(
    "name",
    ["db_secret", "SECRET_KEY", "db_password", "api_token", "vault-passphrase", "dbPassword",
     "aws_secret_access_key", "my_api_key", "APIKEY", "ldap_credentials", "smtp_pass"],
)  # fmt: skip
def test_secret_like_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["app_version", "passenger_count", "compass", "tokens_per_s", "keyfile", "db_host"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_mask_replaces_secret_values_longest_first_and_leaves_short_ones() -> None:
    env = [("db_password", "abcd"), ("api_token", "abcdef"), ("pin_secret", "12"), ("x", "abcd")]
    values = secret_values(env)
    assert values == ("abcdef", "abcd")
    assert mask("t=abcdef p=abcd pin=12", values) == f"t={MASK} p={MASK} pin=12"


def test_printable_escapes_control_characters() -> None:
    assert printable("\x1b[31mred\x1b[0m\r") == "\\x1b[31mred\\x1b[0m"
    assert printable("tab\there") == "tab\there"


def test_vault_values_are_masked_whatever_their_name() -> None:
    env = [("app_setting", Secret("from-the-vault")), ("db_host", "db1.example")]
    values = secret_values(env)
    assert values == ("from-the-vault",)
    assert (
        mask("connect db1.example with from-the-vault", values)
        == f"connect db1.example with {MASK}"
    )
