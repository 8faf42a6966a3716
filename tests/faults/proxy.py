"""A TCP proxy between the daemon and Asterisk's HTTP port that the test controls: ARI's
REST calls and its events websocket both go through it, so a cut looks to the daemon
like a network failure (connections reset, new ones refused).

A silence is the other kind of failure: the link goes deaf without either end noticing.
Every byte is swallowed, connections stay open, Asterisk keeps sending events into the
void; when the link comes back the connections that lived through it are reset, as TCP
does once its retransmissions give up.

It also reads the events websocket from Asterisk frame by frame, so a test can slip
frames of its own into that stream (:meth:`TcpProxy.inject`), always between two whole
frames (and never inside a fragmented message) of what Asterisk sends."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

TEXT = 0x1
BINARY = 0x2
CONTINUATION = 0x0


def server_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One final, unmasked websocket frame, as a server sends it."""
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + struct.pack(">H", size)
    else:
        head = bytes([0x80 | opcode, 127]) + struct.pack(">Q", size)
    return head + payload


@dataclass(eq=False)
class EventsSocket:
    """The Asterisk-to-daemon half of one websocket going through the proxy."""

    writer: asyncio.StreamWriter
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while one of Asterisk's frames (or a whole fragmented message) is written,
    and while injected frames are: each goes in whole, between the others."""
    frames: int = 0
    """Frames of Asterisk's forwarded so far."""
    closed: bool = False


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.cut_at: float | None = None
        self.restored_at: float | None = None
        self.silent = False
        self.sockets: list[EventsSocket] = []
        """Every events websocket seen, oldest first."""
        self._socket_opened = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Resets every connection and refuses new ones until :meth:`restore`."""
        self.cut_at = asyncio.get_running_loop().time()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self._reset_all()

    def silence(self) -> None:
        """Swallows every byte, both ways, on old and new connections, until
        :meth:`restore`."""
        self.cut_at = asyncio.get_running_loop().time()
        self.silent = True

    async def _reset_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(OSError):
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    # RST rather than FIN: what a dead link or a crashed peer gives.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            writer.close()
        self._writers.clear()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def restore(self) -> None:
        self.restored_at = asyncio.get_running_loop().time()
        if self.silent:
            self.silent = False
            await self._reset_all()
        if self._server is None:
            await self._listen()

    async def close(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            # Accepted, never answered: what a client sees of a deaf link.
            self._writers.add(writer)
            swallow = asyncio.create_task(self._pipe(reader, None))
            self._pipes.add(swallow)
            await asyncio.gather(swallow, return_exceptions=True)
            self._pipes.discard(swallow)
            self._writers.discard(writer)
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._from_asterisk(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None
    ) -> None:
        """Copies ``reader`` to ``writer``, or swallows it while the link is silent."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if self.silent or writer is None:
                    continue
                writer.write(data)
                await writer.drain()
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()

    async def _forward(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Asterisk's bytes to the daemon, unless the link is silent."""
        if self.silent:
            return
        writer.write(data)
        await writer.drain()

    # -- the events websocket ------------------------------------------------------------
    async def events_socket(self, after: int = 0, within: float = 30.0) -> EventsSocket:
        """The first open events websocket that is not among the first ``after`` seen."""
        async with asyncio.timeout(within), self._socket_opened:
            await self._socket_opened.wait_for(
                lambda: any(not s.closed for s in self.sockets[after:])
            )
            return next(s for s in self.sockets[after:] if not s.closed)

    async def inject(self, *frames: bytes, after: int = 0) -> EventsSocket:
        """Writes ``frames`` (whole frames: see :func:`server_frame`) into the open events
        websocket, between two of Asterisk's frames. Returns the socket they went into.
        The daemon may drop the connection on a frame it refuses while it is written."""
        target = await self.events_socket(after)
        async with target.turn:
            with contextlib.suppress(OSError):
                for frame in frames:
                    target.writer.write(frame)
                    await target.writer.drain()
        return target

    async def _from_asterisk(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Asterisk to the daemon, answer by answer: a kept-alive connection that served
        REST answers may carry the websocket upgrade next. After a ``101``, frame by
        frame; an answer whose length is not given, plain bytes to the end."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await self._forward(writer, head)
                if head.startswith(b"HTTP/1.1 101"):
                    await self._frames(reader, writer)
                    return
                length = _content_length(head)
                if length is None:
                    break
                await self._forward(writer, await reader.readexactly(length))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            with contextlib.suppress(OSError):
                writer.close()
            return
        await self._pipe(reader, writer)

    async def _frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        events = EventsSocket(writer)
        async with self._socket_opened:
            self.sockets.append(events)
            self._socket_opened.notify_all()
        in_message = False
        try:
            while True:
                frame = await _read_frame(reader)
                if not in_message:
                    await events.turn.acquire()
                opcode, final = frame[0] & 0x0F, bool(frame[0] & 0x80)
                if opcode in (TEXT, BINARY, CONTINUATION):
                    # A fragmented message keeps the turn until its last fragment.
                    in_message = not final
                try:
                    await self._forward(writer, frame)
                    events.frames += 1
                finally:
                    if not in_message:
                        events.turn.release()
        finally:
            events.closed = True
            if in_message:
                events.turn.release()
            with contextlib.suppress(OSError):
                writer.close()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(2)
    size = head[1] & 0x7F
    extended = b""
    if size == 126:
        extended = await reader.readexactly(2)
        size = struct.unpack(">H", extended)[0]
    elif size == 127:
        extended = await reader.readexactly(8)
        size = struct.unpack(">Q", extended)[0]
    mask = await reader.readexactly(4) if head[1] & 0x80 else b""
    return head + extended + mask + await reader.readexactly(size)


def _content_length(head: bytes) -> int | None:
    """The body length an HTTP answer's head gives, or None when it gives none."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            return None
    status = head.split(b" ", 2)[1:2]
    # No body by definition.
    return 0 if status and status[0] in (b"204", b"304") else None
