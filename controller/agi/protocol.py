"""The FastAGI wire format, pure: no sockets, no clock, no logging.

Asterisk opens a session with a block of ``agi_<name>: <value>`` lines ended by a blank
line (:class:`HeaderParser` turns it into an :class:`AgiRequest`), then answers each
command with a line such as ``200 result=1 (timeout) endpos=1234``
(:class:`ResponseReader` turns it into an :class:`AgiResponse`). Everything here is
bounded and nothing read is trusted: a line over the bound, a key Asterisk never sends,
a script name or argument outside its pattern is a typed failure, never a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from controller.agi.errors import (
    DeadChannel,
    HeaderError,
    HeaderIncomplete,
    HeaderTooLarge,
    InvalidCommand,
    RequestError,
    ResponseError,
    UsageError,
)

MAX_HEADER_LINE_BYTES = 4096
MAX_HEADER_LINES = 200
MAX_HEADER_BYTES = 65536
"""The whole block: Asterisk's is 1 to 2 KiB. Without it a block could hold 200 lines
of 4 KiB, 800 KiB held per session, times every session the cap allows."""
MAX_RESPONSE_LINE_BYTES = 8192
"""Also the stream's line limit: a longer line is never buffered whole."""
MAX_USAGE_LINES = 64
MAX_POSITIONAL_ARGS = 32
MAX_QUERY_ARGS = 16
MAX_QUERY_VALUE = 256

_KEY = re.compile(r"agi_[a-z0-9_]{1,40}")
_ARG_KEY = re.compile(r"agi_arg_([1-9][0-9]{0,2})")
SCRIPT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_QUERY_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
# What a uniqueid looks like (``1733541234.42``, or a name chosen at originate): it is
# the one value of the header the logs name, so nothing else gets through.
_UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,150}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OK = re.compile(
    r"200 result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>-?[0-9]{1,18}))?"
)
_CODE = re.compile(r"([0-9]{3}) .*")


@dataclass(frozen=True)
class AgiRequest:
    """One FastAGI session's request, as Asterisk described it."""

    script: str
    """The script name: ``inbound`` in ``agi://127.0.0.1:4573/inbound?service=sales``."""
    # The arguments and the channel's name are the dialplan's, yet it may put a number in
    # them (``AGI(…,${CALLERID(num)})``, ``Local/0612345678@…``): out of the repr too.
    query: tuple[tuple[str, str], ...] = field(repr=False)
    """The ``?name=value`` arguments, in order, percent-decoded."""
    args: tuple[str, ...] = field(repr=False)
    """``agi_arg_1``…: the arguments after the URL in ``AGI(url,a,b)``."""
    channel: str = field(repr=False)
    uniqueid: str
    language: str = ""
    context: str = ""
    priority: str = ""
    # Values a caller chose, or that hold their number: never in a repr, so never in a
    # log line by accident.
    callerid: str = field(default="", repr=False)
    calleridname: str = field(default="", repr=False)
    extension: str = field(default="", repr=False)
    dnid: str = field(default="", repr=False)
    request: str = field(default="", repr=False)

    def argument(self, name: str) -> str | None:
        """The query argument ``name``, or None."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    @property
    def caller_number(self) -> str:
        """The caller's number, "" when Asterisk has none (``unknown``)."""
        return "" if self.callerid in ("", "unknown") else self.callerid


# -- the header block --------------------------------------------------------------------
def header_line(raw: bytes, index: int) -> tuple[str, str] | None:
    """One line of the block as ``(key, value)``, or None for the blank line that ends
    it. ``index`` (from 1) is only for the error message."""
    if len(raw) > MAX_HEADER_LINE_BYTES:
        raise HeaderTooLarge(f"header line {index} is over {MAX_HEADER_LINE_BYTES} bytes")
    line = raw.rstrip(b"\n").rstrip(b"\r")
    if not line:
        return None
    key_bytes, sep, value_bytes = line.partition(b":")
    try:
        key = key_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise HeaderError(f"header line {index} has a key that is not ASCII") from None
    if not sep or not _KEY.fullmatch(key):
        raise HeaderError(f"header line {index} is not an 'agi_<name>: <value>' line")
    # Values are informational (a caller's name may come in Latin-1): an undecodable byte
    # becomes U+FFFD instead of ending the session, and the call.
    return key, value_bytes.decode("utf-8", errors="replace").removeprefix(" ")


