"""Every bad-input case of the inventory: `file:line: message` on stderr, exit 3, nothing run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inventory_helpers import run_cli

# (case id, file name, content, expected line (or every line involved, first shown first),
#  message fragment)
CASES: list[tuple[str, str, str | bytes, int | tuple[int, ...], str]] = [
    ("unclosed-section", "h.ini", "a\n[web\nw1\n", 2, "unclosed section header '[web'"),
    ("bad-section-spaces", "h.ini", "[web servers]\n", 1, "invalid section header"),
    ("section-trailing-junk", "h.ini", "[web]\nw1\n[web:vars] x=1\n", 3, "invalid section header"),
    ("unknown-section-type", "h.ini", "[web]\nw1\n[web:hostz]\n", 3, "unknown type 'hostz'"),
    ("vars-without-equals", "h.ini", "[web]\nw1\n[web:vars]\nport 80\n", 4, "expected key=value"),
    ("host-var-without-equals", "h.ini", "[web]\nw1 debug\n", 2, "expected key=value"),
    (
        "children-undefined",
        "h.ini",
        "[web:children]\napp\n[db]\nd1\n",
        2,
        "[web:children] names undefined group 'app'",
    ),
    (
        "vars-undefined-group",
        "h.ini",
        "[ghost:vars]\nx=1\n",
        1,
        "[ghost:vars] names undefined group 'ghost'",
    ),
    ("port-zero", "h.ini", "[web]\nw1:0\n", 2, "bad port 0"),
    ("port-too-big", "h.ini", "[web]\nw1\nw2:70000\n", 3, "bad port 70000"),
    ("port-not-number", "h.ini", "w1:ssh\n", 1, "bad port 'ssh'"),
    ("port-empty", "h.ini", "w1:\n", 1, "bad port ''"),
    ("port-v6-bad", "h.ini", "[2001:db8::1]:x\n", 1, "bad port 'x'"),
    ("port-var-bad", "h.ini", "[web]\nw1\n[web:vars]\nansible_port=abc\n", 4, "bad port 'abc'"),
    ("ipv6-bad-hex", "h.ini", "[v6]\n2001:db8::g\n", 2, "invalid IPv6 address '2001:db8::g'"),
    ("ipv6-nine-groups", "h.ini", "1:2:3:4:5:6:7:8:9\n", 1, "invalid IPv6 address"),
    ("ipv6-triple-colon", "h.ini", "\n\n:::\n", 3, "invalid IPv6 address ':::'"),
    (
        "ipv6-bad-ansible-host",
        "h.ini",
        "h1 ansible_host=2001:db8::zz\n",
        1,
        "ansible_host of 'h1': invalid IPv6 address",
    ),
    ("ipv4-bad", "h.ini", "300.1.2.3\n", 1, "invalid IPv4 address '300.1.2.3'"),
    ("scope-id-shell", "h.ini", "[v6]\nfe80::1%$(id)\n", 2, "bad scope id '$(id)'"),
    ("scope-id-long", "h.ini", "fe80::1%abcdefghijklmnopq\n", 1, "bad scope id"),
    ("range-descending", "h.ini", "[web]\nweb[5:1]\n", 2, "host range [5:1] is descending"),
    ("range-zero-step", "h.ini", "[web]\nweb[1:5:0]\n", 2, "positive integer step"),
    ("range-alpha-descending", "h.ini", "h[z:a]\n", 1, "is descending"),
    ("range-mixed", "h.ini", "h[1:z]\n", 1, "must be numeric (decimal) or single letters"),
    ("range-cap", "h.ini", "h[0:70000]\n", 1, "expands past 65536 hosts"),
    ("range-cap-product", "h.ini", "a[0:300]b[0:300]\n", 1, "more than 65536"),
    ("range-padding", "h.ini", "h[01:100]\n", 1, "same width"),
    ("range-unbalanced", "h.ini", "h[1:3\n", 1, "unbalanced"),
    (
        "cycle-ini",
        "h.ini",
        "[a:children]\nb\n[b:children]\nc\n[c:children]\na\n",
        (2, 4, 6),
        "group cycle: a -> b -> c -> a",
    ),
    ("cycle-self", "h.ini", "[a]\nx\n[a:children]\na\n", 4, "group cycle: a -> a"),
    (
        "cycle-ini-children-first",
        "h.ini",
        "[top:children]\nmid\n[mid:children]\nleaf\n[leaf:children]\nmid\n[mid]\n",
        (4, 6),
        "group cycle: mid -> leaf -> mid",
    ),
    ("host-shell-meta", "h.ini", "[web]\nweb1;reboot\n", 2, "characters ';'"),
    ("host-subshell", "h.ini", "$(id)\n", 1, "characters '$()'"),
    ("host-leading-dash", "h.ini", "[web]\n-oProxyCommand=x\n", 2, "must not start with '-'"),
    ("host-backtick", "h.yml", "g:\n  hosts:\n    'a`id`':\n", 3, "characters '`'"),
    ("group-bad-name", "h.ini", "[we$b]\nw1\n", 1, "group name 'we$b' is not allowed"),
    ("ini-yaml-marker", "h.ini", "---\n", 1, "'---' is not a host name"),
    ("ini-unbalanced-quote", "h.ini", "h1 a='x\n", 1, "cannot parse host line"),
    (
        "duplicate-address",
        "h.ini",
        "[a]\nh1 ansible_host=2001:db8::1\n[b]\nh2 ansible_host=2001:DB8:0::1\n",
        (4, 2),
        "same address 2001:db8::1 port 22",
    ),
    (
        "connection-unsupported",
        "h.ini",
        "[g]\nh1\n[g:vars]\nansible_connection=winrm\n",
        4,
        "ansible_connection 'winrm' is not supported",
    ),
    (
        "priority-not-int",
        "h.ini",
        "[g]\nh1\n[g:vars]\nansible_group_priority=high\n",
        4,
        "ansible_group_priority must be an integer",
    ),
    (
        "yaml-duplicate-key",
        "h.yml",
        "web:\n  hosts:\n    w1:\n    w1:\n",
        (4, 3),
        "duplicate key 'w1'",
    ),
    (
        "yaml-duplicate-key-flow",
        "h.yml",
        "web:\n  hosts:\n    w1: {a: 1,\n      b: 2, a: 3}\n",
        (4, 3),
        "duplicate key 'a'",
    ),
    ("ini-duplicate-host-var", "h.ini", "[web]\nh1 x=1 y=2 x=3\n", 2, "'x=1' and 'x=3'"),
    (
        "ini-duplicate-group-var",
        "h.ini",
        "[web]\nh1\n[web:vars]\nx=1\ny=2\nx = 3\n",
        (6, 4),
        "variable 'x' is set twice in [web:vars]",
    ),
    (
        "ini-children-undefined-twice",
        "h.ini",
        "[a:children]\nghost\n[b:children]\nghost\n",
        (2, 4),
        "[a:children] names undefined group 'ghost'",
    ),
    (
        "yaml-tag",
        "h.yml",
        "web:\n  vars:\n    x: !!python/object/apply:os.system [id]\n",
        3,
        "YAML tags are not allowed",
    ),
    (
        "yaml-custom-tag",
        "h.yml",
        "web:\n  vars:\n    x: !unsafe abc\n",
        3,
        "YAML tags are not allowed",
    ),
    (
        "yaml-vault-not-vault-data",
        "h.yml",
        "web:\n  vars:\n    x: !vault abc\n",
        3,
        "not vault data",
    ),
    (
        "yaml-alias-bomb",
        "h.yml",
        "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
        7,
        "alias bomb",
    ),
    ("yaml-tab", "h.yml", "web:\n  hosts:\n\tw1:\n", 3, "tab character"),
    ("yaml-syntax", "h.yml", "web:\n  hosts: [w1\n", 3, "invalid YAML"),
    ("yaml-two-documents", "h.yml", "a:\n---\nb:\n", 2, "only one YAML document"),
    ("yaml-top-level-list", "h.yml", "- web\n- db\n", 1, "must be a mapping of group names"),
    ("yaml-group-is-list", "h.yml", "web:\n  - w1\n", 1, "group 'web' must be a mapping"),
    (
        "yaml-hosts-is-list",
        "h.yml",
        "web:\n  hosts:\n    - w1\n",
        2,
        "'hosts' of group 'web' must be a mapping",
    ),
    (
        "yaml-vars-is-list",
        "h.yml",
        "web:\n  vars: [1]\n",
        2,
        "'vars' of group 'web' must be a mapping",
    ),
    (
        "yaml-host-vars-scalar",
        "h.yml",
        "web:\n  hosts:\n    w1: 5\n",
        3,
        "vars of host 'w1' must be a mapping",
    ),
    ("yaml-host-not-string", "h.yml", "web:\n  hosts:\n    12: {}\n", 3, "must be a string"),
    ("yaml-unknown-key", "h.yml", "web:\n  host:\n    w1:\n", 2, "did you mean 'hosts'?"),
    (
        "yaml-unknown-key-child",
        "h.yml",
        "web:\n  childs:\n    db:\n",
        2,
        "did you mean 'children'?",
    ),
    ("yaml-plugin-config", "h.yml", "plugin: aws_ec2\n", 1, "plugin configuration"),
    (
        "yaml-cycle",
        "h.yml",
        "a:\n  children:\n    b:\n      children:\n        a:\n",
        (3, 5),
        "group cycle: a -> b -> a",
    ),
    ("non-utf8-ini", "h.ini", b"[web]\nw1\nw\xff2\n", 3, "not valid UTF-8"),
    ("non-utf8-yaml", "h.yml", b"web:\n  hosts:\n    w\xe91:\n", 3, "not valid UTF-8"),
]


@pytest.mark.parametrize(
    ("name", "content", "lines", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_inventory_is_input_error(
    tmp_path: Path, name: str, content: str | bytes, lines: int | tuple[int, ...], fragment: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = run_cli("inventory", "-i", str(path), "--list")
    assert result.code == 3, result
    first, *others = lines if isinstance(lines, tuple) else (lines,)
    assert result.err.startswith(f"rorunner: error: {path}:{first}: "), result.err
    also = f" (also at {', '.join(f'{path}:{line}' for line in others)})\n" if others else "\n"
    assert result.err.endswith(also), result.err
    assert fragment in result.err, result.err
    assert result.out == ""


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ini"
    result = run_cli("inventory", "-i", str(missing), "--list")
    assert result.code == 3
    assert f"{missing}: inventory path does not exist" in result.err


def test_bad_inventory_contacts_nothing(tmp_path: Path) -> None:
    """`run` with a bad inventory fails before any connection: the command never runs."""
    marker = tmp_path / "ran"
    path = tmp_path / "h.ini"
    path.write_text("local1 ansible_connection=local\nbad;host\n")
    result = run_cli("run", "all", "-i", str(path), "-a", f"touch {marker}")
    assert result.code == 3
    assert f"{path}:2: " in result.err
    assert not marker.exists()


def test_inventory_script_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "inv.py"
    script.write_text("#!/bin/sh\necho '{}'\n")
    script.chmod(0o755)
    result = run_cli("inventory", "-i", str(script), "--list")
    assert result.code == 3
    assert f"{script}:1: dynamic inventory scripts are not supported" in result.err


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "h.ini"
    path.write_text("h1\n")
    real_open = open

    def deny(file: object, *args: object, **kwargs: object) -> object:
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    result = run_cli("inventory", "-i", str(path), "--list")
    assert result.code == 3
    assert f"{path}: cannot read: Permission denied" in result.err


def test_empty_inventory_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "empty.ini"
    path.write_text("# nothing here\n")
    result = run_cli("inventory", "-i", str(path), "--list")
    assert result.code == 0
    assert "warning: the inventory has no hosts" in result.err
    assert '"hostvars": {}' in result.out


def test_empty_yaml_inventory_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("")
    result = run_cli("run", "all", "-i", str(path), "-a", "true")
    assert result.code == 0
    assert "no hosts matched" in result.err
