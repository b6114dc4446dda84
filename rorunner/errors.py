"""Typed errors that know their exit code; the CLI is the one place that maps them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_HOST_FAILED = 2
EXIT_BAD_INPUT = 3
EXIT_UNREACHABLE = 4
EXIT_USAGE = 5
EXIT_INTERRUPTED = 99
EXIT_INTERNAL = 250


def exit_code_for_hosts(*, interrupted: bool, unreachable: bool, failed: bool) -> int:
    """The exit code of a finished run: interrupted 99, else unreachable 4 (wins), else a
    failed host 2, else 0 (the CLI exits with it; run records keep it)."""
    if interrupted:
        return EXIT_INTERRUPTED
    if unreachable:
        return EXIT_UNREACHABLE
    if failed:
        return EXIT_HOST_FAILED
    return EXIT_OK


class RorunnerError(Exception):
    """Base of every error rorunner raises on purpose."""

    exit_code = EXIT_RUNTIME


@dataclass(frozen=True)
class Location:
    """A place in an input file: path and 1-based line (0 when unknown)."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class InputError(RorunnerError):
    """Bad inventory, playbook, role or plan: nothing ran, nothing was contacted.

    `also` names the other places involved (the first of two duplicates, every edge of a
    cycle); they are shown after the message: `a.yml:4: duplicate key 'x' (also at a.yml:2)`.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        path: str | None = None,
        line: int = 0,
        also: Iterable[Location] = (),
    ) -> None:
        self.message = message
        self.location = Location(path, line) if path else None
        # Each other place once, in order; the error's own place is not repeated.
        self.also = tuple(dict.fromkeys(p for p in also if p != self.location))
        text = f"{self.location}: {message}" if self.location else message
        if self.also:
            text += f" (also at {', '.join(str(place) for place in self.also)})"
        super().__init__(text)

    @classmethod
    def at(cls, message: str, where: Location, also: Iterable[Location] = ()) -> InputError:
        """The error at `where` (a Location whose path may be empty: no location)."""
        return cls(message, where.path or None, where.line, also)

    def __reduce__(
        self,
    ) -> tuple[type[InputError], tuple[str, str | None, int, tuple[Location, ...]]]:
        loc = self.location
        args = (self.message, loc.path if loc else None, loc.line if loc else 0, self.also)
        return (type(self), args)


MAX_REPORTED = 20  # input errors shown at once; a count stands for the others


class InputErrors(InputError):
    """Several input errors found in one pass, reported together: sorted by file and line
    (errors without a place last), at most MAX_REPORTED of them shown."""

    errors: tuple[InputError, ...]

    def __init__(self, errors: Iterable[InputError]) -> None:
        flat: dict[str, InputError] = {}
        for error in errors:
            for one in error.errors if isinstance(error, InputErrors) else (error,):
                flat.setdefault(str(one), one)
        self.errors = tuple(sorted(flat.values(), key=_place))
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per error shown, then how many were left out."""
        shown = [str(error) for error in self.errors[:MAX_REPORTED]]
        left = len(self.errors) - len(shown)
        return shown + ([f"... and {left} more input errors"] if left > 0 else [])

    def __reduce__(self) -> tuple[type[InputErrors], tuple[tuple[InputError, ...]]]:  # type: ignore[override]
        return (type(self), (self.errors,))


def _place(error: InputError) -> tuple[bool, str, int]:
    where = error.location
    return (where is None, where.path if where else "", where.line if where else 0)


class ErrorCollector:
    """Gathers input errors so that one pass reports every mistake it finds, not the first."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []

    @contextmanager
    def gather(self) -> Iterator[None]:
        """Run the block; an InputError it raises is kept instead of raised."""
        try:
            yield
        except InputError as exc:
            self.add(exc)

    def add(self, error: InputError) -> None:
        """Keep an error found without raising it."""
        self.errors.append(error)

    def raise_any(self) -> None:
        """Raise what was gathered: the one error, or all of them as InputErrors."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InputErrors(self.errors)


class UsageError(RorunnerError):
    """Bad command-line options."""

    exit_code = EXIT_USAGE


class LockedError(RorunnerError):
    """Another run holds the project lock."""

    exit_code = EXIT_RUNTIME


class TransportError(RorunnerError):
    """A transport operation failed; `host` names the inventory host or address."""

    def __init__(self, host: str, cause: str) -> None:
        self.host = host
        self.cause = cause
        super().__init__(f"{host}: {cause}")

    def __reduce__(self) -> tuple[type[TransportError], tuple[str, str]]:
        # Exceptions pickle their args by default; ours are (host, cause).
        return (type(self), (self.host, self.cause))


class UnreachableError(TransportError):
    """Could not connect, negotiate, authenticate or verify the host key."""

    exit_code = EXIT_UNREACHABLE


class RemoteFailure(TransportError):
    """The host was reached but the operation failed (exit status, SFTP error, timeout)."""

    exit_code = EXIT_HOST_FAILED


class HostKeyError(UnreachableError):
    """The host key is unknown (strict mode) or changed (always refused)."""


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return ' (did you mean X?)' when a close choice exists, else ''."""
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
