"""Finding a host's known_hosts lines without parsing every line: the text's lines by number,
the first fields' names, patterns filed by their literal ends; and a look-up on a long file
tests only the patterns that could match the name."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from rorunner.transport import _ssh_hostkeys
from rorunner.transport._ssh_hostkeys import KnownHostsIndex
from rorunner.transport._ssh_kh_lines import (
    AnchoredPatterns,
    TextLines,
    first_fields,
    lines_of,
    merge_fields,
)


@pytest.mark.parametrize(
    "text",
    ["", "a\n", "a", "a\nb\n", "a\r\nb\r\n", "\n\nx\n", "a\x0cb\nc\x85d\n", "one\ntwo"],
)
def test_lines_are_split_at_newlines_only_as_openssh_reads_them(text: str) -> None:
    lines = TextLines(text)
    expected = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    expected = [] if text == "" else expected
    assert lines.count() == len(expected)
    assert [lines.row(n) for n in range(1, len(expected) + 1)] == expected
    assert lines.row(0) == "" and lines.row(len(expected) + 1) == ""


def test_holding_gives_each_line_once_in_order() -> None:
    rows = ["ab ab ab", "", "x", "zab", "ab", "q"]
    lines = TextLines("\n".join(rows) + "\n")
    assert lines.holding("ab") == [1, 4, 5]
    assert lines.holding("q") == [6]
    assert lines.holding("nothing") == []
    assert TextLines("last ab").holding("ab") == [1]  # no final newline


def test_appended_lines_are_found_by_number_and_content() -> None:
    for warm in (False, True):
        lines = TextLines("one\ntwo\n")
        if warm:  # lines and offsets listed before the append
            assert lines.holding("two") == [2]
        assert lines.append("three four") == 3
        assert lines.append("five") == 4
        assert lines.holding("four") == [3] and lines.holding("five") == [4]
        assert lines.row(3) == "three four" and lines.text == "one\ntwo\nthree four\nfive\n"
    empty = TextLines("")
    assert empty.append("x") == 1 and empty.holding("x") == [1]


def test_first_fields_name_every_plain_name_of_a_line() -> None:
    rows = [
        "a.example,b.example ssh-ed25519 AAAA",
        "# a.example comment",
        "@revoked a.example ssh-ed25519 AAAA",
        "|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAA",
        "|1|c2FsdA==|aGFzaA==,a.example ssh-ed25519 AAAA",
        "\ta.example\tssh-ed25519\tAAAA",
        "   b.example ssh-ed25519 AAAA",
        "",
        "a.example,a.example ssh-ed25519 AAAA",
    ]
    found = first_fields(rows)
    assert lines_of(found, "a.example") == [1, 5, 6, 9]
    assert lines_of(found, "b.example") == [1, 7]
    assert lines_of(found, "nowhere") == []
    merge_fields(found, first_fields(["b.example ssh-ed25519 AAAA", "c.example x y"], 10))
    assert lines_of(found, "b.example") == [1, 7, 10] and lines_of(found, "c.example") == [11]


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )


def test_anchored_patterns_offer_every_pattern_that_could_match() -> None:
    rng = random.Random(3)
    parts = ["web", "db", "1", "12", ".example.org", ":", "2001:db8::", "[", "]:22", "x"]
    patterns = []
    for _ in range(400):
        pieces = [rng.choice([*parts, "*", "?"]) for _ in range(rng.randint(1, 5))]
        patterns.append("".join(pieces))
    shelf = AnchoredPatterns[str]()
    for pattern in patterns:
        shelf.add(pattern, pattern)
    shelf.add(None, "hashed")
    names = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 5))) for _ in range(400)]
    narrowed = 0
    for name in names:
        offered = shelf.candidates(name)
        assert "hashed" in offered
        matching = [p for p in patterns if _glob(p).fullmatch(name)]
        assert set(matching) <= set(offered), name
        narrowed += len(offered) < len(patterns) // 2
    assert narrowed > len(names) // 2  # the filing does narrow them down


def test_a_look_up_tests_only_the_patterns_that_could_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested: list[str] = []
    real = _ssh_hostkeys._matcher

    def counted(pattern: str) -> _ssh_hostkeys._Matcher:
        matches = real(pattern)

        def test(name: str, encoded: bytes) -> bool:
            tested.append(pattern)
            return matches(name, encoded)

        return test

    monkeypatch.setattr(_ssh_hostkeys, "_matcher", counted)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv0bS2kYdZ5Ut7L8Zz0YQxwU8c5c0mJ0q0yq3f8Wq2h"
    rows = [
        f"*.zone{i}.example.net,2001:db8:{i:x}::*,!2001:db8:{i:x}::5 {key}" for i in range(3000)
    ]
    rows += [f"host-{i}.example.org {key}" for i in range(3000)]
    rows += [f"2001:db8:7::* {key}", f"* {key}"]
    index = KnownHostsIndex("known_hosts", "\n".join(rows) + "\n")
    keys, _ = index.first_look("host-7.example.org")
    assert [k.line for k in keys] == [3008, 6002]  # its own line and the "*" line
    assert tested == ["*"]  # no other pattern starts or ends as the name does
    tested.clear()
    keys, _ = index.first_look("2001:db8:7::1")
    assert [k.line for k in keys] == [8, 6001, 6002]
    # "*", line 8's pattern and negation, the line of the pattern alone
    assert sorted(tested) == ["*", "2001:db8:7::*", "2001:db8:7::*", "2001:db8:7::5"]
