"""The AMI connection: login, actions matched to their answers by ``ActionID`` with a
deadline each, events dispatched, and reconnection with backoff.

One TCP connection to Asterisk's manager port. :meth:`AmiClient.run` keeps it up: it
logs in (the secret never logged, never in a repr), reads messages until the
connection ends, then tries again after a delay that doubles up to a cap. Each action
waits for its own answer at most its deadline; a connection lost fails every action
waiting on it at once (:class:`NotConnected`), never leaves it hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.ami.errors import (
    ActionFailed,
    ActionTimeout,
    AmiError,
    BadMessage,
    LoginRefused,
    NotConnected,
)
from controller.ami.protocol import (
    MAX_LINE,
    AmiMessage,
    Fields,
    MessageReader,
    action,
    parse_banner,
)
from controller.config.model import AmiSettings

log = logging.getLogger("reccontrol.ami")

EventHandler = Callable[[AmiMessage], None]


@dataclass
class _Waiting:
    name: str
    answer: asyncio.Future[AmiMessage]
    listing: bool = False
    """An action whose answer is a list of events, ended by ``EventList: Complete``."""
    events: list[AmiMessage] = field(default_factory=list)
    response: AmiMessage | None = None


class AmiClient:
    def __init__(
        self,
        settings: AmiSettings,
        *,
        deadline: float = 5.0,
        on_event: EventHandler | None = None,
        initial_delay: float = 0.5,
        max_delay: float = 10.0,
    ) -> None:
        self._settings = settings
        self._deadline = deadline
        self._on_event = on_event
        self._initial_delay, self._max_delay = initial_delay, max_delay
        self._ids = itertools.count(1)
        self._waiting: dict[str, _Waiting] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._closed = False
        self.connected = asyncio.Event()
        self.banner = ""
        self.logins = 0
        """Successful logins so far: more than one means a reconnection."""

    def __repr__(self) -> str:
        s = self._settings
        return f"AmiClient({s.username}@{s.host}:{s.port})"

    # -- the connection --------------------------------------------------------------
    async def connect(self) -> None:
        """One attempt: connects, reads the greeting, logs in. Raises
        :class:`LoginRefused`, :class:`ActionTimeout`, :class:`BadMessage` or
        :class:`NotConnected` (the port refused or the peer hung up)."""
        await self._drop()
        s = self._settings
        try:
            async with asyncio.timeout(self._deadline):
                reader, writer = await asyncio.open_connection(s.host, s.port, limit=MAX_LINE)
                try:
                    self.banner = parse_banner(await _line(reader))
                except BaseException:
                    writer.close()
                    raise
        except TimeoutError:
            raise ActionTimeout(f"AMI at {s.host}:{s.port} did not greet in time") from None
        except OSError as exc:
            raise NotConnected(f"AMI at {s.host}:{s.port}: {exc.strerror or exc}") from None
        self._writer = writer
        self._reading = asyncio.create_task(self._read(reader), name="reccontrol-ami-reader")
        events = "on" if self._on_event is not None else "off"
        try:
            await self.send(
                "Login",
                {"Username": s.username, "Secret": s.password.reveal(), "Events": events},
            )
        except ActionFailed as exc:
            await self._drop()
            raise LoginRefused("Login", exc.reason) from None
        except AmiError:
            await self._drop()
            raise
        self.logins += 1
        self.connected.set()

    async def run(self) -> None:
        """Keeps a logged-in connection until :meth:`close`, reconnecting with backoff."""
        delay = self._initial_delay
        while not self._closed:
            try:
                await self.connect()
            except AmiError as exc:
                log.warning("AMI: %s (%s); trying again in %.1f s", exc, exc.error_id, delay)
            else:
                log.info("AMI: logged in to %s:%d", self._settings.host, self._settings.port)
                delay = self._initial_delay
                assert self._reading is not None
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self._reading)
                if self._closed:
                    return
                log.warning("AMI: connection lost; trying again in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    async def close(self) -> None:
        self._closed = True
        if self._writer is not None and self.connected.is_set():
            with contextlib.suppress(AmiError, OSError):
                await self.send("Logoff", deadline=1.0)
        await self._drop()

    async def _drop(self) -> None:
        self.connected.clear()
        writer, self._writer = self._writer, None
        reading, self._reading = self._reading, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if reading is not None and reading is not asyncio.current_task():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        self._fail_all("the AMI connection was closed")

    def _fail_all(self, why: str) -> None:
        waiting, self._waiting = self._waiting, {}
        for entry in waiting.values():
            if not entry.answer.done():
                entry.answer.set_exception(NotConnected(f"{entry.name}: {why}"))

    # -- reading ---------------------------------------------------------------------
    async def _read(self, reader: asyncio.StreamReader) -> None:
        messages = MessageReader()
        try:
            while True:
                got = messages.feed(await _line(reader))
                if got is not None:
                    self._dispatch(got)
        except BadMessage as exc:
            log.error("AMI: %s (%s); reconnecting", exc, exc.error_id)
        except NotConnected:
            pass
        finally:
            self.connected.clear()
            if self._writer is not None:
                self._writer.close()
            self._fail_all("the AMI connection was lost")

    def _dispatch(self, message: AmiMessage) -> None:
        entry = self._waiting.get(message.action_id or "")
        if entry is None:
            if message.event is not None and self._on_event is not None:
                try:
                    self._on_event(message)
                except Exception:
                    log.exception("AMI: an event handler failed")
            return
        if message.response is not None:
            if message.response.lower() == "error":
                self._finish(entry, error=ActionFailed(entry.name, message.get("Message") or ""))
            elif entry.listing and (message.get("EventList") or "").lower() == "start":
                entry.response = message
            else:
                self._finish(entry, answer=message)
        elif entry.listing:
            if (message.get("EventList") or "").lower() == "complete":
                self._finish(entry, answer=entry.response or message)
            else:
                entry.events.append(message)

    def _finish(
        self, entry: _Waiting, *, answer: AmiMessage | None = None, error: AmiError | None = None
    ) -> None:
        key = next((k for k, v in self._waiting.items() if v is entry), None)
        if key is not None:
            del self._waiting[key]
        if entry.answer.done():
            return
        if error is not None:
            entry.answer.set_exception(error)
        elif answer is not None:
            entry.answer.set_result(answer)

    # -- actions ---------------------------------------------------------------------
    async def send(
        self, name: str, fields: Fields = (), *, deadline: float | None = None
    ) -> AmiMessage:
        """One action and its answer; :class:`ActionFailed` for ``Response: Error``."""
        entry = await self._submit(name, fields, listing=False, deadline=deadline)
        return await self._await(entry, deadline)

    async def send_list(
        self, name: str, fields: Fields = (), *, deadline: float | None = None
    ) -> list[AmiMessage]:
        """An action answered by a list of events (``CoreShowChannels``): the events."""
        entry = await self._submit(name, fields, listing=True, deadline=deadline)
        await self._await(entry, deadline)
        return entry.events

    async def _submit(
        self, name: str, fields: Fields, *, listing: bool, deadline: float | None
    ) -> _Waiting:
        writer = self._writer
        if writer is None or (self._reading is not None and self._reading.done()):
            raise NotConnected(f"{name}: no AMI connection")
        action_id = f"rc-{next(self._ids)}"
        data = action(name, action_id, fields)
        entry = _Waiting(name, asyncio.get_running_loop().create_future(), listing)
        self._waiting[action_id] = entry
        try:
            writer.write(data)
            async with asyncio.timeout(deadline or self._deadline):
                await writer.drain()
        except (OSError, TimeoutError):
            self._waiting.pop(action_id, None)
            raise NotConnected(f"{name}: the AMI connection failed while sending") from None
        return entry

    async def _await(self, entry: _Waiting, deadline: float | None) -> AmiMessage:
        try:
            async with asyncio.timeout(deadline or self._deadline):
                return await entry.answer
        except TimeoutError:
            for key, value in list(self._waiting.items()):
                if value is entry:
                    del self._waiting[key]
            raise ActionTimeout(f"no answer to {entry.name} in time") from None

    # -- what the FastAGI path asks of AMI ---------------------------------------------
    async def mixmonitor_mute(self, channel: str, mute: bool, direction: str = "both") -> None:
        """Mutes (silence in the file) or unmutes the MixMonitor on ``channel``."""
        fields = {"Channel": channel, "Direction": direction, "State": "1" if mute else "0"}
        await self.send("MixMonitorMute", fields)

    async def mixmonitor(self, channel: str, file: str, options: str = "") -> None:
        await self.send("MixMonitor", {"Channel": channel, "File": file, "Options": options})

    async def stop_mixmonitor(self, channel: str, mixmonitor_id: str = "") -> None:
        fields = {"Channel": channel} | ({"MixMonitorID": mixmonitor_id} if mixmonitor_id else {})
        await self.send("StopMixMonitor", fields)

    async def channels(self) -> list[AmiMessage]:
        """``CoreShowChannels``: one event per channel Asterisk has (read-only)."""
        return await self.send_list("CoreShowChannels")


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        raw = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):
        raise BadMessage(f"a line over {MAX_LINE} bytes") from None
    except ConnectionError:
        raise NotConnected("the AMI connection was reset") from None
    if not raw:
        raise NotConnected("Asterisk closed the AMI connection")
    if not raw.endswith(b"\n"):
        raise NotConnected("the AMI connection ended in the middle of a line")
    return raw
