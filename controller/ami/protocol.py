"""The AMI wire format, pure: no I/O.

Asterisk greets with one line (``Asterisk Call Manager/9.0.0``), then each message is
``Key: Value`` lines ended by a blank line, lines ended by CRLF. Everything read is
bounded: a line, the lines of a message, a message's bytes; what breaks a bound or
the format raises a typed :class:`~controller.ami.errors.BadMessage`. What is sent is
built here too, and a key or value holding CR, LF or another control character is
refused: it would end the message early and smuggle in another action.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.ami.errors import BadMessage, MessageTooLarge, UnsafeValue

MAX_LINE = 8192
"""Bytes in one line, its CRLF included."""
MAX_FIELDS = 256
MAX_MESSAGE = 65536
"""Bytes in one message."""
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_()-]{0,63}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
BANNER = re.compile(r"Asterisk Call Manager/[0-9][0-9.]{0,15}")
SECRET_KEYS = frozenset({"secret"})
"""Keys whose value never appears in a repr or a log line."""


@dataclass(frozen=True)
class AmiMessage:
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        """The first value of ``key`` (case-insensitive, as Asterisk reads keys)."""
        wanted = key.lower()
        return next((v for k, v in self.fields if k.lower() == wanted), None)

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def __repr__(self) -> str:
        shown = [(k, "…" if k.lower() in SECRET_KEYS else v) for k, v in self.fields]
        return f"AmiMessage({shown!r})"


def parse_banner(line: bytes) -> str:
    text = _decode(line).rstrip("\r\n")
    if not BANNER.fullmatch(text):
        raise BadMessage("the peer did not greet as Asterisk's manager interface")
    return text


class MessageReader:
    """Feeds lines, yields whole messages; one reader per connection."""

    def __init__(self) -> None:
        self._fields: list[tuple[str, str]] = []
        self._size = 0

    def feed(self, line: bytes) -> AmiMessage | None:
        """One line, its line ending included; the message it completes, if any."""
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise MessageTooLarge(f"a line over {MAX_LINE} bytes, or cut")
        self._size += len(line)
        if self._size > MAX_MESSAGE:
            raise MessageTooLarge(f"a message over {MAX_MESSAGE} bytes")
        text = _decode(line).rstrip("\r\n")
        if not text:
            if not self._fields:
                # Blank lines between messages are harmless.
                self._size = 0
                return None
            message = AmiMessage(tuple(self._fields))
            self._fields, self._size = [], 0
            return message
        key, sep, value = text.partition(":")
        if not sep or not _KEY.fullmatch(key):
            raise BadMessage("a line that is not 'Key: Value'")
        if len(self._fields) >= MAX_FIELDS:
            raise MessageTooLarge(f"a message of more than {MAX_FIELDS} lines")
        self._fields.append((key, value.removeprefix(" ")))
        return None

    @property
    def in_message(self) -> bool:
        """Lines were read that no blank line has ended yet."""
        return bool(self._fields)


Fields = Mapping[str, str] | Iterable[tuple[str, str]]


def action(name: str, action_id: str, fields: Fields = ()) -> bytes:
    """The bytes of one action; :class:`UnsafeValue` for a key or value that could
    break out of it."""
    pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
    lines = [("Action", name), ("ActionID", action_id), *pairs]
    out: list[str] = []
    for key, value in lines:
        if not _KEY.fullmatch(key):
            raise UnsafeValue("an AMI key must be letters, digits, '_', '-' or '()'")
        if _UNSAFE.search(value) or len(value) > 1024:
            shown = key if key.lower() not in SECRET_KEYS else "a secret"
            raise UnsafeValue(f"the value of {shown} holds a control character or is too long")
        out.append(f"{key}: {value}\r\n")
    return ("".join(out) + "\r\n").encode()


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessage("a line that is not UTF-8") from None
