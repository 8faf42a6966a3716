"""Asterisk's side of a FastAGI session, by hand: a raw asyncio client that sends the
header block, reads each command the server sends and answers it as Asterisk 22 does."""

from __future__ import annotations

import asyncio
import time

from tests.waiting import DEFAULT_WITHIN, until


def header(
    script: str, *, callerid: str = "+33612345678", uniqueid: str = "1733541234.42"
) -> bytes:
    fields = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:4573/{script}",
        "agi_channel": "PJSIP/trunk-00000001",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": callerid,
        "agi_calleridname": "Jeanne",
        "agi_context": "site-inbound",
        "agi_extension": "0140000001",
        "agi_priority": "2",
    }
    return "".join(f"{k}: {v}\n" for k, v in fields.items()).encode() + b"\n"


class FakeAsterisk:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands: list[str] = []

    @classmethod
    async def connect(cls, port: int) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, within: float = DEFAULT_WITHIN) -> str:
        """The next command line the server sends (a bound, not a sleep)."""
        async with asyncio.timeout(within):
            line = await self.reader.readline()
        assert line.endswith(b"\n"), f"the server closed instead of sending a command: {line!r}"
        text = line.decode().rstrip("\n")
        self.commands.append(text)
        return text

    async def answer(self, line: str = "200 result=1") -> None:
        await self.send(line.encode() + b"\n")

    async def serve(self, answers: dict[str, str | list[str]]) -> None:
        """Answers commands until the server closes: the answer whose key starts the
        command (a list: its next answer, in turn), else ``200 result=1``. ``a|b``
        sends two lines."""
        while True:
            async with asyncio.timeout(DEFAULT_WITHIN):
                line = await self.reader.readline()
            if not line:
                return
            text = line.decode().rstrip("\n")
            self.commands.append(text)
            reply = next((a for k, a in answers.items() if text.startswith(k)), "200 result=1")
            if isinstance(reply, list):
                reply = reply.pop(0)
            for part in reply.split("|"):
                await self.answer(part)

    async def closed_after(self, within: float = DEFAULT_WITHIN) -> float:
        """Waits until the server closes the connection; returns the seconds it took.
        Anything the server sent meanwhile is kept in :attr:`unread`."""
        start = time.monotonic()
        reading = asyncio.ensure_future(self.reader.read())
        await until(reading.done, "the server closed the connection", within)
        try:
            self.unread = reading.result()
        except ConnectionResetError:
            self.unread = b""
        return time.monotonic() - start

    def close(self) -> None:
        self.writer.close()

    unread: bytes = b""