class HeaderParser:
    """Collects the header block line by line: :meth:`feed` returns the request once the
    blank line arrives. Bounded to :data:`MAX_HEADER_LINES` lines and
    :data:`MAX_HEADER_BYTES` bytes."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._lines = 0
        self._bytes = 0

    def feed(self, raw: bytes) -> AgiRequest | None:
        self._lines += 1
        self._bytes += len(raw)
        if self._lines > MAX_HEADER_LINES:
            raise HeaderTooLarge(f"the header block is over {MAX_HEADER_LINES} lines")
        if self._bytes > MAX_HEADER_BYTES:
            raise HeaderTooLarge(f"the header block is over {MAX_HEADER_BYTES} bytes")
        parsed = header_line(raw, self._lines)
        if parsed is None:
            if not self._fields:
                raise HeaderError("the header block is empty")
            return request_of(self._fields)
        key, value = parsed
        if key in self._fields:
            raise HeaderError(f"header key {key} is given twice")
        self._fields[key] = value
        return None

    def incomplete(self) -> HeaderIncomplete:
        """What to raise when the connection ends before the blank line."""
        return HeaderIncomplete(f"the connection ended after {self._lines} header line(s)")


def parse_header(lines: list[bytes]) -> AgiRequest:
    """A whole block at once (tests, tools): the lines up to and with the blank one."""
    parser = HeaderParser()
    for raw in lines:
        request = parser.feed(raw)
        if request is not None:
            return request
    raise parser.incomplete()


def request_of(fields: dict[str, str]) -> AgiRequest:
    """The request from the block's fields; the script and its arguments validated."""
    for required in ("agi_channel", "agi_uniqueid"):
        if not fields.get(required):
            raise HeaderError(f"the header block has no {required}")
    if not _UNIQUEID.fullmatch(fields["agi_uniqueid"]):
        raise HeaderError("agi_uniqueid is not a channel unique id")
    script, query = script_and_query(_script_part(fields))
    return AgiRequest(
        script=script,
        query=query,
        args=positional_args(fields),
        channel=fields["agi_channel"],
        uniqueid=fields["agi_uniqueid"],
        language=fields.get("agi_language", ""),
        context=fields.get("agi_context", ""),
        priority=fields.get("agi_priority", ""),
        callerid=fields.get("agi_callerid", ""),
        calleridname=fields.get("agi_calleridname", ""),
        extension=fields.get("agi_extension", ""),
        dnid=fields.get("agi_dnid", ""),
        request=fields.get("agi_request", ""),
    )


def _script_part(fields: dict[str, str]) -> str:
    """``inbound?service=sales``: Asterisk's ``agi_network_script``, or the path of
    ``agi_request`` after ``agi://host[:port]/`` when the former is missing."""
    script = fields.get("agi_network_script")
    if script is not None:
        return script
    url = fields.get("agi_request", "")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("agi", "hagi"):
        raise HeaderError("the header block has neither agi_network_script nor an agi:// request")
    return rest.partition("/")[2]


