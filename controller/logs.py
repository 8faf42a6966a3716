"""Logging set-up, with a last line of defence against personal data in log lines.

Code never logs card digits, passwords or caller numbers in the first place. The
filter below also masks long digit runs that slip into a message, the way a card
number or a phone number would look; the formatters mask tracebacks the same way.

Two formats: ``text`` for people, ``json`` (one object per line) for journald, ELK and
other machines. Both go through the same filter and the same masking.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

# 8+ digits, optionally with spaces or dashes, not part of a dotted id such as an
# Asterisk channel id (1764398403.12) or a version.
_DIGIT_RUN = re.compile(r"(?<![\w.])\+?\d(?:[ -]?\d){7,}(?![\w.])")


def mask_digits(text: str) -> str:
    return _DIGIT_RUN.sub("[redacted]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_digits(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        # A traceback can quote a value (a dialled number in a KeyError, say).
        return mask_digits(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the
    masked traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = mask_digits(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = mask_digits(record.exc_text)
        if record.stack_info:
            entry["stack"] = mask_digits(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    level: str = "INFO", stream: TextIO | None = None, fmt: LogFormat = "text"
) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("reccontrol")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
