"""Walks parsed YAML and collects every problem with the key path it was found at.

The loader reads the whole file and reports all problems at once, one line each, so an
admin fixes a config in one pass instead of one error per run.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class Problems:
    items: list[Problem] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)


def _type_name(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, dt.date):
        return "a date"
    return type(value).__name__


class Node:
    """A value in the YAML tree, with its dotted key path."""

    def __init__(self, value: Any, path: str, problems: Problems) -> None:
        self.value = value
        self.path = path
        self.problems = problems

    # -- structure -------------------------------------------------------------------
    @property
    def present(self) -> bool:
        return self.value is not MISSING and self.value is not None

    def fail(self, message: str) -> None:
        self.problems.add(self.path, message)

    def child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def __getitem__(self, key: str) -> Node:
        if isinstance(self.value, dict) and key in self.value:
            return Node(self.value[key], self.child_path(key), self.problems)
        return Node(MISSING, self.child_path(key), self.problems)

    def mapping(self, allowed: Iterable[str], required: Iterable[str] = ()) -> bool:
        """Checks this node is a mapping with only known keys and all required ones.

        Returns False when the node is not a mapping, so callers can stop descending.
        """
        if not isinstance(self.value, dict):
            if self.value is MISSING:
                self.fail("is required")
            else:
                self.fail(f"must be a mapping of keys, not {_type_name(self.value)}")
            return False
        allowed_list = list(allowed)
        for key in self.value:
            if not isinstance(key, str):
                self.fail(f"key {key!r} must be a string")
            elif key not in allowed_list:
                hint = difflib.get_close_matches(key, allowed_list, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.problems.add(self.child_path(key), f"unknown key{extra}")
        for key in required:
            if key not in self.value or self.value[key] is None:
                self.problems.add(self.child_path(key), "is required")
        return True

    def items(self) -> Iterator[tuple[str, Node]]:
        """The entries of a mapping whose keys are names chosen by the admin."""
        if not isinstance(self.value, dict):
            if self.present:
                self.fail(f"must be a mapping of names, not {_type_name(self.value)}")
            return
        for key, value in self.value.items():
            yield str(key), Node(value, self.child_path(str(key)), self.problems)

    def elements(self) -> Iterator[Node]:
        if not self.present:
            return
        if not isinstance(self.value, list):
            self.fail(f"must be a list, not {_type_name(self.value)}")
            return
        for index, value in enumerate(self.value):
            yield Node(value, self.child_path(index), self.problems)

    # -- scalars ---------------------------------------------------------------------
    def _absent(self, default: Any) -> bool:
        if self.value is MISSING or self.value is None:
            if default is MISSING:
                self.fail("is required")
            return True
        return False

    def string(
        self,
        default: Any = MISSING,
        *,
        pattern: str | None = None,
        pattern_hint: str = "",
        choices: Iterable[str] | None = None,
        allow_empty: bool = False,
    ) -> Any:
        if self._absent(default):
            return default
        value = self.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # Unquoted digits such as a DID or a DTMF key parse as numbers; keep them.
            value = str(value)
        if not isinstance(value, str):
            self.fail(f"must be a string, not {_type_name(value)}")
            return default if default is not MISSING else ""
        if not allow_empty and not value.strip():
            self.fail("must not be empty")
            return value
        if choices is not None:
            choice_list = list(choices)
            if value not in choice_list:
                self.fail(f"must be one of {', '.join(choice_list)}; got {value!r}")
        if pattern is not None and not re.fullmatch(pattern, value):
            self.fail(pattern_hint or f"must match {pattern}; got {value!r}")
        return value

    def number(
        self,
        default: Any = MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
        integer: bool = False,
    ) -> Any:
        if self._absent(default):
            return default
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a whole number" if integer else "a number"
            self.fail(f"must be {kind}, not {_type_name(value)}")
            return default if default is not MISSING else 0
        if integer and not isinstance(value, int):
            self.fail(f"must be a whole number; got {value}")
            return default if default is not MISSING else 0
        if minimum is not None:
            if exclusive_minimum and value <= minimum:
                self.fail(f"must be > {minimum:g}; got {value}")
            elif not exclusive_minimum and value < minimum:
                self.fail(f"must be >= {minimum:g}; got {value}")
        if maximum is not None and value > maximum:
            self.fail(f"must be <= {maximum:g}; got {value}")
        return value

    def integer(
        self, default: Any = MISSING, *, minimum: int | None = None, maximum: int | None = None
    ) -> Any:
        return self.number(default, minimum=minimum, maximum=maximum, integer=True)

    def boolean(self, default: Any = MISSING) -> Any:
        if self._absent(default):
            return default
        if not isinstance(self.value, bool):
            self.fail(f"must be true or false, not {_type_name(self.value)}")
            return bool(default) if default is not MISSING else False
        return self.value

    def date(self, default: Any = MISSING) -> Any:
        if self._absent(default):
            return default
        value = self.value
        if isinstance(value, dt.datetime):
            self.fail("must be a date (YYYY-MM-DD), not a date and time")
            return default if default is not MISSING else None
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(f"must be a date written YYYY-MM-DD; got {value!r}")
        return default if default is not MISSING else None

    def string_list(self, default: Any = MISSING, *, allow_empty: bool = False) -> Any:
        if self._absent(default):
            return default
        if isinstance(self.value, (str, int)) and not isinstance(self.value, bool):
            # A single value where a list is expected is a common slip; accept it.
            return (self.string(),)
        if not isinstance(self.value, list):
            self.fail(f"must be a list of strings, not {_type_name(self.value)}")
            return ()
        if not self.value and not allow_empty:
            self.fail("must not be an empty list")
        return tuple(element.string() for element in self.elements())

    def each(self, parse: Callable[[Node], T]) -> tuple[T, ...]:
        return tuple(parse(element) for element in self.elements())
