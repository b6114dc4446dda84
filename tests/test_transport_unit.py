"""Transport pieces that need no lab: addresses, command lines, known_hosts, local transport."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paramiko
import pytest

from rorunner.errors import HostKeyError, InputError, RemoteFailure, UnreachableError
from rorunner.model import ConnectionSpec
from rorunner.transport import LocalTransport, Pool, default_pool, spec_for_address
from rorunner.transport._shell import (
    KEPT_SETUP,
    LAUNCHER,
    EndOfOutput,
    PidHeader,
    kept_line,
    kill_group_command,
    remote_script,
)
from rorunner.transport._ssh_hostkeys import (
    KnownHostsPolicy,
    append_known_host,
    fingerprint,
    prefer_ciphers,
    read_known_keys,
)

REPO = Path(__file__).resolve().parent.parent
ENV_NAMES = (
    "RORUNNER_USER",
    "RORUNNER_PORT",
    "RORUNNER_PRIVATE_KEY",
    "RORUNNER_KNOWN_HOSTS",
    "RORUNNER_HOST_KEY_CHECKING",
    "RORUNNER_SSH_CONFIG",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .rorunner/known_hosts here
    return monkeypatch


# --- spec_for_address --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address", "port"),
    [
        ("2001:db8::1", "2001:db8::1", None),
        ("2001:DB8:0:0::1", "2001:db8::1", None),
        ("[2001:db8::1]:2222", "2001:db8::1", 2222),
        ("fe80::1%eth0", "fe80::1%eth0", None),
        ("[fe80::1%br-lab.1]:22", "fe80::1%br-lab.1", 22),
        ("::1", "::1", None),
        ("192.0.2.7", "192.0.2.7", None),
        ("web01.example", "web01.example", None),
        ("web01:2200", "web01", 2200),
    ],
)
def test_spec_for_address_parses(
    clean_env: pytest.MonkeyPatch, text: str, address: str, port: int | None
) -> None:
    spec = spec_for_address(text)
    assert (spec.address, spec.port) == (address, port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2001:db8::1::2",
        "[2001:db8::1]:0",
        "[2001:db8::1]:99999",
        "[2001:db8::1]:x",
        "fe80::1%eth0;rm",
        "fe80::1%",
        "192.0.2.1%eth0",
        "bad host",
        "-oProxyCommand=x",
        "a:b:c",
        "[2001:db8::1]",  # brackets only with a port, as in the inventory
        "fe80::1",  # link-local without a scope id
        "fe80::1%abcdefghijklmnopq",  # scope ids are interface names, at most 15 characters
    ],
)
def test_spec_for_address_rejects(clean_env: pytest.MonkeyPatch, text: str) -> None:
    with pytest.raises(InputError):
        spec_for_address(text)


def test_spec_for_address_reads_env_and_overrides(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = tmp_path / ".rorunner"
    project.mkdir()
    (project / "known_hosts").write_text("")
    clean_env.setenv("RORUNNER_USER", "deploy")
    clean_env.setenv("RORUNNER_PORT", "2022")
    clean_env.setenv("RORUNNER_PRIVATE_KEY", "/k/id")
    clean_env.setenv("RORUNNER_KNOWN_HOSTS", os.pathsep.join(["/a/kh", "", "/b/kh"]))
    clean_env.setenv("RORUNNER_HOST_KEY_CHECKING", "accept-new")
    clean_env.setenv("RORUNNER_SSH_CONFIG", "/c/config")
    spec = spec_for_address("2001:db8::5")
    assert spec == ConnectionSpec(
        address="2001:db8::5",
        port=2022,
        user="deploy",
        key_file="/k/id",
        known_hosts=("/a/kh", "/b/kh", str((project / "known_hosts").resolve())),
        host_key_policy="accept-new",
        ssh_config="/c/config",
    )
    # A port in the text wins over RORUNNER_PORT; explicit overrides win over both.
    assert spec_for_address("[2001:db8::5]:2200").port == 2200
    assert spec_for_address("[2001:db8::5]:2200", port=2300, label="h").port == 2300
    with pytest.raises(InputError, match="unknown connection setting"):
        spec_for_address("2001:db8::5", colour="red")
    clean_env.setenv("RORUNNER_HOST_KEY_CHECKING", "yolo")
    with pytest.raises(InputError, match="RORUNNER_HOST_KEY_CHECKING"):
        spec_for_address("2001:db8::5")


def test_importing_transport_does_not_import_paramiko() -> None:
    code = "import sys, rorunner.transport; sys.exit(1 if 'paramiko' in sys.modules else 0)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, timeout=60, check=False, capture_output=True
    )
    assert done.returncode == 0, done.stderr


# --- remote command lines -----------------------------------------------------------------


def _run_line(line: str, script: bytes = b"") -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        ["sh", "-c", line], input=script, capture_output=True, timeout=30, check=False
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_launcher_runs_the_script_with_env_cwd_and_quoting(tmp_path: Path, shell: str) -> None:
    odd = tmp_path / "dir with 'quotes' and $x"
    odd.mkdir()
    nasty = "a b'c\"$(touch pwned)`touch pwned2`;\n"
    script = remote_script(
        'printf "%s|" "$A" "$(pwd)" "$(cat)"; exit 7', {"A": nasty, "B_2": ""}, str(odd)
    )
    done = subprocess.run(
        [shell, "-c", LAUNCHER], input=script, capture_output=True, timeout=30, check=False
    )
    header = PidHeader()
    body = header.feed(done.stdout) + header.flush()
    assert done.returncode == 7, done.stderr
    assert header.pid is not None and header.pid > 1
    assert body.decode() == f"{nasty}|{odd}||"  # the command's stdin is empty
    assert not (odd / "pwned").exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_long_script_is_read_whole_before_the_command_reads_stdin(shell: str) -> None:
    padding = "x" * 200_000  # far beyond a shell's input buffer
    script = remote_script("cat; printf 'end %s' \"${#P}\"", {"P": padding}, "/")
    done = subprocess.run(
        [shell, "-c", LAUNCHER], input=script, capture_output=True, timeout=30, check=False
    )
    header = PidHeader()
    assert done.returncode == 0, done.stderr
    assert header.feed(done.stdout) + header.flush() == b"end 200000"


def test_env_values_stay_out_of_the_launcher() -> None:
    assert "s3cret" not in LAUNCHER
    assert b"export A=s3cret" in remote_script("true", {"A": "s3cret"}, None)


def test_remote_script_rejects_bad_env_names() -> None:
    for name in ("1A", "A-B", "A B", "A=B", "", "A;rm"):
        with pytest.raises(InputError, match="not an identifier"):
            remote_script("true", {name: "x"}, None)


def test_remote_script_missing_cwd_fails() -> None:
    status, _, err = _run_line(LAUNCHER, remote_script("echo no", None, "/nonexistent/dir"))
    assert status != 0 and b"nonexistent" in err


def test_pid_header_split_across_chunks_and_noise_before_it() -> None:
    header = PidHeader()
    stream = b"motd noise\n__RORUNNER_PID__=4242\nreal output\n"
    got = b"".join(header.feed(stream[i : i + 3]) for i in range(0, len(stream), 3))
    got += header.flush()
    assert header.pid == 4242
    assert got == b"motd noise\nreal output\n"


def test_pid_header_absent_passes_everything_through() -> None:
    header = PidHeader()
    assert header.feed(b"x" * 10) == b""
    assert header.flush() == b"x" * 10
    assert header.pid is None


def _split_kept_output(
    out: bytes, err: bytes, nonces: list[str]
) -> list[tuple[bytes, bytes, int | None]]:
    """Each command's (stdout, stderr, status), cut at its end marks."""
    results = []
    for nonce in nonces:
        out_end, err_end = EndOfOutput(nonce), EndOfOutput(nonce)
        results.append((out_end.feed(out), err_end.feed(err), out_end.status))
        assert out_end.done and err_end.done
        out, err = out_end.rest, err_end.rest
    assert (out, err) == (b"", b"")
    return results


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_kept_shell_runs_each_command_in_a_subshell_of_its_own(
    tmp_path: Path, shell: str
) -> None:
    """`cd`, `export`, traps and `exit` end with their command; stdin is empty for each; a
    signal death is 128+N; the statuses and streams are each command's; the shell itself
    ends only at EOF."""
    odd = tmp_path / "it's here"
    odd.mkdir()
    nasty = "a b'c\"$(touch pwned)`touch pwned2`;\n"
    scripts = [
        remote_script("cd /; export X=1; printf one; echo err >&2; exit 3", {"S": nasty}, None),
        remote_script(
            'printf "%s|%s|%s|%s" "$(pwd)" "${X-unset}" "$S" "$(cat)"', {"S": nasty}, str(odd)
        ),
        remote_script("trap 'echo trapped' EXIT; exit 5", None, None),
        remote_script("exec sh -c 'kill -KILL $$'", None, None),
        remote_script("echo last", None, None),
    ]
    nonces = [f"{n:02x}" for n in range(len(scripts))]
    stdin = KEPT_SETUP + b"".join(
        kept_line(script, nonce) for script, nonce in zip(scripts, nonces, strict=True)
    )
    done = subprocess.run(
        [shell, "-c", LAUNCHER], input=stdin, capture_output=True, timeout=30, check=False
    )
    header = PidHeader()
    out = header.feed(done.stdout) + header.flush()
    assert done.returncode == 0, done.stderr
    assert header.pid is not None
    assert _split_kept_output(out, done.stderr, nonces) == [
        (b"one", b"err\n", 3),
        (f"{odd}|unset|{nasty}|".encode(), b"", 0),
        (b"trapped\n", b"", 5),
        (b"", b"", 128 + 9),
        (b"last\n", b"", 0),
    ]
    assert not (odd / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_end_of_output_finds_its_mark_however_the_stream_is_cut() -> None:
    head = b"out\n__RORUNNER_END_ff 0\nno newline__RORUNNER_END_a 1\n__RORUNNER_EN"
    stream = head + b"__RORUNNER_END_ab 42\nlate"
    for size in range(1, len(stream) + 1):
        end, got = EndOfOutput("ab"), b""
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        while chunks and not end.done:
            got += end.feed(chunks.pop(0))
        assert (got, end.status, end.rest + b"".join(chunks)) == (head, 42, b"late"), size


def test_end_of_output_holds_back_only_what_may_begin_the_mark() -> None:
    end = EndOfOutput("ab")
    assert end.feed(b"a line\n") == b"a line\n"  # streamed whole, newline included
    assert end.feed(b"b_") == b"b"
    assert end.feed(b"_RORUNNER_E") == b""
    assert end.feed(b"X") == b"__RORUNNER_EX"
    assert end.feed(b"tail__RORUNNER_END_") == b"tail"
    assert end.flush() == b"__RORUNNER_END_"
    assert not end.done and end.status is None
    # once the mark is in, later chunks (a background writer's) are kept for the next command
    end = EndOfOutput("ab")
    assert end.feed(b"x__RORUNNER_END_ab 0\nafter") == b"x"
    assert (end.done, end.status, end.feed(b" more"), end.rest) == (True, 0, b"", b"after more")


def test_kill_group_command_kills_a_process_group() -> None:
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 60 & sleep 60; wait"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        status, _, _ = _run_line(kill_group_command(leader.pid))
        assert status == 0
        assert leader.wait(timeout=10) != 0
        with pytest.raises(ProcessLookupError):
            os.killpg(leader.pid, 0)
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(timeout=10)


# --- known_hosts --------------------------------------------------------------------------


def _key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


def _line(names: str, key: paramiko.PKey) -> str:
    return f"{names} {key.get_name()} {key.get_base64()}\n"


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = _key()
    pub = tmp_path / "k.pub"
    pub.write_text(_line("x", key).split(" ", 1)[1])
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.split()[1] == fingerprint(key)
    assert fingerprint(key).startswith("SHA256:") and not fingerprint(key).endswith("=")


def test_read_known_keys_matches_port_hashed_wildcard_negated_and_markers(tmp_path: Path) -> None:
    plain, on_port, hashed, wild, revoked = _key(), _key(), _key(), _key(), _key()
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "# comment\n\n"
        + _line("2001:db8::1,other", plain)
        + _line("[2001:db8::1]:2222", on_port)
        + _line(paramiko.HostKeys.hash_host("[2001:db8::9]:22"), hashed)
        + _line("2001:db8::*,!2001:db8::7", wild)
        + "@revoked "
        + _line("2001:db8::1", revoked)
        + "@cert-authority "
        + _line("*", _key())
        + "2001:db8::1 ssh-dss AAAAB3NzaC1kc3MAAACBAP\n"  # DSS: gone in paramiko 4+
        + "garbage line\n"
        + "2001:db8::1 ssh-ed25519 !!notbase64!!\n"
    )

    def keys(name: str) -> list[tuple[int, str, bool]]:
        return [(k.line, fingerprint(k.key), k.revoked) for k in read_known_keys(str(kh), name)]

    assert keys("2001:db8::1") == [
        (3, fingerprint(plain), False),
        (6, fingerprint(wild), False),
        (7, fingerprint(revoked), True),
    ]
    assert keys("[2001:db8::1]:2222") == [(4, fingerprint(on_port), False)]
    assert keys("[2001:db8::9]:22") == [(5, fingerprint(hashed), False)]
    assert keys("2001:db8::7") == []
    assert list(read_known_keys(str(tmp_path / "missing"), "x")) == []


