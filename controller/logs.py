"""Logging set-up, with a last line of defence against personal data in log lines.

Code never logs card digits, passwords or caller numbers in the first place. The
filter below also masks long digit runs that slip into a message, the way a card
number or a phone number would look.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

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


def setup_logging(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("reccontrol")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
