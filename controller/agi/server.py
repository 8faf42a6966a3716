"""The asyncio FastAGI server: dialplan-only sites reach the daemon with
``AGI(agi://127.0.0.1:4573/<script>?<arguments>)``.

Each connection is one session: the header block is read (all of it within the read
timeout), the script named in it runs with an :class:`AgiSession`, and the connection
closes, which lets the dialplan go on. Bounds: lines (the stream's limit, so a 64 KiB
line is dropped, never buffered whole), the header block, sessions at once (also held
under the open-file limit), a deadline on every read and on every close, and warnings
about connections logged (the rest counted). Whatever one connection sends (junk,
silence, a reset) ends that session only; a script's failure is logged and reported to
the dialplan in ``RECCONTROL_ERROR``, never raised into the event loop (R2).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import resource
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from controller.agi import commands
from controller.agi.channel_variables import ERROR_VARIABLE
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
UNKNOWN_SCRIPT = "unknown-script"
BAD_REQUEST = "bad-request"
INTERNAL_ERROR = "internal-error"
ACCEPT_BATCH = 64
"""Connections accepted per wake-up: the loop serves other work between batches."""
ACCEPT_PAUSE = 0.5
"""Seconds accepting pauses when the process is out of file descriptors."""
FD_RESERVE_MIN = 64
"""File descriptors always left to the rest of the daemon (see :func:`session_cap`)."""
CLOSE_DEADLINE = 5.0
"""Seconds a closing connection may take to flush what the peer has not read."""
LOG_BURST = 10
LOG_INTERVAL = 60.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass
class AgiCounters:
    sessions: int = 0
    refused: int = 0
    """Connections closed at once: the session cap was reached."""
    bad_headers: int = 0
    unknown_scripts: int = 0
    script_errors: int = 0


class Warning_(StrEnum):
    """What a connection did wrong, for the summary of warnings not logged one by one."""

    REFUSED = "refused at the cap"
    BAD_HEADER = "bad header"
    HEADER_TIMEOUT = "header timeout"
    UNKNOWN_SCRIPT = "unknown script"
    NO_DESCRIPTOR = "accept out of file descriptors"


@dataclass(frozen=True)
class Decision:
    log: bool
    """Log this warning as it is."""
    summary: Mapping[str, int]
    """Warnings held back in the window that just ended, by kind: one line for them,
    before this one."""


class WarningThrottle:
    """Pure (the caller passes the clock): the first ``burst`` warnings of each
    ``interval`` are logged one by one, the rest only counted, and told in one summary
    line when the interval ends. Anyone who reaches the port can open thousands of
    connections a second; without this each costs a log line, on disk and shipped."""

    def __init__(self, burst: int = LOG_BURST, interval: float = LOG_INTERVAL) -> None:
        self.burst = burst
        self.interval = interval
        self._window_start: float | None = None
        self._logged = 0
        self._held: dict[str, int] = {}

    def note(self, kind: str, now: float) -> Decision:
        summary = self.tick(now)
        if self._window_start is None:
            self._window_start = now
        if self._logged < self.burst:
            self._logged += 1
            return Decision(True, summary)
        self._held[kind] = self._held.get(kind, 0) + 1
        return Decision(False, summary)

    def tick(self, now: float) -> Mapping[str, int]:
        """The counts held back, once the window they fell in has ended (a new one
        starts); empty before that, or if nothing was held."""
        if self._window_start is None or now - self._window_start < self.interval:
            return {}
        held, self._held = self._held, {}
        self._window_start, self._logged = None, 0
        return held

    def due_in(self, now: float) -> float | None:
        """Seconds until the summary of what is held is due; None if nothing is held."""
        if not self._held or self._window_start is None:
            return None
        return max(0.0, self._window_start + self.interval - now)


def summary_text(held: Mapping[str, int], interval: float) -> str:
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(held.items()))
    return (
        f"AGI: {sum(held.values())} more connection warning(s) in {interval:g} s, "
        f"not logged one by one: {kinds}"
    )


def session_cap(max_connections: int, fd_limit: int) -> int:
    """Sessions at once: ``max_connections``, fewer if the process's open-file limit
    could not hold that many sockets and still leave the reserve the rest of the daemon
    needs (ARI's connections, the store, the vault, the web API). Idle FastAGI
    connections must never be what makes a REST call or a store write fail."""
    if fd_limit <= 0 or fd_limit == resource.RLIM_INFINITY:
        return max_connections
    reserve = max(FD_RESERVE_MIN, fd_limit // 4)
    return max(1, min(max_connections, fd_limit - reserve))


def open_file_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class AgiServer:
    def __init__(
        self,
        settings: AgiSettings,
        scripts: Mapping[str, Script],
        sock: socket.socket | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sock``: the address bound already (the daemon binds it before it touches
        ARI); None: :meth:`start` binds ``settings``' address."""
        self._settings = settings
        self._scripts = dict(scripts)
        self._sock = sock
        self._listener: socket.socket | None = None
        self._accepting = False
        self._resume: asyncio.TimerHandle | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._throttle = WarningThrottle()
        self._summary_timer: asyncio.TimerHandle | None = None
        self.cap = settings.max_connections
        """Sessions at once: ``max_connections``, or fewer (see :func:`session_cap`)."""
        self.counters = AgiCounters()

    async def start(self) -> None:
        """Listens; :class:`PortBusy` naming ``agi.listen`` if the address is taken."""
        settings = self._settings
        sock = self._sock or bind_address(
            settings.host, settings.port, "FastAGI", ("agi.listen", "agi.listen")
        )
        sock.setblocking(False)
        self._listener = sock
        limit = open_file_limit()
        self.cap = session_cap(settings.max_connections, limit)
        if self.cap < settings.max_connections:
            log.warning(
                "AGI: agi.max_connections is %d, but the open-file limit (%d, systemd's "
                "LimitNOFILE) leaves room for %d sessions at once beside the rest of the "
                "daemon: at most %d",
                settings.max_connections, limit, self.cap, self.cap,
            )  # fmt: skip
        self._start_accepting()
        log.info("AGI: FastAGI server listening on %s:%d", self._settings.host, self.port)

    @property
    def port(self) -> int:
        """The port listened on (the configured one; the chosen one for port 0)."""
        if self._listener is None:
            return self._settings.port
        return int(self._listener.getsockname()[1])

    @property
    def active(self) -> int:
        return len(self._sessions)

    async def stop(self) -> None:
        """Stops listening and ends the sessions still open (their channels go on in
        the dialplan, as when the daemon is down)."""
        self._stop_accepting()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._summary_timer is not None:
            self._summary_timer.cancel()
            self._summary_timer = None
        self._log_summary(self._throttle.tick(float("inf")))

    # -- accepting ---------------------------------------------------------------------
    # Our own accept loop rather than asyncio.start_server: a connection over the cap is
    # closed in the very callback that accepted it, before any transport, buffer or
    # task exists, so a flood costs one descriptor for microseconds; and running out of
    # descriptors pauses accepting (one counted warning) instead of asyncio's error
    # with a traceback every second.
    def _start_accepting(self) -> None:
        self._resume = None
        if self._listener is None or self._accepting:
            return
        asyncio.get_running_loop().add_reader(self._listener.fileno(), self._accept_ready)
        self._accepting = True

    def _stop_accepting(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if self._listener is not None and self._accepting:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
        self._accepting = False

    def _accept_ready(self) -> None:
        assert self._listener is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    # ECONNABORTED and the like: that one connection is gone.
                    continue
                # Nothing to accept with until a session ends: pausing, rather than
                # being woken at once by the same pending connection, keeps the loop
                # free for ARI.
                self._warn(
                    Warning_.NO_DESCRIPTOR,
                    "AGI: accepting paused %g s: %s (open-file limit, LimitNOFILE)",
                    ACCEPT_PAUSE, exc.strerror,
                )  # fmt: skip
                self._stop_accepting()
                loop = asyncio.get_running_loop()
                self._resume = loop.call_later(ACCEPT_PAUSE, self._start_accepting)
                return
            if len(self._sessions) >= self.cap:
                conn.close()
                self.counters.refused += 1
                self._warn(
                    Warning_.REFUSED,
                    "AGI: connection refused: %d session(s) open, the most "
                    "agi.max_connections allows; the channel goes on in the dialplan",
                    len(self._sessions),
                )
                continue
            task = asyncio.get_running_loop().create_task(self._handle(conn))
            # Counted at once: the next connection of this same batch sees it.
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)
            # A task cancelled before its first step never runs its own clean-up.
            task.add_done_callback(functools.partial(_close_socket, conn))

    async def _handle(self, conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn, limit=MAX_RESPONSE_LINE_BYTES)
        self.counters.sessions += 1
        try:
            await self._session(reader, writer)
        except Exception:
            # A defect of ours, not the peer's: logged, and the loop goes on (R2).
            self.counters.script_errors += 1
            log.exception("AGI: session failed")
        finally:
            await close_connection(writer)

    # -- warnings ----------------------------------------------------------------------
    def _warn(self, kind: Warning_, message: str, *args: object) -> None:
        now = self._clock()
        decision = self._throttle.note(kind, now)
        self._log_summary(decision.summary)
        if decision.log:
            log.warning(message, *args)
            return
        due = self._throttle.due_in(now)
        if due is not None and self._summary_timer is None:
            self._summary_timer = asyncio.get_running_loop().call_later(due, self._summary_due)

    def _summary_due(self) -> None:
        self._summary_timer = None
        held = self._throttle.tick(self._clock())
        self._log_summary(held)
        due = self._throttle.due_in(self._clock())
        if due is not None:
            self._summary_timer = asyncio.get_running_loop().call_later(due, self._summary_due)

    def _log_summary(self, held: Mapping[str, int]) -> None:
        if held:
            log.warning("%s", summary_text(held, self._throttle.interval))

    # -- one session -------------------------------------------------------------------
    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AgiSession(reader, writer, command_timeout=self._settings.read_timeout_seconds)
        try:
            request = await self._read_header(reader)
        except RequestError as exc:
            # The block was whole: it is Asterisk, with a URL the dialplan got wrong.
            self.counters.bad_headers += 1
            self._warn(
                Warning_.BAD_HEADER, "AGI: refused the request: %s (%s)", exc, exc.error_id
            )
            await _tell(session, BAD_REQUEST)
            return
        except AgiError as exc:
            self.counters.bad_headers += 1
            self._warn(
                Warning_.BAD_HEADER, "AGI: connection closed: %s (%s)", exc, exc.error_id
            )
            return
        except TimeoutError:
            self.counters.bad_headers += 1
            self._warn(
                Warning_.HEADER_TIMEOUT,
                "AGI: connection closed: no complete header block in time "
                "(agi-header-timeout)",
            )
            return
        script = self._scripts.get(request.script)
        if script is None:
            self.counters.unknown_scripts += 1
            self._warn(
                Warning_.UNKNOWN_SCRIPT,
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


def _close_socket(conn: socket.socket, _: object) -> None:
    conn.close()


async def close_connection(
    writer: asyncio.StreamWriter, within: float = CLOSE_DEADLINE
) -> None:
    """Closes, flushing what is still buffered for at most ``within`` seconds: a peer
    that stops reading would otherwise hold its session, and its place under the cap,
    for ever (and hold up the daemon's stop). Past that the connection is reset."""
    writer.close()
    try:
        async with asyncio.timeout(within):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except (ConnectionError, OSError):
        pass