def test_policy_strict_unknown_changed_and_revoked(tmp_path: Path) -> None:
    known, offered, revoked = _key(), _key(), _key()
    kh = tmp_path / "known_hosts"
    kh.write_text(_line("[::1]:2200", known) + "@revoked " + _line("[::1]:2201", revoked))
    client = paramiko.SSHClient()

    policy = KnownHostsPolicy("h1", (str(kh),), "strict", "[::1]:2200")
    policy.missing_host_key(client, "[::1]:2200", known)  # accepted silently
    with pytest.raises(HostKeyError, match="CHANGED") as changed:
        policy.missing_host_key(client, "[::1]:2200", offered)
    message = str(changed.value)
    assert message.startswith("h1: ")
    assert fingerprint(known) in message and fingerprint(offered) in message

    unknown = KnownHostsPolicy("h2", (str(kh),), "strict", "[::1]:2299")
    with pytest.raises(HostKeyError, match="unknown host key") as err:
        unknown.missing_host_key(client, "[::1]:2299", offered)
    assert str(err.value).startswith("h2: ") and fingerprint(offered) in str(err.value)

    accept = KnownHostsPolicy("h3", (str(kh),), "accept-new", "[::1]:2201")
    with pytest.raises(HostKeyError, match="revoked"):
        accept.missing_host_key(client, "[::1]:2201", revoked)


