"""Ansible Vault decryption, in memory: whole vault files and inline `!vault` values.

Formats: `$ANSIBLE_VAULT;1.1;AES256` and `$ANSIBLE_VAULT;1.2;AES256;<vault-id>`, as written
by `ansible-vault encrypt` and `encrypt_string`. The body is hex of
`hex(salt) \\n hex(hmac) \\n hex(ciphertext)`; keys come from PBKDF2-HMAC-SHA256 (10000
rounds, 80 bytes: AES-256 key, HMAC-SHA256 key, CTR counter block); the HMAC of the
ciphertext is checked before AES-256-CTR decryption and PKCS#7 unpadding. The primitives
are the `cryptography` library's.

API (this module imports only `rorunner.errors`, `rorunner.model` and `cryptography`):

    secrets = load_vault_secrets(
        vault_ids=["dev@dev.pass", "prod@prompt"],   # --vault-id LABEL@SOURCE, in order
        password_files=["~/.vault_pass"],            # --vault-password-file: default@FILE
        ask_vault_pass=False,                        # --ask-vault-pass: default@prompt
        prompt=None,                                 # str -> str, asks without echo (CLI only)
    )
    if is_vault(text):                               # a file's text, or a `!vault` scalar
        value = decrypt(text, secrets, path, line)   # -> Secret; line = the header's line
    value.reveal()                                   # the plaintext; str()/repr() are masked

A SOURCE is `prompt`, a file holding the password (surrounding whitespace dropped; a file
itself vault-encrypted is decrypted with the secrets loaded before it), or an executable
that prints it on stdout (trailing newlines dropped; stderr and stdin stay the user's, so
it may prompt). An executable named `*-client` or `*-client.EXT` is a client script: it is
run with `--vault-id LABEL` and exit status 2 means "no secret for that id". Every
password source must work: unlike ansible, which warns and goes on when another source
works, a bad source is an error.

Which password decrypts a payload: for a 1.2 payload, the secrets labelled with its vault
id first, then every other secret in the order given (ansible's default,
`vault_id_match = False`); 1.1 payloads try every secret in order. A wrong password and
modified data look the same (the HMAC does not match).

Errors are `InputError` with the file and line the caller passed (malformed payload,
unknown version or cipher, no password, no matching password, broken password file), or
`UsageError` when a prompt is needed and there is no way to ask. Secret values never
appear in messages.
"""

from __future__ import annotations

import binascii
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from rorunner.errors import InputError, UsageError
from rorunner.model import Secret
from rorunner.scheduling import started_policy

HEADER = "$ANSIBLE_VAULT"
VERSIONS = ("1.1", "1.2")
CIPHERS = ("AES256",)
DEFAULT_VAULT_ID = "default"
KDF_ROUNDS = 10000
KEY_BYTES = 32
COUNTER_BYTES = 16
HMAC_BYTES = 32
PASSWORD_SCRIPT_TIMEOUT = 300.0  # seconds; a password script may prompt the user
CLIENT_UNKNOWN_ID = 2  # exit status of a client script that has no secret for the id


@dataclass(frozen=True)
class VaultSecrets:
    """Vault passwords by label (vault id), in the order they were given."""

    entries: tuple[tuple[str, Secret], ...] = ()

    def with_secret(self, label: str, secret: Secret) -> VaultSecrets:
        """A copy with `secret` added last under `label`."""
        return VaultSecrets((*self.entries, (label, secret)))

    @property
    def labels(self) -> tuple[str, ...]:
        """The vault ids, in order (a label may repeat)."""
        return tuple(label for label, _ in self.entries)

    def candidates(self, vault_id: str | None) -> list[tuple[str, Secret]]:
        """The secrets to try for a payload: those labelled `vault_id` first, then the rest."""
        first = [entry for entry in self.entries if entry[0] == vault_id]
        return first + [entry for entry in self.entries if entry[0] != vault_id]

    def __bool__(self) -> bool:
        return bool(self.entries)


@dataclass(frozen=True)
class VaultPayload:
    """A parsed vault envelope: header fields and the raw salt, HMAC and ciphertext."""

    version: str
    cipher: str
    vault_id: str | None  # None for 1.1 payloads (ansible calls them "default")
    salt: bytes = field(repr=False)
    hmac: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


def is_vault(text: str) -> bool:
    """True when `text` (a file's text or a `!vault` scalar) starts with the vault header."""
    return text.startswith(HEADER + ";")


