"""A TCP proxy between the daemon and Asterisk's HTTP port that the test controls: ARI's
REST calls and its events websocket both go through it, so a cut looks to the daemon
like a network failure (connections reset, new ones refused).

A silence is the other kind of failure: the link goes deaf without either end noticing.
Every byte is swallowed, connections stay open, Asterisk keeps sending events into the
void; when the link comes back the connections that lived through it are reset, as TCP
does once its retransmissions give up."""

from __future__ import annotations

import asyncio
import contextlib
import socket


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
            asyncio.create_task(self._pipe(up_reader, writer)),
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
