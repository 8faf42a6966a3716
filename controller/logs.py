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

# A run of digits joined by single separators (space, dot, dash, slash) and national
# prefixes in brackets, as phone and card numbers are written: 0612345678,
# 06.12.34.56.78, +33 (0)6 12 34 56 78, 4111-1111-1111-1111. Not inside a word (hex ids).
_DIGIT_RUN = re.compile(
    r"(?<![\w+])\+?(?:\(\d{1,4}\)[ .\-/]?)?\d(?:[ .\-/]?(?:\(\d{1,4}\)[ .\-/]?)?\d)*(?!\w)"
)
MIN_MASKED_DIGITS = 8
# Only dots: 06.12.34.56.78 has four or more; an Asterisk channel id (1764398403.12), an
# IP address, a version or an amount has fewer, and stays readable.
MIN_DOTS_IN_DOTTED_NUMBER = 4


def _looks_like_a_number(run: str) -> bool:
    digits = sum(ch.isdigit() for ch in run)
    if digits < MIN_MASKED_DIGITS:
        return False
    separators = {ch for ch in run if not ch.isdigit() and ch != "+"}
    if separators == {"."}:
        return run.count(".") >= MIN_DOTS_IN_DOTTED_NUMBER
    return True


def mask_digits(text: str) -> str:
    """Masks phone and card numbers in any common format, whatever follows them, and
    card numbers glued to letters."""
    return _DIGIT_RUN.sub(
        lambda m: "[redacted]" if _looks_like_a_number(m.group(0)) else m.group(0),
        redact_pan(text),
    )


# Card numbers (PAN) are 13 to 19 digits, possibly grouped by spaces or dashes.
_PAN_RUN = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,}(?![0-9])")
PAN_LENGTHS = range(13, 20)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _pan_in(run: str) -> bool:
    """Whether the run, or a span of its groups (``99 4111 1111 1111 1111``), is a
    Luhn-valid 13-19 digit number. Digits are not split inside a group: a longer
    reference that merely contains a valid window is not a card number someone wrote."""
    groups = re.split(r"[ \-]", run)
    for first in range(len(groups)):
        digits = ""
        for group in groups[first:]:
            digits += group
            if len(digits) > PAN_LENGTHS[-1]:
                break
            if len(digits) in PAN_LENGTHS and luhn_valid(digits):
                return True
    return False


def redact_pan(text: str) -> str:
    """``text`` with every digit run that holds a card number replaced."""
    return _PAN_RUN.sub(lambda m: "[card number]" if _pan_in(m.group(0)) else m.group(0), text)


def contains_pan(text: str) -> bool:
    """True if ``text`` holds a Luhn-valid 13-19 digit number, with or without spaces
    or dashes, anywhere (also glued to letters)."""
    return any(_pan_in(match.group(0)) for match in _PAN_RUN.finditer(text))


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