def parse(text: str, path: str, line: int = 1) -> VaultPayload:
    """Parse a vault envelope; `line` is where its header line sits in `path`."""
    lines = text.splitlines()
    if not lines or not is_vault(lines[0]):
        raise InputError(f"not vault data: expected a line starting with {HEADER};", path, line)
    version, cipher, vault_id = _header(lines[0].strip(), path, line)
    body = _body(lines[1:], path, line + 1)
    salt, mac, ciphertext = _vaulttext(body, path, line)
    return VaultPayload(version, cipher, vault_id, salt, mac, ciphertext)


def _header(header: str, path: str, line: int) -> tuple[str, str, str | None]:
    fields = [part.strip() for part in header.split(";")]
    if len(fields) not in (3, 4):
        raise InputError(f"malformed vault header {header!r}", path, line)
    version, cipher = fields[1], fields[2]
    if version not in VERSIONS:
        raise InputError(f"unsupported vault format version {version!r} (1.1 or 1.2)", path, line)
    if cipher not in CIPHERS:
        raise InputError(f"unsupported vault cipher {cipher!r} (AES256)", path, line)
    vault_id = fields[3] if len(fields) == 4 else None
    if vault_id == "" or (version == "1.2" and vault_id is None):
        raise InputError(f"vault format 1.2 needs a vault id: {header!r}", path, line)
    return version, cipher, vault_id


def _body(lines: Sequence[str], path: str, first_line: int) -> bytes:
    """The hex lines after the header, joined and decoded; a bad line is named."""
    chunks = [text.strip() for text in lines]
    for offset, chunk in enumerate(chunks):
        if chunk.strip("0123456789abcdefABCDEF"):
            raise InputError("malformed vault data: not hexadecimal", path, first_line + offset)
    joined = "".join(chunks)
    if not joined or len(joined) % 2:
        raise InputError("malformed vault data: truncated", path, first_line)
    return bytes.fromhex(joined)


def _vaulttext(body: bytes, path: str, line: int) -> tuple[bytes, bytes, bytes]:
    """Split `hex(salt)\\nhex(hmac)\\nhex(ciphertext)` and check the sizes."""
    try:
        salt, mac, ciphertext = (binascii.unhexlify(part) for part in body.split(b"\n", 2))
    except (ValueError, binascii.Error):  # also fewer than three parts
        raise InputError("malformed vault data: bad salt/HMAC/ciphertext", path, line) from None
    if not salt or len(mac) != HMAC_BYTES:
        raise InputError("malformed vault data: bad salt/HMAC/ciphertext", path, line)
    if not ciphertext or len(ciphertext) % 16:
        raise InputError("malformed vault data: ciphertext is not whole AES blocks", path, line)
    return salt, mac, ciphertext


def _keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """AES key, HMAC key and initial counter block, as ansible derives them."""
    length = 2 * KEY_BYTES + COUNTER_BYTES
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt, iterations=KDF_ROUNDS)
    derived = kdf.derive(password)
    return derived[:KEY_BYTES], derived[KEY_BYTES : 2 * KEY_BYTES], derived[2 * KEY_BYTES :]


def _open(payload: VaultPayload, password: bytes) -> bytes | None:
    """The padded plaintext, or None when the HMAC does not match this password."""
    aes_key, mac_key, counter = _keys(password, payload.salt)
    check = crypto_hmac.HMAC(mac_key, hashes.SHA256())
    check.update(payload.ciphertext)
    try:
        check.verify(payload.hmac)
    except InvalidSignature:
        return None
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(counter)).decryptor()
    return decryptor.update(payload.ciphertext) + decryptor.finalize()


def _unpad(padded: bytes, path: str, line: int) -> str:
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise InputError("malformed vault data: bad padding after decryption", path, line) from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("decrypted vault data is not UTF-8 text", path, line) from None


def _password_bytes(secret: Secret) -> bytes:
    return secret.reveal().encode("utf-8", "surrogateescape")  # a file's bytes, unchanged


