"""The ARI events websocket: typed events in, reconnected forever with backoff.

After each (re)connection the stream resyncs with ``GET /applications/{app}``: Stasis
keeps its channels across a reconnect, but events sent during the gap are lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp

from controller.ari.client import AriClient
from controller.ari.errors import AriError
from controller.ari.events import Event, StreamConnected, missing_id, parse_event
from controller.ari.models import Application
from controller.ari.settings import ReconnectSettings

log = logging.getLogger("reccontrol.ari")


def backoff_delays(settings: ReconnectSettings, rng: random.Random) -> Iterator[float]:
    """Capped exponential backoff with jitter: each delay is in [cap/2, cap].

    The jitter keeps several controllers from hammering Asterisk in step after it
    restarts; the half floor keeps the delay from collapsing to zero.
    """
    attempt = 0
    while True:
        cap = min(settings.max_delay, settings.initial_delay * (2**attempt))
        yield cap / 2 + rng.random() * cap / 2
        if cap < settings.max_delay:
            attempt += 1


RawEventHook = Callable[[dict[str, Any]], None]
FirstLook = Callable[[dict[str, Any], float], Awaitable[None] | None]
"""Given each decoded frame and the time it was read, before it is parsed into an
event; what it returns, if anything, is awaited before the event is yielded."""


class EventStream:
    """The events websocket, reconnected forever with backoff.

    Iterating yields typed events. Each (re)connection first yields a
    :class:`StreamConnected` carrying ``GET /applications/{app}``, so the consumer can
    resync what it tracks: Stasis keeps its channels across a reconnect, but events
    sent during the gap are lost.
    """

    def __init__(
        self,
        client: AriClient,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_raw: RawEventHook | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._rng = rng or random.SystemRandom()
        self._sleep = sleep
        self._on_raw = on_raw
        self._on_connected = on_connected
        self._closed = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.connections = 0
        self.dropped = 0
        """Messages that could not be decoded (not JSON, too deep, not an object)."""
        self.connected = False
        """True from the moment ``StreamConnected`` is yielded until the socket closes."""
        self.last_frame = 0.0
        """Monotonic time of the last frame read (or of the connection)."""
        self._blind_since: float | None = None
        self.first_look: FirstLook | None = None
        """The protective keys' hot path (set by the daemon): a key whose pause is known
        in advance has it sent from here, before its frame is parsed and handed on."""

    @property
    def app(self) -> str:
        return self._client.app

    async def reconnect(self) -> None:
        """Drops the live socket; iteration goes on with a fresh connection and a resync."""
        if self._ws is not None:
            await self._ws.close()

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    async def __aiter__(self) -> AsyncIterator[Event]:
        delays = backoff_delays(self._client.settings.reconnect, self._rng)
        # A consumer cancelled while handling an event leaves its socket to be closed
        # later: it is lost all the same.
        self._lost()
        while not self._closed:
            try:
                ws = await self._client.connect_events()
            except AriError as exc:
                delay = next(delays)
                log.warning(
                    "ARI events: cannot connect (%s); retrying in %.1f s",
                    exc.error_id if exc.status is None else f"{exc.error_id} {exc.status}",
                    delay,
                )
                await self._sleep(delay)
                continue
            self._ws = ws
            try:
                try:
                    application = await self._client.get_application()
                except AriError as exc:
                    log.warning("ARI events: resync failed (%s); reconnecting", exc.error_id)
                    await ws.close()
                    await self._sleep(next(delays))
                    continue
                reconnect = self.connections > 0
                self.connections += 1
                delays = backoff_delays(self._client.settings.reconnect, self._rng)
                log.info(
                    "ARI events: %s, %d channel(s) in the application",
                    "reconnected" if reconnect else "connected",
                    len(application.channel_ids),
                )
                self.connected = True
                blind_since, self._blind_since = self._blind_since, None
                self.last_frame = time.monotonic()
                self._tell_connected()
                yield _connected(self._client.app, application, reconnect, blind_since)
                async for message in ws:
                    received = time.monotonic()
                    self.last_frame = received
                    if message.type == aiohttp.WSMsgType.TEXT:
                        raw = self._load(message.data)
                        if raw is None:
                            continue
                        if (look := self.first_look) is not None:
                            try:
                                if (ahead := look(raw, received)) is not None:
                                    await ahead
                            except Exception:
                                # Whatever the look did, the frame goes on to the consumer.
                                log.exception("ARI events: the first look at a frame failed")
                        event = self._event(raw, received)
                        if event is not None:
                            yield event
                            # Logged once the event is handled: a key press reaches its
                            # handler before the event log's redaction and encoding.
                            self._log_raw(raw)
                    elif message.type is aiohttp.WSMsgType.ERROR:
                        if isinstance(message.data, aiohttp.WebSocketError):
                            # A frame the websocket layer refuses (too big, invalid
                            # UTF-8): it drops the connection; the resync covers the gap.
                            self._drop(f"broke the websocket ({message.data})")
                        break
                    elif message.type is aiohttp.WSMsgType.CLOSE:
                        break
            finally:
                if self._ws is ws:
                    self._lost()
                    self._ws = None
                await ws.close()
            if not self._closed:
                log.warning("ARI events: connection lost; reconnecting")
                await self._sleep(next(delays))

    def _tell_connected(self) -> None:
        if self._on_connected is None:
            return
        try:
            self._on_connected()
        except Exception as exc:
            # Whatever the listener does, the events go on.
            log.error("ARI events: the connection listener failed (%s)", type(exc).__name__)

    def _lost(self) -> None:
        """The connection is gone: events may have been lost from the last frame read,
        not only from now (a link that went deaf first, or a reset, drops what was in
        flight)."""
        if self.connected and self._blind_since is None:
            self._blind_since = self.last_frame
        self.connected = False

    def _decode(self, text: str, received: float) -> tuple[Event, dict[str, Any]] | None:
        """One message to one event. Nothing a message holds may end the iteration:
        a frame nested thousands deep raises RecursionError, not ValueError."""
        data = self._load(text)
        if data is None:
            return None
        event = self._event(data, received)
        return None if event is None else (event, data)

    def _load(self, text: str) -> dict[str, Any] | None:
        """A message's JSON object, or None (dropped)."""
        try:
            data = json.loads(text)
        except Exception as exc:
            self._drop(f"is not decodable JSON ({type(exc).__name__})")
            return None
        if not isinstance(data, dict):
            self._drop("is not a JSON object")
            return None
        return data

    def _event(self, data: dict[str, Any], received: float) -> Event | None:
        """A decoded message's event, or None (dropped)."""
        try:
            event = parse_event(data, received)
        except Exception as exc:
            self._drop(f"could not be read as an event ({type(exc).__name__})")
            return None
        missing = missing_id(event)
        if missing:
            self._drop(missing)
            return None
        return event

    def _drop(self, why: str) -> None:
        self.dropped += 1
        log.warning("ARI events: dropped a message that %s (%d dropped so far)", why, self.dropped)

    def _log_raw(self, raw: dict[str, Any]) -> None:
        if self._on_raw is None:
            return
        try:
            self._on_raw(raw)
        except Exception as exc:
            log.error("ARI events: the event log failed (%s)", type(exc).__name__)


def _connected(
    app: str, application: Application, reconnect: bool, blind_since: float | None
) -> StreamConnected:
    return StreamConnected(
        type="StreamConnected",
        application=app,
        timestamp="",
        received=time.monotonic(),
        state=application,
        reconnect=reconnect,
        blind_since=blind_since if reconnect else None,
    )
