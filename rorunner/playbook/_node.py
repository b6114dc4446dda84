"""A typed cursor over loaded YAML that knows its file and line, for strict schemas."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from rorunner.errors import InputError, Location, did_you_mean
from rorunner.safe_yaml import describe, line_of, plain, shown


@dataclass(frozen=True)
class Node:
    """One YAML value plus where it was written and what it is (for messages)."""

    value: Any
    path: str
    line: int
    what: str

    @property
    def at(self) -> Location:
        """Where this value was written."""
        return Location(self.path, self.line)

    def fail(self, message: str) -> NoReturn:
        """Raise an InputError at this node."""
        raise InputError(message, self.path, self.line)

    def expect(self, wanted: str) -> NoReturn:
        """Raise a wrong-type error."""
        self.fail(f"{self.what} must be {wanted}, not {describe(self.value)}")

    def mapping(self, allowed: Collection[str], required: Collection[str] = ()) -> dict[str, Node]:
        """Check a mapping with only `allowed` keys and every `required` one; return its entries."""
        if not isinstance(self.value, Mapping):
            self.expect("a mapping")
        entries: dict[str, Node] = {}
        for key, value in self.value.items():
            line = line_of(self.value, key) or self.line
            if not isinstance(key, str):
                message = f"{self.what}: keys must be strings, not {describe(key)}"
                raise InputError(message, self.path, line)
            if key not in allowed:
                hint = did_you_mean(key, tuple(allowed))
                known = ", ".join(sorted(allowed))
                message = f"{self.what}: unknown key {key!r}{hint}; known keys: {known}"
                raise InputError(message, self.path, line)
            entries[key] = Node(value, self.path, line, f"{self.what}: {key!r}")
        missing = [key for key in required if key not in entries]
        if missing:
            self.fail(f"{self.what}: missing required key {missing[0]!r}")
        return entries

    def sequence(self, item_what: str) -> list[Node]:
        """Check a list; return its items, each named `item_what` #n."""
        if not isinstance(self.value, list):
            self.expect("a list")
        return [
            Node(
                item,
                self.path,
                line_of(self.value, index) or self.line,
                f"{item_what} #{index + 1}",
            )
            for index, item in enumerate(self.value)
        ]

    def string(self) -> str:
        """A non-empty string (numbers are not silently converted)."""
        if not isinstance(self.value, str):
            self.expect("a string")
        if not self.value.strip():
            self.fail(f"{self.what} must not be empty")
        return str(self.value)

    def strings(self) -> tuple[str, ...]:
        """A list of non-empty strings (a single string is accepted as a one-item list)."""
        if isinstance(self.value, str):
            return (self.string(),)
        return tuple(item.string() for item in self.sequence(self.what))

    def boolean(self) -> bool:
        """A YAML boolean."""
        if not isinstance(self.value, bool):
            self.expect("true or false")
        return bool(self.value)

    def number(self, minimum: float = 0.0, maximum: float | None = None) -> float:
        """An int or float within bounds."""
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            self.expect("a number")
        number = float(self.value)
        if number < minimum or (maximum is not None and number > maximum):
            upper = f" and at most {maximum:g}" if maximum is not None else ""
            self.fail(f"{self.what} must be at least {minimum:g}{upper}, not {shown(self.value)}")
        return number

    def variables(self) -> dict[str, Any]:
        """A mapping of variable names to plain values."""
        if self.value is None:
            return {}
        if not isinstance(self.value, Mapping):
            self.expect("a mapping")
        for key in self.value:
            if not isinstance(key, str) or not key.isidentifier():
                line = line_of(self.value, key) or self.line
                raise InputError(
                    f"{self.what}: {shown(key)} is not a valid variable name", self.path, line
                )
        result = plain(self.value)
        assert isinstance(result, dict)
        return result

    def variable_lines(self) -> dict[str, Location]:
        """Where each variable of a mapping was written."""
        if not isinstance(self.value, Mapping):
            return {}
        return {
            str(key): Location(self.path, line_of(self.value, key) or self.line)
            for key in self.value
        }