def script_and_query(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``inbound?service=sales`` as ``("inbound", (("service", "sales"),))``."""
    name, _, query = text.partition("?")
    if not SCRIPT_NAME.fullmatch(name):
        raise RequestError(
            "the script name must be lower-case letters, digits, '-' and '_' (32 at most)"
        )
    return name, query_args(query)


def query_args(query: str) -> tuple[tuple[str, str], ...]:
    if not query:
        return ()
    parts = query.split("&")
    if len(parts) > MAX_QUERY_ARGS:
        raise RequestError(f"more than {MAX_QUERY_ARGS} query arguments")
    seen: list[tuple[str, str]] = []
    for part in parts:
        key, sep, raw = part.partition("=")
        if not sep or not _QUERY_KEY.fullmatch(key):
            raise RequestError("a query argument is not 'name=value' with a lower-case name")
        if any(key == k for k, _ in seen):
            raise RequestError(f"query argument {key!r} is given twice")
        try:
            value = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise RequestError(f"query argument {key!r} is not UTF-8") from None
        if len(value) > MAX_QUERY_VALUE or _CONTROL.search(value):
            raise RequestError(f"query argument {key!r} is too long or has control characters")
        seen.append((key, value))
    return tuple(seen)


def positional_args(fields: dict[str, str]) -> tuple[str, ...]:
    numbers = sorted(int(m.group(1)) for key in fields if (m := _ARG_KEY.fullmatch(key)))
    if numbers and numbers[-1] > MAX_POSITIONAL_ARGS:
        raise HeaderTooLarge(f"more than {MAX_POSITIONAL_ARGS} agi_arg_N arguments")
    if numbers != list(range(1, len(numbers) + 1)):
        raise HeaderError("agi_arg_N arguments are not numbered 1, 2, 3…")
    return tuple(fields[f"agi_arg_{n}"] for n in numbers)


# -- responses ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AgiResponse:
    """A ``200`` answer. Errors (510, 511, 520) are raised, never returned."""

    result: str
    data: str | None = None
    """The text in parentheses: ``timeout``, a variable's value…"""
    endpos: int | None = None
    code: int = 200

    @property
    def number(self) -> int | None:
        """``result`` as a number (``-1``, ``0``, a digit's code), None if it is not one."""
        return int(self.result) if re.fullmatch(r"-?[0-9]{1,18}", self.result) else None


@dataclass(frozen=True)
class Hangup:
    """Asterisk's ``HANGUP`` line: the channel hung up (``AGISIGHUP``)."""


HANGUP = Hangup()


class ResponseReader:
    """Reads one command's answer line by line: :meth:`feed` returns the response, the
    ``HANGUP`` notice (the answer itself still follows), or None inside a ``520-`` usage
    block; raises the typed error for 510, 511 and 520."""

    def __init__(self) -> None:
        self._usage: list[str] | None = None

    def feed(self, raw: bytes) -> AgiResponse | Hangup | None:
        if len(raw) > MAX_RESPONSE_LINE_BYTES:
            raise ResponseError(f"a response line is over {MAX_RESPONSE_LINE_BYTES} bytes")
        line = raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace")
        if self._usage is not None:
            if line.startswith("520 "):
                raise UsageError("the command's syntax is wrong (520)", tuple(self._usage))
            if len(self._usage) >= MAX_USAGE_LINES:
                raise ResponseError(f"a 520 usage block is over {MAX_USAGE_LINES} lines")
            self._usage.append(line)
            return None
        if line.startswith("520-"):
            # A usage block: its lines follow, up to the one starting "520 ".
            self._usage = []
            return None
        return parse_response_line(line)


def parse_response_line(line: str) -> AgiResponse | Hangup:
    """One response line (the ``520-`` usage block aside: see :class:`ResponseReader`)."""
    if line == "HANGUP":
        return HANGUP
    ok = _OK.fullmatch(line)
    if ok is not None:
        endpos = ok.group("endpos")
        return AgiResponse(ok.group("result"), ok.group("data"), int(endpos) if endpos else None)
    coded = _CODE.fullmatch(line)
    if coded is None:
        raise ResponseError("not an AGI response line")
    code = coded.group(1)
    if code == "510":
        raise InvalidCommand("Asterisk does not know the command (510)")
    if code == "511":
        raise DeadChannel("the channel is gone; Asterisk refused the command (511)")
    if code == "520":
        raise UsageError("the command's syntax is wrong (520)")
    raise ResponseError(f"unexpected AGI response code {code}")
