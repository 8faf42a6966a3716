"""One FastAGI session: the request Asterisk opened it with, and the commands a script
sends on it, each with a deadline.

Scripts talk to the channel only through :class:`AgiSession`: every command line is
built by :mod:`controller.agi.commands` (nothing a caller chose reaches the wire
unchecked), and a channel that hung up raises :class:`ChannelHungUp` instead of
answering.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from controller.agi import commands
from controller.agi.errors import (
    AgiError,
    ChannelHungUp,
    CommandTimeout,
    ConnectionLost,
    InvalidCommand,
    LineTooLong,
    ResponseError,
    UsageError,
)
from controller.agi.protocol import AgiResponse, Hangup, ResponseReader

PLAYBACK_DEADLINE = 600.0
"""Seconds a ``STREAM FILE`` may take: longer than any announcement or notice, short
enough that a session Asterisk never answers ends."""
CHANNEL_UP = 6
"""``CHANNEL STATUS`` result of an answered channel."""


async def read_line(reader: asyncio.StreamReader) -> bytes:
    """One whole line; :class:`ConnectionLost` if the peer closed or the line is over the
    stream's limit (which is never buffered whole: the reader drops it)."""
    try:
        raw = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):
        raise LineTooLong("a line over the length limit") from None
    except ConnectionError:
        raise ConnectionLost("the connection was reset") from None
    if not raw.endswith(b"\n"):
        raise ConnectionLost("the connection ended in the middle of a line")
    return raw


@dataclass(frozen=True)
class Played:
    """What ``STREAM FILE`` did."""

    digit: str | None
    """The escape digit pressed, None if the sound played to its end (or failed)."""
    failed: bool = False
    """Asterisk could not play it (a missing sound, say)."""
    endpos: int | None = None


class AgiSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = command_timeout
        self.hung_up = False
        """Asterisk said the channel hung up: no command is sent any more."""
        self.broken = False
        """A command got no complete answer: what comes next cannot be matched to it."""

    async def command(self, text: str, *, deadline: float | None = None) -> AgiResponse:
        """Sends one command line and returns its ``200`` answer; raises
        :class:`ChannelHungUp` once the channel is gone, the typed error of a 510 or 520
        answer, or :class:`CommandTimeout` past ``deadline`` seconds (default: the session's)."""
        if self.hung_up:
            raise ChannelHungUp("the channel hung up")
        if self.broken:
            raise ConnectionLost("an earlier command got no complete answer")
        line = commands.line(text)
        self.broken = True
        try:
            async with asyncio.timeout(deadline or self._timeout):
                self._writer.write(line.encode() + b"\n")
                await self._writer.drain()
                response = await self._answer()
        except TimeoutError:
            raise CommandTimeout(f"no answer to {_verb(line)} in time") from None
        except ConnectionError:
            raise ConnectionLost(f"the connection closed during {_verb(line)}") from None
        except ChannelHungUp:
            self.broken = False
            self.hung_up = True
            raise
        except (InvalidCommand, UsageError):
            # A complete answer, only a refusal: the session goes on.
            self.broken = False
            raise
        self.broken = False
        if self.hung_up:
            raise ChannelHungUp("the channel hung up")
        return response

    async def _answer(self) -> AgiResponse:
        reader = ResponseReader()
        while True:
            got = reader.feed(await read_line(self._reader))
            if isinstance(got, Hangup):
                # The command's own answer still follows.
                self.hung_up = True
            elif got is not None:
                return got

    # -- helpers ---------------------------------------------------------------------
    async def answer(self) -> None:
        """Answers the channel unless it is up already."""
        status = (await self.command(commands.channel_status())).number
        if status != CHANNEL_UP:
            await self.command(commands.answer())

    async def stream_file(self, sound: str, escape_digits: str = "") -> Played:
        response = await self.command(
            commands.stream_file(sound, escape_digits), deadline=PLAYBACK_DEADLINE
        )
        result = response.number
        if result is None or result < 0:
            return Played(None, failed=True, endpos=response.endpos)
        if result == 0:
            return Played(None, endpos=response.endpos)
        digit = chr(result) if result < 128 else ""
        if digit not in escape_digits or not digit:
            raise ResponseError("STREAM FILE reported a key that was not an escape digit")
        return Played(digit, endpos=response.endpos)

    async def get_variable(self, name: str) -> str | None:
        response = await self.command(commands.get_variable(name))
        return response.data if response.number == 1 else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(commands.set_variable(name, value))

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(commands.verbose(message, level))


def _verb(line: str) -> str:
    """The command's verb, for messages: never its arguments."""
    words = line.split(" ")
    return " ".join(w for w in words[:2] if w.isupper() and w.isalpha()) or "a command"


__all__ = ["AgiError", "AgiSession", "Played", "read_line"]
