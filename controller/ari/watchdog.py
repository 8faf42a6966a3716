"""Keeps the ARI event path alive: one bad event never stops it, and a consumer that
died, a websocket that went deaf, or an application another client took over is
noticed and replaced by a fresh connection (followed by the usual resync).

The liveness probe is end to end: ``GET /applications/{app}`` must still list the
application, and a user event sent to it must come back through our own websocket and
handler. A TCP-level ping would miss the two worst cases: a websocket displaced by a
second controller (Asterisk still answers pings) and a consumer that is stuck.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from controller import stoppoints
from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.ari.events import Event, GenericEvent
from controller.ari.stream import EventStream

log = logging.getLogger("reccontrol.ari")

# Crash tests may stop the daemon right after a given event was handled; read once,
# so the per-event cost is one test of a constant.
_STOPS_ASKED = bool(os.environ.get(stoppoints.ENV))
PROBE_EVENT = "ChannelUserevent"
PROBE_PREFIX = "reccontrol-probe-"


class Verdict(enum.Enum):
    ALIVE = "alive"
    DISPLACED = "displaced"
    """The application is no longer registered to our websocket."""
    SILENT = "silent"
    """The probe never came back: deaf websocket, stuck consumer or another client."""
    UNREACHABLE = "unreachable"
    """Asterisk does not answer REST; the stream's own reconnect deals with that."""


class EventHandler(Protocol):
    async def handle(self, event: Event) -> None: ...


class Watchdog:
    """Sends probes and recognises them when they come back."""

    def __init__(self, client: AriClient, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._numbers = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def observe(self, event: Event) -> bool:
        """True if ``event`` is one of our probes (then nobody else needs it)."""
        if event.type != PROBE_EVENT or not isinstance(event, GenericEvent):
            return False
        name = event.raw.get("eventname")
        if not isinstance(name, str) or not name.startswith(PROBE_PREFIX):
            return False
        waiter = self._waiting.get(name)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    async def probe(self) -> Verdict:
        try:
            await self._client.get_application()
        except AriNotFound:
            return Verdict.DISPLACED
        except AriError:
            return Verdict.UNREACHABLE
        name = f"{PROBE_PREFIX}{next(self._numbers)}"
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[name] = waiter
        try:
            try:
                await self._client.send_user_event(name)
            except AriNotFound:
                return Verdict.DISPLACED
            except AriError:
                return Verdict.UNREACHABLE
            try:
                await asyncio.wait_for(waiter, self._timeout)
            except TimeoutError:
                return Verdict.SILENT
            return Verdict.ALIVE
        finally:
            del self._waiting[name]


# A consumer that ends within QUICK_DEATH seconds of its start is restarted after a
# growing delay, up to MAX_RESTART_DELAY.
QUICK_DEATH = 1.0
MAX_RESTART_DELAY = 30.0

AlertSink = Callable[[str, str], None]
"""``(kind, message)``: an alert row for the operators."""


@dataclass
class PumpCounters:
    handler_errors: int = 0
    """Events whose handling raised; each was logged and the loop went on."""
    consumer_restarts: int = 0
    """Consumers that ended on their own and were replaced."""
    forced_reconnects: int = 0
    """Connections dropped because a probe failed."""


class EventPump:
    """Feeds the stream's events to the handler, and keeps doing so whatever happens."""

    def __init__(
        self,
        stream: EventStream,
        handler: EventHandler,
        watchdog: Watchdog,
        *,
        interval: float,
        alert: AlertSink,
    ) -> None:
        self._stream = stream
        self.handler = handler
        self.watchdog = watchdog
        self._interval = interval
        self._alert = alert
        self.counters = PumpCounters()
        self.consumer: asyncio.Task[None] | None = None
        self.restarted = asyncio.Event()
        """Set each time a consumer is replaced (for health checks and tests)."""

    async def run(self) -> None:
        quick_deaths = 0
        try:
            while True:
                started = time.monotonic()
                self.consumer = asyncio.create_task(self._consume(), name="reccontrol-ari-events")
                await self._watch(self.consumer)
                self.restarted.set()
                # A consumer that dies at once again and again must not spin: back off.
                if time.monotonic() - started < QUICK_DEATH:
                    quick_deaths += 1
                    await asyncio.sleep(min(MAX_RESTART_DELAY, 0.05 * 2**quick_deaths))
                else:
                    quick_deaths = 0
        finally:
            if self.consumer is not None:
                self.consumer.cancel()
                await asyncio.gather(self.consumer, return_exceptions=True)

    async def _watch(self, consumer: asyncio.Task[None]) -> None:
        """Returns once ``consumer`` has ended or was ended for failing a probe."""
        while True:
            await asyncio.wait([consumer], timeout=self._interval)
            if consumer.done():
                self.counters.consumer_restarts += 1
                why = "cancelled" if consumer.cancelled() else repr(consumer.exception())
                log.error("ARI events: the event consumer stopped (%s); reconnecting", why)
                self._alert("ari_consumer_stopped", f"the ARI event consumer stopped: {why}")
                return
            if not self._stream.connected:
                continue
            verdict = await self.watchdog.probe()
            if verdict in (Verdict.ALIVE, Verdict.UNREACHABLE):
                continue
            self.counters.forced_reconnects += 1
            if verdict is Verdict.DISPLACED:
                message = (
                    f"ARI application {self._stream.app!r} is no longer registered to this "
                    "controller (another client took it, or Asterisk dropped it); reconnecting"
                )
            else:
                message = (
                    "ARI events: a probe sent to the application never came back; reconnecting"
                )
            log.error("%s", message)
            self._alert(f"ari_{verdict.value}", message)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            return

    async def _consume(self) -> None:
        async for event in self._stream:
            if self.watchdog.observe(event):
                continue
            try:
                await self.handler.handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One bad event must never stop the loop that every other call depends on.
                self.counters.handler_errors += 1
                log.exception("error while handling %s", event.type)
            if _STOPS_ASKED:
                stoppoints.stop_point(f"after:{event.type}")
