"""The asyncio FastAGI server: dialplan-only sites reach the daemon with
``AGI(agi://127.0.0.1:4573/<script>?<arguments>)``.

Each connection is one session: the header block is read (all of it within the read
timeout), the script named in it runs with an :class:`AgiSession`, and the connection
closes, which lets the dialplan go on. Bounds: lines (the stream's limit, so a 64 KiB
line is dropped, never buffered whole), header lines, sessions at once, and a deadline
on every read. Whatever one connection sends (junk, silence, a reset) ends that session
only; a script's failure is logged and reported to the dialplan in
``RECCONTROL_ERROR``, never raised into the event loop (R2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from controller.agi import commands
from controller.agi.errors import (
    AgiError,
    ChannelHungUp,
    ConnectionLost,
    LineTooLong,
    RequestError,
)
from controller.agi.protocol import MAX_RESPONSE_LINE_BYTES, AgiRequest, HeaderParser
from controller.agi.session import AgiSession, read_line
from controller.config.model import AgiSettings
from controller.instance import bind_address

log = logging.getLogger("reccontrol.agi")

Script = Callable[[AgiSession, AgiRequest], Awaitable[None]]
"""A script: runs one session, returns when the dialplan may go on."""
ERROR_VARIABLE = "RECCONTROL_ERROR"
UNKNOWN_SCRIPT = "unknown-script"
BAD_REQUEST = "bad-request"
INTERNAL_ERROR = "internal-error"


@dataclass
class AgiCounters:
    sessions: int = 0
    refused: int = 0
    """Connections closed at once: ``max_connections`` sessions were open."""
    bad_headers: int = 0
    unknown_scripts: int = 0
    script_errors: int = 0


class AgiServer:
    def __init__(
        self,
        settings: AgiSettings,
        scripts: Mapping[str, Script],
        sock: socket.socket | None = None,
    ) -> None:
        """``sock``: the address bound already (the daemon binds it before it touches
        ARI); None: :meth:`start` binds ``settings``' address."""
        self._settings = settings
        self._scripts = dict(scripts)
        self._sock = sock
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[object]] = set()
        self.counters = AgiCounters()

    async def start(self) -> None:
        """Listens; :class:`PortBusy` naming ``agi.listen`` if the address is taken."""
        settings = self._settings
        sock = self._sock or bind_address(
            settings.host, settings.port, "FastAGI", ("agi.listen", "agi.listen")
        )
        self._server = await asyncio.start_server(
            self._handle, sock=sock, limit=MAX_RESPONSE_LINE_BYTES
        )
        log.info("AGI: FastAGI server listening on %s:%d", self._settings.host, self.port)

    @property
    def port(self) -> int:
        """The port listened on (the configured one; the chosen one for port 0)."""
        if self._server is None or not self._server.sockets:
            return self._settings.port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active(self) -> int:
        return len(self._sessions)

    async def stop(self) -> None:
        """Stops listening and ends the sessions still open (their channels go on in
        the dialplan, as when the daemon is down)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._sessions) >= self._settings.max_connections:
            self.counters.refused += 1
            log.warning(
                "AGI: connection refused: %d session(s) open, the most agi.max_connections "
                "allows; the channel goes on in the dialplan",
                len(self._sessions),
            )
            await _close(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        self.counters.sessions += 1
        try:
            await self._session(reader, writer)
        except Exception:
            # A defect of ours, not the peer's: logged, and the loop goes on (R2).
            self.counters.script_errors += 1
            log.exception("AGI: session failed")
        finally:
            self._sessions.discard(task)
            await _close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AgiSession(reader, writer, command_timeout=self._settings.read_timeout_seconds)
        try:
            request = await self._read_header(reader)
        except RequestError as exc:
            # The block was whole: it is Asterisk, with a URL the dialplan got wrong.
            self.counters.bad_headers += 1
            log.warning("AGI: refused the request: %s (%s)", exc, exc.error_id)
            await _tell(session, BAD_REQUEST)
            return
        except (AgiError, TimeoutError) as exc:
            self.counters.bad_headers += 1
            error_id = getattr(exc, "error_id", "agi-header-timeout")
            why = exc if isinstance(exc, AgiError) else "no complete header block in time"
            log.warning("AGI: connection closed: %s (%s)", why, error_id)
            return
        script = self._scripts.get(request.script)
        if script is None:
            self.counters.unknown_scripts += 1
            log.warning(
                "AGI: unknown script %r requested (channel %s); %s=%s",
                request.script, request.uniqueid, ERROR_VARIABLE, UNKNOWN_SCRIPT,
            )  # fmt: skip
            await _tell(session, UNKNOWN_SCRIPT)
            return
        await self._run(script, session, request)

    async def _read_header(self, reader: asyncio.StreamReader) -> AgiRequest:
        """The whole block within the read timeout: a peer that writes half of it and
        falls silent is cut off then."""
        parser = HeaderParser()
        async with asyncio.timeout(self._settings.read_timeout_seconds):
            while True:
                try:
                    raw = await read_line(reader)
                except LineTooLong:
                    raise
                except ConnectionLost:
                    raise parser.incomplete() from None
                request = parser.feed(raw)
                if request is not None:
                    return request

    async def _run(self, script: Script, session: AgiSession, request: AgiRequest) -> None:
        where = f"AGI {request.script} (channel {request.uniqueid})"
        try:
            await script(session, request)
        except ChannelHungUp:
            log.info("%s: the channel hung up", where)
        except AgiError as exc:
            self.counters.script_errors += 1
            log.warning("%s: %s (%s)", where, exc, exc.error_id)
            await _tell(session, exc.error_id)
        except Exception:
            self.counters.script_errors += 1
            log.exception("%s: the script failed", where)
            await _tell(session, INTERNAL_ERROR)


async def _tell(session: AgiSession, error: str) -> None:
    """``RECCONTROL_ERROR`` for the dialplan, if the session can still carry it."""
    if session.hung_up or session.broken:
        return
    with contextlib.suppress(AgiError):
        await session.command(commands.set_variable(ERROR_VARIABLE, error))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
