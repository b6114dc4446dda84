"""Finding a host's lines in a known_hosts text without parsing every line."""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class TextLines:
    """A text's lines, numbered from 1 and split at "\\n" as OpenSSH reads them.

    The lines holding a string are found with `str.find`, so finding a key's lines costs a
    pass at C speed over the text, not a parse of every line. The lines and their offsets
    are listed once, when first wanted.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._rows: list[str] | None = None
        self._starts: list[int] | None = None

    def rows(self) -> list[str]:
        """Every line, without its "\\n" (a final "\\n" ends the last line, it starts none)."""
        if self._rows is None:
            self._rows = self.text.split("\n")
            if self._rows[-1] == "":
                self._rows.pop()
        return self._rows

    def count(self) -> int:
        """How many lines there are."""
        return len(self.rows())

    def row(self, number: int) -> str:
        """Line `number` ("" past the end)."""
        rows = self.rows()
        return rows[number - 1] if 0 < number <= len(rows) else ""

    def _line_starts(self) -> list[int]:
        if self._starts is None:  # a line starts after the lengths and "\n"s before it
            lengths = itertools.accumulate(map(len, self.rows()), initial=0)
            self._starts = list(map(operator.add, lengths, itertools.count()))
        return self._starts

    def holding(self, needle: str) -> list[int]:
        """The numbers of the lines that contain `needle`, in order."""
        starts = self._line_starts()
        found: list[int] = []
        at = self.text.find(needle)
        while at >= 0:
            number = bisect.bisect_right(starts, at)
            found.append(number)
            if number >= len(starts):
                break
            at = self.text.find(needle, starts[number])  # the next line on
        return found

    def append(self, raw: str) -> int:
        """Add `raw` as a line after the last (the text ends with "\\n" or is empty); its number."""
        if self._starts is not None:
            self._starts.append(len(self.text) + len(raw) + 1)
        self.text += raw + "\n"
        if self._rows is not None:
            self._rows.append(raw)
        return self.count()


def first_fields(rows: Iterable[str], first: int = 1) -> dict[str, int | list[int]]:
    """Each name of each line's first field (comma-separated), and the lines that have it:
    a line number, or a list when several lines do. Comments and marked lines are left out,
    and so are names hashed alone on their line; what is found is a superset, each line to
    be checked (a short line, a negation). Lines are numbered from `first`."""
    found: dict[str, int | list[int]] = {}
    for number, row in enumerate(rows, first):
        head = row.partition(" ")[0]
        if not head or "\t" in head:  # leading blanks, tabs
            head = row.split(None, 1)[0] if row.strip() else ""
        if not head or head[0] in "#@" or (head[0] == "|" and "," not in head):
            continue
        for name in head.split(",") if "," in head else (head,):
            lines = found.get(name)
            if lines is None:
                found[name] = number
            elif isinstance(lines, int):
                found[name] = [lines, number]
            elif lines[-1] != number:
                lines.append(number)
    return found


def merge_fields(into: dict[str, int | list[int]], more: dict[str, int | list[int]]) -> None:
    """Add `more`'s lines (of later lines) to `into`, both `first_fields` results."""
    for name, lines in more.items():
        had = lines_of(into, name)
        into[name] = had + lines_of(more, name) if had else lines


def lines_of(found: dict[str, int | list[int]], name: str) -> list[int]:
    """`name`'s lines in a `first_fields` result."""
    lines = found.get(name, ())
    return [lines] if isinstance(lines, int) else list(lines)


def literal_ends(pattern: str) -> tuple[str, str]:
    """A pattern's literal text before its first wildcard and after its last one."""
    start = pattern.split("*", 1)[0].split("?", 1)[0]
    return start, pattern.rsplit("*", 1)[-1].rsplit("?", 1)[-1]


class AnchoredPatterns(Generic[Item]):
    """Patterns filed by their literal start (else end), so that a name is tested only
    against those that could match it: a name's candidates are found by a dict lookup per
    distinct length of those literals, however many patterns the file has. A pattern with
    no literal start or end (`*`), or one tested otherwise (a hashed name), is tested
    against every name."""

    def __init__(self) -> None:
        self._by_start: dict[str, list[Item]] = {}
        self._by_end: dict[str, list[Item]] = {}
        self._start_sizes: set[int] = set()
        self._end_sizes: set[int] = set()
        self._always: list[Item] = []

    def add(self, pattern: str | None, item: Item) -> None:
        """File `item` under `pattern`'s literal ends (None: tested against every name)."""
        start, end = literal_ends(pattern) if pattern is not None else ("", "")
        if start:
            self._start_sizes.add(len(start))
            self._by_start.setdefault(start, []).append(item)
        elif end:
            self._end_sizes.add(len(end))
            self._by_end.setdefault(end, []).append(item)
        else:
            self._always.append(item)

    def candidates(self, name: str) -> list[Item]:
        """The items whose pattern could match `name`."""
        found = list(self._always)
        for size in self._start_sizes:
            if size <= len(name):
                found += self._by_start.get(name[:size], ())
        for size in self._end_sizes:
            if size <= len(name):
                found += self._by_end.get(name[-size:], ())
        return found