def decrypt(text: str, secrets: VaultSecrets, path: str, line: int = 1) -> Secret:
    """Decrypt a vault payload (file text or `!vault` scalar) with the first password that fits."""
    payload = parse(text, path, line)
    shown = payload.vault_id or DEFAULT_VAULT_ID
    if not secrets:
        raise InputError(
            f"vault-encrypted data (vault id {shown!r}) but no vault password given", path, line
        )
    for _label, secret in secrets.candidates(payload.vault_id):
        padded = _open(payload, _password_bytes(secret))
        if padded is not None:
            return Secret(_unpad(padded, path, line))
    tried = ", ".join(dict.fromkeys(secrets.labels))
    raise InputError(
        f"cannot decrypt vault data (vault id {shown!r}) with the vault passwords given"
        f" ({tried}): wrong password, or the data was modified (HMAC mismatch)",
        path,
        line,
    )


# --- passwords: --vault-id LABEL@SOURCE, --vault-password-file FILE, --ask-vault-pass ---------

Prompt = Callable[[str], str]


def split_vault_id(spec: str) -> tuple[str | None, str]:
    """`LABEL@SOURCE` -> (LABEL, SOURCE); a bare SOURCE (or an empty label) has label None."""
    label, at, source = spec.partition("@")
    return (label or None, source) if at else (None, spec)


def load_vault_secrets(
    vault_ids: Sequence[str] = (),
    password_files: Sequence[str] = (),
    ask_vault_pass: bool = False,
    prompt: Prompt | None = None,
) -> VaultSecrets:
    """Load every password source, in ansible's order: vault ids, password files, the prompt.

    A source may be vault-encrypted with a password loaded before it. `prompt(text)` asks
    the user without echo; without it, a source that needs a prompt is a UsageError.
    """
    sources = [split_vault_id(spec) for spec in vault_ids]
    sources += [(None, path) for path in password_files]
    secrets = VaultSecrets()
    for label, source in sources:
        if not source:
            raise UsageError(f"vault id {label or ''}@: no password source after '@'")
        if source == "prompt":
            secret = _ask(f"Vault password ({label or DEFAULT_VAULT_ID}): ", prompt)
        else:
            secret = password_from_file(source, label, secrets)
        secrets = secrets.with_secret(label or DEFAULT_VAULT_ID, secret)
    if ask_vault_pass:
        secrets = secrets.with_secret(DEFAULT_VAULT_ID, _ask("Vault password: ", prompt))
    return secrets


def _ask(text: str, prompt: Prompt | None) -> Secret:
    if prompt is None:
        raise UsageError(f"cannot ask {text.rstrip(': ')!r}: no terminal to prompt on")
    value = prompt(text).strip()
    if not value:
        raise UsageError("empty vault password")
    return Secret(value)


def password_from_file(
    path: str, label: str | None = None, earlier: VaultSecrets = VaultSecrets()
) -> Secret:
    """A password from a file, or from the stdout of an executable file (see the module doc)."""
    if not os.path.exists(path):
        raise InputError("vault password file not found", path)
    if os.path.isdir(path):
        raise InputError("vault password file is a directory", path)
    if os.stat(path).st_mode & 0o111:
        value = _run_password_script(path, label)
    else:
        value = _read_password_file(path, earlier)
    if not value:
        raise InputError("empty vault password", path)
    return Secret(value)


def _read_password_file(path: str, earlier: VaultSecrets) -> str:
    try:
        with open(path, "rb") as handle:
            text = handle.read().strip().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read vault password file: {exc.strerror}", path) from None
    if is_vault(text):
        text = decrypt(text, earlier, path).reveal()
    return text.strip("\r\n")


def _is_client_script(path: str) -> bool:
    return os.path.splitext(path)[0].endswith("-client")


def _run_password_script(path: str, label: str | None) -> str:
    """Run a password script; a client script gets `--vault-id LABEL` and may say rc 2."""
    client = _is_client_script(path)
    argv = [path, "--vault-id", label] if client and label else [path]
    try:
        with started_policy():
            done = subprocess.run(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if client else None,  # a plain script may prompt
                timeout=PASSWORD_SCRIPT_TIMEOUT,
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise InputError(
            f"vault password script still running after {PASSWORD_SCRIPT_TIMEOUT:.0f}s", path
        ) from None
    except OSError as exc:
        raise InputError(f"cannot run vault password script: {exc.strerror}", path) from None
    if client and done.returncode == CLIENT_UNKNOWN_ID:
        raise InputError(f"vault password client script has no secret for vault id {label!r}", path)
    if done.returncode != 0:
        raise InputError(f"vault password script exited with status {done.returncode}", path)
    return done.stdout.strip(b"\r\n").decode("utf-8", "surrogateescape")
