"""Small values the commands carry, apart so the commands module stays readable: a log
line's level, and how a recording's row closes without a file. Both are also reachable
as ``commands.Level`` and ``commands.Closed``."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """A log line's level."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Closed(StrEnum):
    """How a recording's row closes without a file to keep."""

    DISCARDED = "discarded"
    FAILED = "failed"
    MISSING = "missing"
