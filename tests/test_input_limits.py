"""Input limits through `rorunner play` / `inventory`: size caps checked before parsing, and
NUL, control characters and invalid UTF-8 named by line and column in every file, INI and
YAML alike, comments included. Each case is exit 3, `file:line: message`, nothing created.

The hosts use `ansible_connection=local`, so a file let through would really run here and leave
.rorunner/ and fetched/ behind (tests/test_bad_input_lab.py repeats the cases on the lab).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rorunner.safe_yaml import _NOT_PRINTABLE, TEXT_LIMIT, YAML_LIMIT
from tests.inventory_helpers import run_cli
from tests.projects import write_project

SITE = "- name: site\n  hosts: all\n  roles: [r]\n  rtas:\n    - name: u\n      fetch: [got.txt]\n"
ROLE = "vars:\n  colour: blue\n"
INI = "[web]\nl1 ansible_connection=local\n"
YAML_INVENTORY = "web:\n  hosts:\n    l1:\n      ansible_connection: local\n"
GROUP_VARS = "colour: red\n"
EXTRA = "size: 3\n"
GOOD: dict[str, str] = {
    "site.yml": SITE,
    "roles/r/role.yml": ROLE,
    "roles/r/remote/10-run.sh": "echo x > got.txt\n",
    "hosts.ini": INI,
    "hosts.yml": YAML_INVENTORY,
    "group_vars/web.yml": GROUP_VARS,
    "extra.yml": EXTRA,
}
INVENTORIES = ("hosts.ini", "hosts.yml", "hosts")  # "hosts": no extension, sniffed


def _play(root: Path, inventory: str = "hosts.ini") -> list[str]:
    return ["play", str(root / "site.yml"), "-i", str(root / inventory), "-e", f"@{root}/extra.yml"]


def _project(root: Path, name: str, content: bytes) -> Path:
    write_project(root, GOOD)
    (root / "remote").mkdir()
    (root / name).write_bytes(content)
    return root


def _made(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".rorunner", root / "fetched") if p.exists())


def _refused(root: Path, argv: list[str], where: str, fragment: str) -> None:
    """Exit 3, the error at `where` (relative to `root` unless it starts with '<'), nothing
    printed on stdout, nothing created."""
    result = run_cli(*argv)
    assert result.code == 3, result
    place = where if where.startswith("<") else root / where
    assert result.err.startswith(f"rorunner: error: {place}: "), result.err
    assert fragment in result.err, result.err
    assert result.out == ""
    assert _made(root) == []


def test_the_good_project_runs_and_leaves_its_traces(tmp_path: Path) -> None:
    """The baseline: unbroken, each inventory form runs the project and creates its state."""
    for inventory in INVENTORIES:
        root = _project(tmp_path / inventory, "hosts", YAML_INVENTORY.encode())
        result = run_cli(*_play(root, inventory))
        assert result.code == 0, result
        assert (root / "fetched" / "l1" / "got.txt").read_text() == "x\n"
        assert _made(root) == [".rorunner", "fetched"]


# file -> its good text
FILES: dict[str, str] = {
    "site.yml": SITE,
    "roles/r/role.yml": ROLE,
    "hosts.ini": INI,
    "hosts.yml": YAML_INVENTORY,
    "group_vars/web.yml": GROUP_VARS,
    "extra.yml": EXTRA,
}
# problem -> (text inserted as a new line 2, message fragment with the column)
PROBLEMS: dict[str, tuple[bytes, str]] = {
    "NUL in a comment": (b"# a\x00b", "control character U+0000 (NUL) at column 4"),
    "NUL after multi-byte text": ("# é€😀\x00".encode(), "U+0000 (NUL) at column 6"),
    "escape in a comment": (b"#\x1b[31m red", "control character U+001B (ESC) at column 2"),
    "DEL in a comment": (b"#  \x7f", "control character U+007F (DEL) at column 4"),
    "invalid UTF-8 in a comment": (b"# caf\xe9", "not valid UTF-8: byte 0xe9 at column 6"),
    "truncated UTF-8 in a comment": (b"# \xc3", "not valid UTF-8: byte 0xc3 at column 3"),
}


def _with_line_2(good: str, inserted: bytes, crlf: bool) -> bytes:
    first, rest = good.encode().split(b"\n", 1)
    data = first + b"\n" + inserted + b"\n" + rest
    return data.replace(b"\n", b"\r\n") if crlf else data


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("name", sorted(FILES))
def test_bad_text_is_named_by_line_and_column_in_every_file(
    tmp_path: Path, name: str, problem: str, crlf: bool
) -> None:
    inserted, fragment = PROBLEMS[problem]
    root = _project(tmp_path, name, _with_line_2(FILES[name], inserted, crlf))
    inventory = "hosts.yml" if name == "hosts.yml" else "hosts.ini"
    _refused(root, _play(root, inventory), f"{name}:2", fragment)


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        (
            "hosts.ini",
            b"[web]\nl1 ansible_connection=local m=a\x00b\n",
            2,
            "U+0000 (NUL) at column 32",
        ),
        ("hosts.ini", b"[web]\nl1 ansible_connection=local\n[web:vars]\nx=\x01\n", 4, "U+0001"),
        ("site.yml", SITE.replace("site", "s\x00te", 1).encode(), 1, "U+0000 (NUL) at column 10"),
        ("site.yml", SITE.replace("site", "s\u0080te", 1).encode(), 1, "U+0080 at column 10"),
        ("extra.yml", b"size: '\xef\xbf\xbe'\n", 1, "U+FFFE at column 8"),
    ],
    ids=["ini-host-var", "ini-group-var", "yaml-value", "yaml-c1-control", "yaml-fffe"],
)
def test_control_characters_in_values(
    tmp_path: Path, name: str, text: bytes, line: int, fragment: str
) -> None:
    root = _project(tmp_path, name, text)
    _refused(root, _play(root), f"{name}:{line}", fragment)


def _yaml_printable(code: int) -> bool:
    """YAML 1.2's printable set (c-printable), as its spec writes it."""
    return (
        code in (0x09, 0x0A, 0x0D, 0x85)
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def test_exactly_the_characters_outside_yamls_printable_set_are_refused() -> None:
    # check_text looks for the complement of the set (cheaper to compile): every code point
    refused = [code for code in range(0x110000) if not _yaml_printable(code)]
    text = "".join(map(chr, range(0x110000)))
    found = [ord(m.group()) for m in _NOT_PRINTABLE.finditer(text)]
    assert found == refused
    assert 0 in found and 0x7F in found and 0xFFFE in found and 0x85 not in found


def test_inline_extra_vars_are_checked_like_files(tmp_path: Path) -> None:
    root = _project(tmp_path, "extra.yml", EXTRA.encode())
    _refused(root, [*_play(root), "-e", '{"a": 1,\n "b": "x\x07"}'], "<-e #2>:2", "U+0007")


def test_a_bom_is_allowed_at_the_start_only_and_lines_still_count(tmp_path: Path) -> None:
    root = _project(tmp_path, "site.yml", b"\xef\xbb\xbf" + SITE.encode())
    assert run_cli(*_play(root)).code == 0
    root = _project(tmp_path / "ini", "hosts.ini", b"\xef\xbb\xbf# c\n\xff\n")
    _refused(root, _play(root), "hosts.ini:2", "not valid UTF-8: byte 0xff at column 1")


# file -> the limit that applies to it
LIMITS = {
    "site.yml": YAML_LIMIT,
    "roles/r/role.yml": YAML_LIMIT,
    "group_vars/web.yml": YAML_LIMIT,
    "extra.yml": YAML_LIMIT,
    "hosts.yml": YAML_LIMIT,
    "hosts.ini": TEXT_LIMIT,
    "hosts": TEXT_LIMIT,
}


def _padded(first_line: bytes, size: int) -> bytes:
    """`first_line`, then comment lines up to exactly `size` bytes."""
    data = bytearray(first_line + b"\n")
    while len(data) < size:
        data += b"#" + b"x" * min(99, max(0, size - len(data) - 2)) + b"\n"
    return bytes(data[: size - 1]) + b"\n"


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_an_oversize_file_is_refused_before_it_is_parsed(tmp_path: Path, name: str) -> None:
    """The first line is a syntax error in both formats: refusing it by size proves that
    nothing was parsed. The message gives the file's size and the limit."""
    limit = LIMITS[name].max_bytes
    root = _project(tmp_path, name, _padded(b"[broken: {", limit + 1))
    inventory = name if name in INVENTORIES else "hosts.ini"
    _refused(root, _play(root, inventory), name, f"file is too large: {LIMIT_TEXT[limit]}")


LIMIT_TEXT = {
    YAML_LIMIT.max_bytes: "512 KiB (524289 bytes); YAML files (playbooks, role.yml, vars files, "
    "YAML inventories) are limited to 512 KiB (524288 bytes)",
    TEXT_LIMIT.max_bytes: "8 MiB (8388609 bytes); INI inventories and pattern files are "
    "limited to 8 MiB (8388608 bytes)",
}


def test_a_nine_mib_playbook_and_inventory_are_refused(tmp_path: Path) -> None:
    """The sizes of the report: such a playbook used to parse for 30 s; the INI was read."""
    nine = 9 * 1024 * 1024
    root = _project(tmp_path, "site.yml", _padded(SITE.rstrip("\n").encode(), nine))
    _refused(root, _play(root), "site.yml", "file is too large: 9 MiB (9437184 bytes); YAML files")
    root = _project(tmp_path / "ini", "hosts.ini", _padded(INI.rstrip("\n").encode(), nine))
    _refused(root, _play(root), "hosts.ini", "file is too large: 9 MiB (9437184 bytes); INI")


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_a_file_at_the_limit_is_read(tmp_path: Path, name: str) -> None:
    """An extensionless file beyond the YAML limit is read as INI, never tried as YAML."""
    limit = LIMITS[name].max_bytes
    good = GOOD.get(name, INI)
    root = _project(tmp_path, name, _padded(good.rstrip("\n").encode(), limit))
    inventory = name if name in INVENTORIES else "hosts.ini"
    assert (root / name).stat().st_size == limit
    result = run_cli(*_play(root, inventory))
    assert result.code == 0, result


def test_100k_hosts_one_per_line_fit_in_an_ini_inventory(tmp_path: Path) -> None:
    """The planned scale, written out host by host: `ansible_connection=local` lines."""
    path = tmp_path / "hosts.ini"
    path.write_text("".join(f"h{i:06d} ansible_connection=local\n" for i in range(100_000)))
    assert path.stat().st_size < TEXT_LIMIT.max_bytes / 2
    result = run_cli("inventory", "-i", str(path), "--host", "h099999")
    assert result.code == 0, result
    assert '"ansible_connection": "local"' in result.out


def test_a_densely_written_yaml_file_is_refused_by_its_node_count(tmp_path: Path) -> None:
    """Within the size limit, YAML costs per node: 100,000 of them is the cap (a flow list of
    1s reaches it in 200 KB); typical files at the size limit hold under 50,000."""
    path = tmp_path / "hosts.yml"
    argv = ("inventory", "-i", str(path), "--list")
    head = "web:\n  hosts:\n    l1:\n      big: ["  # 9 nodes before the list's items
    path.write_text(head + ",".join(["1"] * (100_000 - 9)) + "]\n")
    assert path.stat().st_size < YAML_LIMIT.max_bytes
    assert run_cli(*argv).code == 0
    path.write_text(head + ",".join(["1"] * (100_000 - 8)) + "]\n")
    _refused(tmp_path, list(argv), "hosts.yml:4", "more than 100000 YAML nodes")


def test_a_pattern_file_has_the_ini_limit(tmp_path: Path) -> None:
    root = _project(tmp_path, "hosts.ini", INI.encode())
    (root / "limit.txt").write_bytes(_padded(b"l1", TEXT_LIMIT.max_bytes + 1))
    argv = ["inventory", "-i", str(root / "hosts.ini"), "--list", "--limit", f"@{root}/limit.txt"]
    result = run_cli(*argv)
    assert result.code == 3, result
    assert f"{root}/limit.txt: file is too large: 8 MiB (8388609 bytes); INI" in result.err
    (root / "limit.txt").write_bytes(_padded(b"l1", TEXT_LIMIT.max_bytes))
    assert '"l1"' in run_cli(*argv).out
