"""group_vars/ and host_vars/: bad files are `file:line` errors (exit 3); Ansible's skips hold.

Output equality with ansible-inventory is checked by the differential corpus
(tests/inventories/diff/34_vars_dirs_* .. 38_vars_dirs_*, in test_inventory_diff.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rorunner.inventory import load_inventory
from tests.inventory_helpers import run_cli

INVENTORY = "[web]\nw1\n[web:vars]\nx=inline\n"

# (case id, file under the inventory's directory, content, expected line, message fragment)
BAD_FILES: list[tuple[str, str, str | bytes, int, str]] = [
    ("syntax", "group_vars/web.yml", "a: 1\nb: [unclosed\n", 3, "invalid YAML"),
    ("duplicate-key", "group_vars/web.yml", "a: 1\nb: 2\na: 3\n", 3, "duplicate key"),
    ("top-level-list", "group_vars/web.yml", "# vars\n- a\n- b\n", 2, "got a list"),
    ("top-level-scalar", "host_vars/w1.yml", "just text\n", 1, "got a string 'just text'"),
    ("key-not-string", "host_vars/w1", "a: 1\n2: two\n", 2, "variable name must be a string"),
    ("tag", "group_vars/all.yaml", "a: 1\nb: !unsafe x\n", 2, "YAML tags are not allowed"),
    ("tab", "group_vars/web/10.yml", "a:\n\tb: 1\n", 2, "tab character"),
    ("non-utf8", "host_vars/w1.json", b'{"a": 1,\n "b": "caf\xe9"}\n', 2, "not valid UTF-8"),
    ("vault", "group_vars/web", "$ANSIBLE_VAULT;1.1;AES256\n3530\n", 1, "malformed vault data"),
    ("two-documents", "group_vars/web.yml", "a: 1\n---\nb: 2\n", 2, "one YAML document"),
    ("bad-port", "host_vars/w1.yml", "a: 1\nansible_port: ssh\n", 2, "bad port 'ssh'"),
    (
        "bad-connection",
        "group_vars/web/sub/20",
        "ansible_connection: winrm\n",
        1,
        "ansible_connection 'winrm' is not supported",
    ),
    (
        "bad-ansible-host",
        "group_vars/all.yml",
        "\nansible_host: 2001:db8::zz\n",
        2,
        "invalid IPv6 address",
    ),
]


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


@pytest.mark.parametrize(
    ("relative", "content", "line", "fragment"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_vars_file_is_input_error(
    tmp_path: Path, relative: str, content: str | bytes, line: int, fragment: str
) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY)
    _write(tmp_path / relative, content)
    for source in (inventory, tmp_path):  # beside a file, and inside a directory source
        result = run_cli("inventory", "-i", str(source), "--list")
        assert result.code == 3, result
        assert f"{tmp_path / relative}:{line}: " in result.err, result.err
        assert fragment in result.err, result.err
        assert result.out == ""


def test_files_ansible_never_reads_are_not_read(tmp_path: Path) -> None:
    """Unknown groups/hosts, skipped names and shadowed candidates may hold anything."""
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY)
    broken = "a: [unclosed\n"
    for relative in (
        "group_vars/nosuch.yml",  # no such group
        "host_vars/w9.yml",  # no such host
        "group_vars/web.yml",  # group_vars/web/ comes first
        "group_vars/web/.hidden.yml",
        "group_vars/web/backup.yml~",
        "group_vars/web/notes.txt",
        "group_vars/web/upper.YML",
        "group_vars/web/skip.d/x.yml",
    ):
        _write(tmp_path / relative, broken)
    _write(tmp_path / "group_vars/web/10.yml", "x: from_dir\n")
    inv = load_inventory(str(inventory))
    assert inv.hosts["w1"].vars == {"x": "from_dir"}


def test_vars_dir_that_is_a_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY)
    (tmp_path / "group_vars").write_text("x: 1\n")
    result = run_cli("inventory", "-i", str(inventory), "--host", "w1")
    assert result.code == 0, result
    assert f"{tmp_path / 'group_vars'} is not a directory, skipped" in result.err
    assert '"x": "inline"' in result.out


def test_host_list_sources_have_no_vars_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "host_vars/w1.yml", "x: 1\n")
    assert load_inventory("w1,w2").hosts["w1"].vars == {}


def test_vars_files_set_connection_fields_and_group_vars(tmp_path: Path) -> None:
    """Connection fields come from the final vars; errors and Group.vars know the files."""
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY + "[web:vars]\nansible_user=inline\n")
    _write(tmp_path / "group_vars/web.yml", "ansible_user: deploy\nansible_port: 2222\n")
    _write(tmp_path / "host_vars/w1.yml", "ansible_host: 2001:DB8::7\n")
    inv = load_inventory(str(inventory))
    host = inv.hosts["w1"]
    assert (host.address, host.port, host.user) == ("2001:db8::7", 2222, "deploy")
    assert dict(inv.groups["web"].vars) == {
        "x": "inline",
        "ansible_user": "deploy",
        "ansible_port": 2222,
    }


def test_ansible_agrees_on_what_is_refused_and_what_is_never_read(tmp_path: Path) -> None:
    """ansible-inventory also fails on a broken or non-mapping vars file, and also never
    reads the files `test_files_ansible_never_reads_are_not_read` plants."""
    from tests.test_inventory_diff import _run_oracle

    refused = [case for case in BAD_FILES if case[0] in ("syntax", "top-level-list", "tab")]
    sources = []
    for name, relative, content, _, _ in refused:
        (tmp_path / name).mkdir()
        (tmp_path / name / "hosts.ini").write_text(INVENTORY)
        _write(tmp_path / name / relative, content)
        sources.append(tmp_path / name / "hosts.ini")
    quiet = tmp_path / "never-read"
    quiet.mkdir()
    test_files_ansible_never_reads_are_not_read(quiet)
    jobs = [["--host", "w1", "-i", str(source)] for source in [*sources, quiet / "hosts.ini"]]
    results = _run_oracle(jobs, tmp_path / "home", check=False)
    assert [r["rc"] != 0 for r in results] == [True] * len(refused) + [False]
    assert results[-1]["out"] == run_cli("inventory", "-i", str(quiet), "--host", "w1").out
