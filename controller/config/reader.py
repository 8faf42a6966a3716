"""Reads YAML strictly and walks it, collecting every problem with its key path.

The loader reads the whole file and reports all problems at once, one line each, so an
admin fixes a config in one pass instead of one error per run. :class:`Node` knows how
to read every kind of value the config holds (numbers, times, day sets, sound names,
secrets); the section parsers only say which key holds which.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

from controller.config.credentials import CredentialsDirectoryUnset, secret_file_path
from controller.config.windows import DAY_NAMES, WeeklyWindow
from controller.secrets import Secret

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


@dataclass(frozen=True)
class Secrets:
    """Where the config's secrets are read from. Documents and ``check-config --offline``
    set ``resolve`` to False: they check where each secret would come from, never read it."""

    environ: Mapping[str, str]
    resolve: bool = True


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# -- the tree ------------------------------------------------------------------------
NAME_PATTERN = r"[a-z][a-z0-9_-]{0,31}"
NAME_HINT = "names use lower-case letters, digits, '-' and '_', start with a letter"
SOUND_PATTERN = r"[A-Za-z0-9_./-]+"
SOUND_HINT = "must be an Asterisk sound name such as reccontrol/fr/announcement"
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
_DAY_RANGE = re.compile(r"(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?")
_TIME_PATTERN = r"([01]\d|2[0-3]):[0-5]\d|24:00"


_USERINFO = re.compile(r"(?<=//)[^/?#@]*@")


def without_credentials(url: str) -> str:
    """The URL with any ``user:password@`` masked, for messages."""
    return _USERINFO.sub("***@", url)


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
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(f"must be a finite number; got {value}")
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

    # -- values of the config's own kinds --------------------------------------------
    def url_parts(self, url: str) -> SplitResult | None:
        """The parts of ``url``, or None (reported, credentials masked) if it is malformed."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            self.fail(f"is not a valid URL ({exc}): {without_credentials(url)!r}")
            return None
        return parts

    def sound(self, default: Any = MISSING) -> Any:
        """An Asterisk sound name (the one rule for every sound in the config)."""
        return self.string(default, pattern=SOUND_PATTERN, pattern_hint=SOUND_HINT)

    def days(self) -> frozenset[int]:
        """Day names, ranges and lists: ``mon-fri``, ``[mon, wed, sat]``, ``daily``."""
        raw = self.value
        if raw is MISSING or raw is None:
            self.fail("is required (e.g. mon-fri, or [mon, wed, sat])")
            return frozenset()
        parts: list[str] = []
        if isinstance(raw, str):
            parts = [p.strip() for p in raw.lower().split(",")]
        elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
            parts = [p.strip().lower() for p in raw]
        else:
            self.fail("must be day names such as mon-fri or [mon, wed, sat]")
            return frozenset()
        days: set[int] = set()
        for part in parts:
            if part in ("daily", "all"):
                days.update(range(7))
                continue
            match = _DAY_RANGE.fullmatch(part)
            if not match:
                self.fail(
                    f"unknown day {part!r}; use {', '.join(DAY_NAMES)} or ranges like mon-fri"
                )
                continue
            first = DAY_NAMES.index(match.group(1))
            last = DAY_NAMES.index(match.group(2)) if match.group(2) else first
            day = first
            while True:
                days.add(day)
                if day == last:
                    break
                day = (day + 1) % 7
        return frozenset(days)

    def time_of_day(self) -> dt.time:
        text = self.string(
            pattern=_TIME_PATTERN, pattern_hint='must be a time written HH:MM, e.g. "09:00"'
        )
        if not isinstance(text, str) or not re.fullmatch(_TIME_PATTERN, text):
            return dt.time(0)
        if text == "24:00":
            # The end of the day, so "00:00" to "24:00" is a whole day.
            return dt.time.max
        hours, minutes = text.split(":")
        return dt.time(int(hours), int(minutes))

    def window(self) -> WeeklyWindow:
        """A weekly window: ``{days: mon-fri, from: "09:00", to: "17:00"}``."""
        if not self.mapping(("days", "from", "to"), required=("days", "from", "to")):
            return WeeklyWindow(frozenset(), dt.time(0), dt.time(0))
        start, end = self["from"].time_of_day(), self["to"].time_of_day()
        if start == end and self["from"].present and self["to"].present:
            self["to"].fail("must differ from 'from' (an empty window records nothing)")
        return WeeklyWindow(self["days"].days(), start, end)

    def secret(self, stem: str, secrets: Secrets, *, min_length: int = 0) -> Secret | None:
        """Reads ``<stem>_env`` or ``<stem>_file`` of this mapping; the secret itself
        never sits in the YAML (S5). Unless ``secrets.resolve``, only checks where it would
        come from and returns an empty :class:`Secret` naming that place."""
        env_node, file_node = self[f"{stem}_env"], self[f"{stem}_file"]
        if self[stem].present:
            self[stem].fail(
                f"secrets are not written in the YAML; name an environment variable with "
                f"'{stem}_env' or a file with '{stem}_file'"
            )
            return None
        if env_node.present and file_node.present:
            env_node.fail(f"give either '{stem}_env' or '{stem}_file', not both")
            return None
        if env_node.present:
            name = env_node.string(
                pattern=ENV_NAME_PATTERN, pattern_hint="must be an environment variable name"
            )
            if not secrets.resolve:
                return Secret("", f"env:{name}")
            value = secrets.environ.get(name, "")
            if not value:
                env_node.fail(f"environment variable {name} is not set or is empty")
                return None
            found, where = Secret(value, f"env:{name}"), env_node
        elif file_node.present:
            text = file_node.string()
            if not secrets.resolve:
                return Secret("", f"file:{text}")
            try:
                path = secret_file_path(text, secrets.environ)
            except CredentialsDirectoryUnset as exc:
                file_node.fail(str(exc))
                return None
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                file_node.fail(f"cannot read {path}: {exc.strerror or exc}")
                return None
            if not value:
                file_node.fail(f"{path} is empty")
                return None
            found, where = Secret(value, f"file:{path}"), file_node
        else:
            self.problems.add(self.child_path(f"{stem}_env"), f"is required (or '{stem}_file')")
            return None
        if len(value) < min_length:
            where.fail(f"the key must be at least {min_length} characters long")
        return found
