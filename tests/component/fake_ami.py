"""A scripted AMI server on a free port: greets, checks the login, answers actions as
the test says (an answer, an error, silence, a hang-up, junk)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.ami.protocol import AmiMessage, MessageReader

Reply = Callable[[AmiMessage], bytes | None]
"""The bytes to send for an action; None: say nothing. b"" closes the connection."""
BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def answer(message: AmiMessage, response: str = "Success", **fields: str) -> bytes:
    lines = [f"Response: {response}", f"ActionID: {message.action_id}"]
    lines += [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class FakeAmi:
    secret: str
    replies: dict[str, Reply] = field(default_factory=dict)
    received: list[AmiMessage] = field(default_factory=list)
    logins: int = 0
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def hang_up_all(self) -> None:
        for writer in self.writers:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(BANNER)
        messages = MessageReader()
        try:
            while line := await reader.readline():
                message = messages.feed(line)
                if message is None:
                    continue
                self.received.append(message)
                reply = self._reply(message)
                if reply == b"":
                    writer.close()
                    return
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass

    def _reply(self, message: AmiMessage) -> bytes | None:
        name = message.get("Action") or ""
        if name == "Login":
            if message.get("Secret") != self.secret:
                return answer(message, "Error", Message="Authentication failed")
            self.logins += 1
            return answer(message, Message="Authentication accepted")
        scripted = self.replies.get(name)
        if scripted is not None:
            return scripted(message)
        return answer(message)
