"""Ansible host ranges: `web[01:20]`, `db[a:f]`, `n[1:9:2]`, `2001:db8::[1:20]` (decimal)."""

from __future__ import annotations

import itertools
import re
import string

from rorunner.errors import InputError

MAX_HOSTS_PER_ENTRY = 65_536
_PART = re.compile(r"\[([^\[\]]*)\]")


def has_range(pattern: str) -> bool:
    """True when `pattern` holds a `[...]` range."""
    return "[" in pattern or "]" in pattern


def expand_range(pattern: str, path: str, line: int) -> list[str]:
    """Expand every `[begin:end(:step)]` in `pattern`, left to right, like Ansible."""
    pieces: list[list[str]] = []
    start = 0
    for match in _PART.finditer(pattern):
        _check_literal(pattern[start : match.start()], pattern, path, line)
        pieces.append([pattern[start : match.start()]])
        pieces.append(_expand_one(match.group(1), pattern, path, line))
        start = match.end()
    _check_literal(pattern[start:], pattern, path, line)
    pieces.append([pattern[start:]])
    total = 1
    for piece in pieces:
        total *= len(piece)
    if total > MAX_HOSTS_PER_ENTRY:
        raise InputError(
            f"range {pattern!r} expands to {total} hosts, more than {MAX_HOSTS_PER_ENTRY}",
            path,
            line,
        )
    return ["".join(parts) for parts in itertools.product(*pieces)]


def _check_literal(text: str, pattern: str, path: str, line: int) -> None:
    if "[" in text or "]" in text:
        raise InputError(f"unbalanced '[' or ']' in host range {pattern!r}", path, line)


def _expand_one(spec: str, pattern: str, path: str, line: int) -> list[str]:
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise InputError(
            f"host range [{spec}] in {pattern!r} must be begin:end or begin:end:step", path, line
        )
    begin, end = bounds[0] or "0", bounds[1]
    step = _step(bounds[2] if len(bounds) == 3 else "1", spec, path, line)
    if not end:
        raise InputError(f"host range [{spec}] in {pattern!r} has no end", path, line)
    if begin in string.ascii_letters and end in string.ascii_letters:
        return _letters(begin, end, step, spec, path, line)
    if not (begin.isdigit() and end.isdigit()):
        raise InputError(
            f"host range [{spec}] in {pattern!r} must be numeric (decimal) or single letters",
            path,
            line,
        )
    return _numbers(begin, end, step, spec, path, line)


def _step(text: str, spec: str, path: str, line: int) -> int:
    if not text.isdigit() or int(text) == 0:
        raise InputError(f"host range [{spec}] needs a positive integer step", path, line)
    return int(text)


def _letters(begin: str, end: str, step: int, spec: str, path: str, line: int) -> list[str]:
    first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
    if first > last:
        raise InputError(f"host range [{spec}] is descending", path, line)
    return list(string.ascii_letters[first : last + 1 : step])


def _numbers(begin: str, end: str, step: int, spec: str, path: str, line: int) -> list[str]:
    first, last = int(begin), int(end)
    if first > last:
        raise InputError(f"host range [{spec}] is descending", path, line)
    if (last - first) // step + 1 > MAX_HOSTS_PER_ENTRY:
        raise InputError(
            f"host range [{spec}] expands past {MAX_HOSTS_PER_ENTRY} hosts", path, line
        )
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise InputError(
            f"host range [{spec}]: zero-padded begin and end must have the same width", path, line
        )
    return [str(n).zfill(width) for n in range(first, last + 1, step)]
