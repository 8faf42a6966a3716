"""Logging set-up, with a last line of defence against personal data in log lines.

Code never logs card digits, passwords or caller numbers in the first place. The
filter below also masks long digit runs that slip into a message, the way a card
number or a phone number would look, and masks tracebacks the same way. It runs on
the handler of the root logger, so it covers what libraries (aiohttp, asyncio) log as
well. Digits are looked for after folding Unicode spaces, dots, dashes and digits to
their ASCII forms (a number typed with no-break spaces or fullwidth digits is still a
number).

Two formats: ``text`` for people, ``json`` (one object per line) for journald, ELK and
other machines. Both go through the same filter and the same masking.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
import threading
import unicodedata
from collections.abc import Callable
from types import TracebackType
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

# How people write a number in free text also varies by the characters between the
# digits: a no-break space (U+00A0, U+202F, what word processors put in « 06 12 34 56
# 78 »), other Unicode spaces, a tab, an en dash, a minus sign, fullwidth digits. Before
# looking for numbers, each character is folded to what it stands for: NFKC, then the
# map below. Folding is one character for one, so a match in the folded text is the
# same span of the original, and the rest of the text is written as it was.
_DASH = "-"
_DOT = "."
_SPACE = " "
_EXPLICIT_FOLD = {
    "\t": _SPACE,
    # Zero-width characters: invisible, yet they split a digit run.
    "\u200b": _SPACE,
    "\u200c": _SPACE,
    "\u200d": _SPACE,
    "\u2060": _SPACE,
    "\ufeff": _SPACE,
    "\u00ad": _DASH,
    "\u2212": _DASH,
    "\u2043": _DASH,
    "\u00b7": _DOT,
    "\u2027": _DOT,
    "\u2219": _DOT,
    "\u22c5": _DOT,
    "\u30fb": _DOT,
    "\uff65": _DOT,
    "\u3002": _DOT,
    "\uff61": _DOT,
}
# Only horizontal space is folded: a line break still ends a number, so two numbers on
# consecutive lines of a traceback are not read as one.
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_ASCII_FOLD = str.maketrans({"\t": _SPACE})


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char in _EXPLICIT_FOLD:
        return _EXPLICIT_FOLD[char]
    decimal = unicodedata.decimal(char, None)
    if decimal is not None:
        return str(decimal)
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) != 1:
        # '½' gives three characters: kept as written, so positions stay aligned.
        return char
    if folded in _EXPLICIT_FOLD:
        return _EXPLICIT_FOLD[folded]
    if folded not in _LINE_BREAKS and folded.isspace():
        return _SPACE
    if unicodedata.category(folded) == "Pd":
        return _DASH
    return folded


def fold(text: str) -> str:
    """``text`` with every digit written as an ASCII digit, and every space, dot and
    dash as ``' '``, ``'.'`` and ``'-'``; one character for one."""
    if text.isascii():
        return text.translate(_ASCII_FOLD)
    return "".join(map(_fold_char, text))


def _substitute(pattern: re.Pattern[str], replace: Callable[[str], str | None], text: str) -> str:
    """``text`` with each match of ``pattern`` in its folded form replaced by
    ``replace(folded match)``, or left as written where that is None."""
    folded = fold(text)
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(folded):
        replacement = replace(match.group(0))
        if replacement is None:
            continue
        pieces += [text[last : match.start()], replacement]
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


# Between two digits of one number: one separator (dot, dash, slash), possibly with
# spaces around it (« 4111 - 1111 »), or up to three spaces (a double space typed by
# hand, or a tab).
_SEP = r"(?: {0,3}[.\-/] {0,3}| {1,3})"
# A run of digits joined by separators and national prefixes in brackets, as phone and
# card numbers are written: 0612345678, 06.12.34.56.78, +33 (0)6 12 34 56 78,
# 4111-1111-1111-1111. Not inside a word (hex ids).
_DIGIT_RUN = re.compile(
    rf"(?<![\w+])\+?(?:\([0-9]{{1,4}}\){_SEP}?)?[0-9](?:{_SEP}?(?:\([0-9]{{1,4}}\){_SEP}?)?[0-9])*(?!\w)"
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
    return _substitute(
        _DIGIT_RUN,
        lambda run: "[redacted]" if _looks_like_a_number(run) else None,
        redact_pan(text),
    )


# Any run of digits and separators, inside a word too (trunk0612345678).
_ANY_DIGIT_RUN = re.compile(rf"[0-9](?:{_SEP}?[0-9])*")


def mask_digit_runs(text: str, min_digits: int = 3, mask: str = "***") -> str:
    """``text`` with every run of ``min_digits`` digits or more replaced by ``mask``,
    however the digits are separated and even glued to letters: for text that may
    carry a number and has no figure worth keeping (a channel name, an application's
    arguments). Shorter runs (a timeout of 30, a priority) stay."""
    return _substitute(
        _ANY_DIGIT_RUN,
        lambda run: mask if sum(ch.isdigit() for ch in run) >= min_digits else None,
        text,
    )


# Card numbers (PAN) are 13 to 19 digits, possibly grouped by spaces, dashes or dots.
_PAN_RUN = re.compile(rf"(?<![0-9])[0-9](?:{_SEP.replace('/', '')}?[0-9]){{12,}}(?![0-9])")
_PAN_GROUP_SEP = re.compile(r"[ .\-]+")
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
    if run.count(".") == 1:
        # One dot separates an Asterisk channel id's two parts (1764398403.1234) or an
        # amount's decimals; a card written with dots has two or more.
        return any(_pan_in(part) for part in run.split("."))
    groups = _PAN_GROUP_SEP.split(run)
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
    return _substitute(_PAN_RUN, lambda run: "[card number]" if _pan_in(run) else None, text)


def contains_pan(text: str) -> bool:
    """True if ``text`` holds a Luhn-valid 13-19 digit number, however its digits are
    grouped (spaces, dashes, dots, Unicode spaces and dashes, fullwidth digits),
    anywhere (also glued to letters)."""
    return any(_pan_in(match.group(0)) for match in _PAN_RUN.finditer(fold(text)))


def _message_of(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not stop the code that logs
        return f"{record.msg!r} (log arguments that do not fit the format)"


class RedactingFilter(logging.Filter):
    """Masks numbers in the message, the traceback and the stack of a record, in the
    record itself: every handler that sees the record after this filter writes the
    masked text, whatever its formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = _message_of(record)
        masked = mask_digits(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info:
            # A traceback can quote a value (a dialled number in a KeyError, say). The
            # masked text is cached where formatters look for it, and the exception
            # itself is let go so that no formatter renders it again unmasked.
            record.exc_text = mask_digits(_TRACEBACKS.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_digits(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_digits(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


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


def _redacts(handler: logging.Handler) -> bool:
    return any(isinstance(f, RedactingFilter) for f in handler.filters)


class _DaemonHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`setup_logging` installs, so a second call replaces it."""


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    log = logging.getLogger("reccontrol")
    log.critical("uncaught exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("reccontrol").critical(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def setup_logging(
    level: str = "INFO", stream: TextIO | None = None, fmt: LogFormat = "text"
) -> logging.Handler:
    """Writes every log record to ``stream`` (stderr by default), masked.

    The handler sits on the root logger, so what aiohttp, asyncio or any other library
    logs (an ``Error handling request`` traceback, a task's exception) goes through the
    same masking as reccontrol's own records. Handlers already on the root logger get
    the masking filter too. An exception nothing catches, in the main thread or another,
    is logged the same way instead of being printed raw by Python."""
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    handler = _DaemonHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _DaemonHandler):
            root.removeHandler(old)
        elif not _redacts(old):
            old.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    ours = logging.getLogger("reccontrol")
    for old in list(ours.handlers):
        if isinstance(old, _DaemonHandler):
            ours.removeHandler(old)
    ours.setLevel(logging.NOTSET)
    ours.propagate = True
    return handler
