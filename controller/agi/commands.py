"""The command lines sent to Asterisk, pure.

Asterisk splits a command line on spaces, unquotes ``"…"`` and honours ``\\`` escapes,
and a newline ends the command: a value holding a quote, a backslash or a newline could
close its argument and smuggle in another, or a second command. So every value is
checked against what it may be (a variable name, a sound name, DTMF digits), and free
text is refused, not escaped, if it holds anything but printable characters without
quote or backslash. A refused value raises :class:`UnsafeValue` before anything is sent.
"""

from __future__ import annotations

import re

from controller.agi.errors import UnsafeValue

MAX_VALUE = 1024
MAX_COMMAND = 2048
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\([A-Za-z0-9_]{1,32}\))?")
"""``RECCONTROL_CONSENT``, or a function with one plain argument: ``CHANNEL(language)``."""
_SOUND = re.compile(r"[A-Za-z0-9_./-]{1,255}")
_DIGITS = re.compile(r"[0-9*#A-D]{0,16}")
_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')


def quote(value: str) -> str:
    """``value`` as one quoted argument, or :class:`UnsafeValue`."""
    if len(value) > MAX_VALUE:
        raise UnsafeValue(f"a value of {len(value)} characters is over {MAX_VALUE}")
    if _UNSAFE.search(value):
        raise UnsafeValue("a value holds a quote, a backslash or a control character")
    return f'"{value}"'


def variable_name(name: str) -> str:
    if not _VARIABLE.fullmatch(name):
        raise UnsafeValue("a variable name must be letters, digits and '_' (or FUNC(arg))")
    return name


def sound_name(sound: str) -> str:
    # ".." would let a configured name reach outside Asterisk's sounds folders.
    if not _SOUND.fullmatch(sound) or ".." in sound:
        raise UnsafeValue("a sound name must be letters, digits, '_', '.', '/' and '-'")
    return sound


def digits(keys: str) -> str:
    if not _DIGITS.fullmatch(keys):
        raise UnsafeValue("escape digits must be DTMF keys (0-9, *, #, A-D)")
    return keys


def line(verb: str, *args: str) -> str:
    """The command line, without its newline; ``args`` already checked or quoted."""
    text = " ".join((verb, *args))
    if "\n" in text or "\r" in text or len(text) > MAX_COMMAND:
        raise UnsafeValue(f"the {verb} command line is unsafe or over {MAX_COMMAND} characters")
    return text


def answer() -> str:
    return line("ANSWER")


def channel_status() -> str:
    return line("CHANNEL STATUS")


def stream_file(sound: str, escape_digits: str = "") -> str:
    return line("STREAM FILE", quote(sound_name(sound)), quote(digits(escape_digits)))


def get_variable(name: str) -> str:
    return line("GET VARIABLE", quote(variable_name(name)))


def set_variable(name: str, value: str) -> str:
    return line("SET VARIABLE", quote(variable_name(name)), quote(value))


def verbose(message: str, level: int = 1) -> str:
    if not 1 <= level <= 4:
        raise UnsafeValue("a verbose level is 1 to 4")
    return line("VERBOSE", quote(message), str(level))