def test_policy_prefers_known_key_types(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    rsa_line = "h ssh-rsa " + paramiko.RSAKey.generate(1024).get_base64() + "\n"
    kh.write_text(_line("h", _key()) + rsa_line)
    policy = KnownHostsPolicy("h", (str(kh),), "strict", "h")
    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
    assert policy.preferred_key_types(offered) == [
        "ecdsa-sha2-nistp256",
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-ed25519",
    ]


def test_accept_new_appends_once_under_concurrency(tmp_path: Path) -> None:
    kh = tmp_path / "sub" / "known_hosts"
    kh.parent.mkdir()
    existing = "# keep me\n" + _line("other.example", _key()).rstrip("\n")  # no final newline
    kh.write_text(existing)
    key = _key()
    threads = [
        threading.Thread(target=append_known_host, args=(str(kh), "[::1]:2200", key))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    lines = kh.read_text().splitlines()
    assert lines[:2] == existing.splitlines()
    assert lines[2:] == [_line("[::1]:2200", key).rstrip("\n")]
    assert [p.name for p in kh.parent.iterdir() if "rorunner-tmp" in p.name] == []


def test_accept_new_appends_once_across_processes(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("# team\n")
    key = _key()
    code = (
        "import base64, sys, paramiko\n"
        "from rorunner.transport._ssh_hostkeys import append_known_host\n"
        "blob = base64.b64decode(sys.argv[3])\n"
        "key = paramiko.PKey.from_type_string(sys.argv[2], blob)\n"
        "append_known_host(sys.argv[1], '[2001:db8::1]:2222', key)\n"
    )
    argv = [sys.executable, "-c", code, str(kh), key.get_name(), key.get_base64()]
    procs = [subprocess.Popen(argv, cwd=REPO) for _ in range(6)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6
    assert kh.read_text() == "# team\n" + _line("[2001:db8::1]:2222", key)


def test_resolve_target_fills_gaps_from_ssh_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rorunner.transport._ssh_connect import resolve_target

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", "me")
    monkeypatch.setenv("LOGNAME", "me")
    key = tmp_path / "id_lab"
    key.write_text("not read here")
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host web1\n  HostName 2001:db8::10\n  Port 2201\n  User deploy\n"
        f"  IdentityFile {key}\n  IdentityFile {tmp_path}/missing\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {tmp_path}/kh_config\n"
        "Host *\n  User fallback\n"
    )
    target = resolve_target(
        ConnectionSpec(address="web1", ssh_config=str(config), known_hosts=("/p/kh",))
    )
    assert (target.hostname, target.port, target.user) == ("2001:db8::10", 2201, "deploy")
    assert target.key_files == (str(key),) and target.only_keys
    assert target.known_hosts == ("/p/kh", f"{tmp_path}/kh_config", f"{home}/.ssh/known_hosts")
    # What the spec sets wins; an IP literal is never renamed; defaults: port 22, the user.
    spec = ConnectionSpec(address="web1", port=2, user="u", key_file="~/k", ssh_config=str(config))
    target = resolve_target(spec)
    assert (target.port, target.user, target.key_files) == (2, "u", (f"{home}/k",))
    target = resolve_target(ConnectionSpec(address="fe80::1%lo", ssh_config=str(config)))
    assert (target.hostname, target.port, target.user) == ("fe80::1%lo", 22, "fallback")
    assert not target.only_keys and target.key_files == ()
    target = resolve_target(ConnectionSpec(address="2001:db8::1"))  # no ~/.ssh/config at all
    assert (target.port, target.user) == (22, "me")


# --- connecting without a server ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])


def test_no_listener_is_unreachable(tmp_path: Path) -> None:
    port = _free_port()
    spec = ConnectionSpec(address="::1", port=port, user="nobody", label="ghost", ssh_config=None)
    with pytest.raises(UnreachableError) as err:
        Pool().get(spec)
    assert not isinstance(err.value, HostKeyError)
    assert str(err.value).startswith("ghost: cannot connect to [::1]:")
    assert "refused" in str(err.value)


def test_link_local_scope_id_reaches_the_socket() -> None:
    """fe80::1%lo is resolved with its scope and connected as one address, never split."""
    spec = ConnectionSpec(address="fe80::1%lo", port=2222, user="x", label="ll")
    with pytest.raises(UnreachableError, match=r"^ll: cannot connect to \[fe80::1%lo\]:2222: "):
        Pool().get(spec)


class _MuteServer:
    """A TCP listener on ::1 that accepts, optionally sends `greeting`, then says nothing."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.listener.bind(("::1", 0))
        self.listener.listen(4)
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self.listener.accept()[0]
            except TimeoutError:
                continue
            conn.sendall(self.greeting)
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.listener.close()


def _fail_to_connect(server: _MuteServer, timeout: float) -> tuple[UnreachableError, float]:
    spec = ConnectionSpec(
        address="::1", port=server.port, user="nobody", label="mute", connect_timeout=timeout
    )
    started = time.monotonic()
    try:
        with pytest.raises(UnreachableError) as err:
            Pool().get(spec)
    finally:
        elapsed = time.monotonic() - started
        server.close()
    return err.value, elapsed


def test_silent_listener_fails_within_banner_timeout() -> None:
    """A port that accepts TCP and never speaks SSH fails with a clear message, in time."""
    server = _MuteServer()
    error, elapsed = _fail_to_connect(server, 2.0)
    assert str(error).startswith("mute: no SSH banner from [::1]:")
    assert "does not speak SSH" in str(error)
    assert len(server.accepted) == 1
    # A correctness bound, not a speed claim: it must not wait much beyond its banner timeout.
    assert elapsed < 2.0 + 3.0


def test_stalled_negotiation_times_out() -> None:
    """A server that sends its banner and then nothing: bounded by twice the connect timeout."""
    server = _MuteServer(b"SSH-2.0-OpenSSH_9.9 mute\r\n")
    error, elapsed = _fail_to_connect(server, 1.0)
    assert str(error).startswith("mute: SSH negotiation with [::1]:")
    assert "timed out after 2s" in str(error)
    assert elapsed < 2 * 1.0 + 3.0


def test_connect_timeout_when_nobody_answers_the_syn() -> None:
    """A listener whose accept queue is full drops SYNs: the TCP connect itself times out."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.bind(("::1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[socket.socket] = []
    try:
        for _ in range(2):  # the first fills the queue, the second shows SYNs are now dropped
            filler = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            filler.settimeout(0.5)
            fillers.append(filler)
            with contextlib.suppress(OSError):
                filler.connect(("::1", port))
        spec = ConnectionSpec(address="::1", port=port, user="x", label="syn", connect_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(
            UnreachableError, match=r"^syn: cannot connect to \[::1\]:\d+: timed out"
        ):
            Pool().get(spec)
        assert time.monotonic() - started < 1.0 + 3.0
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


def test_connection_failures_print_nothing() -> None:
    """paramiko's own error logging must not reach stderr: only the CLI prints."""
    code = (
        "import socket\n"
        "from rorunner.errors import UnreachableError\n"
        "from rorunner.model import ConnectionSpec\n"
        "from rorunner.transport import Pool\n"
        "mute = socket.socket(socket.AF_INET6)\n"
        "mute.bind(('::1', 0))\n"
        "mute.listen(1)\n"
        "spec = ConnectionSpec('::1', port=mute.getsockname()[1], user='x', connect_timeout=1)\n"
        "try:\n"
        "    Pool().get(spec)\n"
        "except UnreachableError:\n"
        "    pass\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, timeout=60, check=False, capture_output=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_missing_private_key_is_unreachable(tmp_path: Path) -> None:
    spec = ConnectionSpec(address="::1", port=_free_port(), key_file=str(tmp_path / "nope"))
    with pytest.raises(UnreachableError, match="private key file not found"):
        Pool().get(spec)


def test_missing_ssh_config_is_input_error(tmp_path: Path) -> None:
    spec = ConnectionSpec(address="::1", port=_free_port(), ssh_config=str(tmp_path / "nope"))
    with pytest.raises(InputError, match="ssh_config"):
        Pool().get(spec)


def test_default_pool_is_one_per_process() -> None:
    assert default_pool() is default_pool()
    assert isinstance(default_pool(), Pool)


# --- the local transport ------------------------------------------------------------------


@pytest.fixture
def local() -> LocalTransport:
    transport = Pool().get(ConnectionSpec(address="localhost", connection="local", label="me"))
    assert isinstance(transport, LocalTransport)
    return transport


def test_local_exec_status_env_cwd_and_streams(local: LocalTransport, tmp_path: Path) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    status = local.exec(
        'printf "%s|%s" "$V" "$(pwd)"; echo oops >&2; exit 5',
        env={"V": "a b'c"},
        cwd=str(tmp_path),
        stdout=out,
        stderr=err,
    )
    assert (status, out.getvalue(), err.getvalue()) == (5, f"a b'c|{tmp_path}".encode(), b"oops\n")
    assert local.exec("kill -TERM $$") == 128 + 15


def test_local_exec_large_output_both_streams(local: LocalTransport) -> None:
    class Counter(io.RawIOBase):
        def __init__(self) -> None:
            self.count = 0

        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            size = len(data)  # type: ignore[arg-type]
            self.count += size
            return size

    out, err = Counter(), Counter()
    command = "head -c 20000000 /dev/zero & head -c 5000000 /dev/zero >&2; wait"
    assert local.exec(command, stdout=out, stderr=err) == 0  # type: ignore[arg-type]
    assert (out.count, err.count) == (20_000_000, 5_000_000)


def test_local_exec_timeout_kills_the_group(local: LocalTransport, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    command = f"sleep 300 & echo $! > {pidfile}; sleep 300"
    with pytest.raises(RemoteFailure, match="timed out after 1s") as err:
        local.exec(command, timeout=1)
    assert str(err.value).startswith("me: ")
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_local_put_tree_follows_symlinks_and_refuses_loops(
    local: LocalTransport, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "inner.txt").write_text("inner")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "linked").symlink_to(outside)
    local.put(str(tree), str(tmp_path / "copy"))
    assert (tmp_path / "copy" / "linked" / "inner.txt").read_text() == "inner"
    assert not (tmp_path / "copy" / "linked").is_symlink()
    (outside / "back").symlink_to(tree)
    with pytest.raises(RemoteFailure, match="symlink loop"):
        local.put(str(tree), str(tmp_path / "copy2"))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


def test_local_files(local: LocalTransport, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o750)
    (tree / "sub" / "data").write_text("d")
    (tree / "sub" / "data").chmod(0o640)
    dest = tmp_path / "dest"
    local.put(str(tree), str(dest))
    assert (dest / "run.sh").stat().st_mode & 0o777 == 0o750
    assert (dest / "sub" / "data").stat().st_mode & 0o777 == 0o640
    local.put(str(tree / "run.sh"), str(dest / "copy.sh"), mode=0o700)
    assert (dest / "copy.sh").stat().st_mode & 0o777 == 0o700
    local.put_bytes(b"payload", str(dest / "p.bin"))
    assert (dest / "p.bin").read_bytes() == b"payload"
    assert (dest / "p.bin").stat().st_mode & 0o777 == 0o644
    local.get(str(dest / "p.bin"), str(tmp_path / "back" / "p.bin"))
    assert (tmp_path / "back" / "p.bin").read_bytes() == b"payload"
    private = local.ensure_dir(str(tmp_path / "a" / "b"))
    assert private == str(tmp_path / "a" / "b")
    assert Path(private).stat().st_mode & 0o777 == 0o700
    (tmp_path / "open").mkdir(mode=0o755)
    assert local.prepare_dir(str(tmp_path / "open")) == str(tmp_path / "open")
    assert (tmp_path / "open").stat().st_mode & 0o777 == 0o755  # existing: left alone
    fresh = local.prepare_dir(str(tmp_path / "c" / "d"))
    assert Path(fresh).stat().st_mode & 0o777 == 0o700
    assert not [p for p in tmp_path.rglob("*") if "rorunner-tmp" in p.name]
    with pytest.raises(RemoteFailure, match=r"^me: get .*missing"):
        local.get(str(tmp_path / "missing"), str(tmp_path / "x"))


def test_aead_ciphers_go_first_and_nothing_is_dropped() -> None:
    offered = ("aes128-ctr", "aes256-ctr", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com")
    assert prefer_ciphers(offered) == (
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-ctr",
        "aes256-ctr",
    )
    assert prefer_ciphers(("aes128-ctr", "aes192-ctr")) == ("aes128-ctr", "aes192-ctr")


def test_match_exec_in_ssh_config_runs_although_invoke_is_not_imported_up_front(
    tmp_path: Path,
) -> None:
    # paramiko runs `Match exec` through invoke; rorunner.transport keeps invoke out of a run
    # until a config has one (a fresh interpreter: this one may have imported it already).
    config = tmp_path / "ssh_config"
    config.write_text(
        'Match host web1 exec "test -e {flag}"\n  Port 2201\nHost *\n  Port 2202\n'.format(
            flag=tmp_path / "flag"
        )
    )
    code = (
        "import sys\n"
        "from rorunner.model import ConnectionSpec\n"
        "from rorunner.transport import Pool\n"
        "Pool().load_ssh()\n"
        "from rorunner.transport._ssh_connect import resolve_target\n"
        "assert 'invoke' not in sys.modules, 'invoke imported up front'\n"
        "print(resolve_target(ConnectionSpec(address='web1', ssh_config=sys.argv[1])).port)\n"
    )
    argv = [sys.executable, "-c", code, str(config)]
    run = functools.partial(subprocess.run, argv, cwd=REPO, capture_output=True, text=True)
    assert run(timeout=60).stdout.strip() == "2202"
    (tmp_path / "flag").touch()
    assert run(timeout=60).stdout.strip() == "2201"


def test_invoke_stays_importable_after_the_ssh_transport_is_loaded() -> None:
    # Held back only while paramiko is imported: a dodo.py may use Fabric (invoke) too.
    code = (
        "import sys\n"
        "from rorunner.transport import Pool\n"
        "Pool().load_ssh()\n"
        "assert 'paramiko' in sys.modules and 'invoke' not in sys.modules\n"
        "import invoke\n"
        "print(invoke.__name__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert run.stdout.strip() == "invoke", run.stderr


def test_paramiko_loads_without_importlib_metadata_which_stays_importable() -> None:
    # paramiko reads its own version through it; the stand-in answers from its METADATA.
    code = (
        "import sys\n"
        "from rorunner.transport import Pool\n"
        "Pool().load_ssh()\n"
        "import paramiko\n"
        "assert 'importlib.metadata' not in sys.modules and 'email' not in sys.modules\n"
        "from importlib import metadata\n"
        "assert metadata.version('paramiko') == paramiko.__version__\n"
        "print(paramiko.__version__, callable(metadata.entry_points))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    real = "from importlib import metadata; print(metadata.version('paramiko'))"
    version = subprocess.run(
        [sys.executable, "-c", real],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert run.stdout.split() == [version, "True"], run.stderr


def test_paramiko_loads_with_importlib_metadata_imported_before() -> None:
    code = (
        "import sys\n"
        "from importlib import metadata\n"
        "from rorunner.transport import Pool\n"
        "Pool().load_ssh()\n"
        "import paramiko\n"
        "assert sys.modules['importlib.metadata'] is metadata\n"
        "print(paramiko.__version__ == metadata.version('paramiko'))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert run.stdout.strip() == "True", run.stderr


def test_importing_from_importlib_metadata_while_paramiko_loads_gets_the_real_module() -> None:
    # Another thread's `from importlib.metadata import X` in the window paramiko loads in.
    code = (
        "import sys\n"
        "from rorunner.transport._ssh_paramiko import _METADATA, _VersionOnly\n"
        "sys.modules[_METADATA] = _VersionOnly(_METADATA)\n"
        "from importlib.metadata import entry_points, version\n"
        "from importlib import metadata\n"
        "assert not isinstance(sys.modules[_METADATA], _VersionOnly)\n"
        "assert entry_points is metadata.entry_points\n"
        "assert version('paramiko') == metadata.version('paramiko')\n"
        "print('real')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert run.stdout.strip() == "real", run.stderr


class _GoneBastionChannel:
    """A tunnel channel whose bastion connection was closed first: close cannot send."""

    def __init__(self) -> None:
        self.closes = 0

    def recv(self, size: int) -> bytes:
        return b"x" * min(size, 1)

    def close(self) -> None:
        self.closes += 1
        raise EOFError


def test_a_tunnel_socket_closes_quietly_when_its_bastion_is_already_gone() -> None:
    # paramiko closes a session's socket in its own thread; an EOFError there (the pool
    # closed the bastion first) was an unhandled thread exception, not this session's failure.
    from rorunner.transport._ssh_route import _TunnelSocket

    channel = _GoneBastionChannel()
    sock = _TunnelSocket(channel)  # type: ignore[arg-type]
    assert sock.recv(5) == b"x"  # everything else is the channel's
    sock.close()
    assert channel.closes == 1
    with pytest.raises(EOFError):
        channel.close()


def test_accept_new_refuses_a_key_another_run_recorded_otherwise_meanwhile(tmp_path: Path) -> None:
    # Two runs find the host unknown; the first records its key: the second, offered
    # another one, must see a changed key, not add a second line that would be trusted.
    first, other = _key(), _key()
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    client = paramiko.SSHClient()
    late = KnownHostsPolicy("h1", (str(kh),), "accept-new", "[::1]:2200")
    early = KnownHostsPolicy("h1", (str(kh),), "accept-new", "[::1]:2200")
    early.missing_host_key(client, "[::1]:2200", first)
    with pytest.raises(HostKeyError, match="CHANGED"):
        late.missing_host_key(client, "[::1]:2200", other)
    late.missing_host_key(client, "[::1]:2200", first)  # the recorded key is accepted
    assert [k.line for k in read_known_keys(str(kh), "[::1]:2200")] == [1]
