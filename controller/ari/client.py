"""A thin ARI client on aiohttp: REST calls out, typed events in.

It only speaks HTTP and WebSocket; what to do with a call is decided elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from controller.ari.errors import AriError, AriNotFound, AriUnavailable, error_for_status
from controller.ari.events import Event, StreamConnected, missing_id, parse_event
from controller.ari.models import Application, Bridge, Channel, LiveRecording, Playback, Sound
from controller.ari.settings import AriConnection, ReconnectSettings

log = logging.getLogger("reccontrol.ari")

Params = Mapping[str, str | int | float | bool | None]


def _enc(segment: str) -> str:
    return quote(segment, safe="")


class AriClient:
    """REST side of ARI. Every call returns a typed result or raises an :class:`AriError`."""

    def __init__(self, settings: AriConnection, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._base = settings.url.rstrip("/") + "/ari"
        # Built once; the header value is never logged and the password never enters a URL.
        self._headers = {
            "Authorization": aiohttp.encode_basic_auth(
                settings.username, settings.password.reveal()
            )
        }
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout)

    @property
    def app(self) -> str:
        return self._settings.app

    @property
    def settings(self) -> AriConnection:
        return self._settings

    # -- transport -------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Any = None,
    ) -> Any:
        """Sends one request; returns the decoded JSON body, or None for 204."""
        query = {
            k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in (params or {}).items()
            if v is not None
        }
        try:
            async with self._session.request(
                method,
                self._base + path,
                params=query,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                if response.status == 204:
                    return None
                text = await response.text()
                if response.status >= 300:
                    raise error_for_status(method, path, response.status, _ari_message(text))
                if not text:
                    return None
                try:
                    return json.loads(text)
                except ValueError:
                    raise AriError(method, path, response.status, "answer is not JSON") from None
        except AriError:
            raise
        except TimeoutError:
            raise AriUnavailable(method, path, None, "no answer in time") from None
        except aiohttp.ClientError as exc:
            raise AriUnavailable(method, path, None, type(exc).__name__) from None

    # -- applications ----------------------------------------------------------------
    async def get_application(self, app: str | None = None) -> Application:
        data = await self.request("GET", f"/applications/{_enc(app or self.app)}")
        return Application.parse(data)

    async def send_user_event(self, name: str) -> None:
        """Sends a user event to this application only: it comes back on the events
        websocket, which proves the whole event path is alive."""
        await self.request("POST", f"/events/user/{_enc(name)}", {"application": self.app})

    async def asterisk_info(self) -> dict[str, Any]:
        data = await self.request("GET", "/asterisk/info")
        return data if isinstance(data, dict) else {}

    # -- sounds ----------------------------------------------------------------------
    async def sound_languages(self, sound_id: str) -> frozenset[str]:
        """The languages Asterisk's sound index holds ``sound_id`` in; empty when it has
        no such sound. Asterisk indexes its sounds folder only, and takes each folder
        directly in it for a language."""
        try:
            data = await self.request("GET", f"/sounds/{_enc(sound_id)}")
        except AriNotFound:
            return frozenset()
        return Sound.parse(data).languages

    # -- channels --------------------------------------------------------------------
    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.parse(await self.request("GET", f"/channels/{_enc(channel_id)}"))

    async def list_channels(self) -> list[Channel]:
        data = await self.request("GET", "/channels")
        return [Channel.parse(c) for c in data] if isinstance(data, list) else []

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        caller_id: str | None = None,
        ring_timeout: int | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """``other_channel_id`` names the far half (``;2``) of a Local channel."""
        params: dict[str, str | int | None] = {
            "endpoint": endpoint,
            "callerId": caller_id,
            "timeout": ring_timeout,
            "channelId": channel_id,
            "otherChannelId": other_channel_id,
            "originator": originator,
        }
        if context is not None:
            params.update(context=context, extension=extension, priority=priority or 1)
        else:
            params.update(app=app or self.app, appArgs=app_args)
        body = {"variables": dict(variables)} if variables else None
        return Channel.parse(await self.request("POST", "/channels", params, body))

    async def snoop(
        self,
        channel_id: str,
        snoop_id: str,
        app_args: str,
        spy: str = "both",
        whisper: str = "none",
    ) -> None:
        """A channel ``snoop_id`` into the application that hears ``spy`` directions of
        ``channel_id`` (``in``, ``out``, ``both``, ``none``) and speaks in ``whisper``
        ones: by default it hears both and says nothing."""
        params = {"spy": spy, "whisper": whisper, "app": self.app, "appArgs": app_args}
        await self.request("POST", f"/channels/{_enc(channel_id)}/snoop/{_enc(snoop_id)}", params)

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_enc(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{_enc(channel_id)}", {"reason": reason})

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_enc(channel_id)}/continue",
            {"context": context, "extension": extension, "priority": priority},
        )

    async def play(
        self,
        channel_id: str,
        media: str | list[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        media_param = ",".join(media) if isinstance(media, list) else media
        path = f"/channels/{_enc(channel_id)}/play"
        if playback_id:
            path += f"/{_enc(playback_id)}"
        data = await self.request("POST", path, {"media": media_param, "lang": lang})
        return Playback.parse(data)

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_enc(playback_id)}")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_enc(channel_id)}/ring")

    async def get_variable(self, channel_id: str, variable: str) -> str:
        data = await self.request(
            "GET", f"/channels/{_enc(channel_id)}/variable", {"variable": variable}
        )
        value = data.get("value") if isinstance(data, dict) else None
        return value if isinstance(value, str) else ""

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_enc(channel_id)}/variable",
            {"variable": variable, "value": value},
        )

    # -- bridges ---------------------------------------------------------------------
    async def create_bridge(
        self, bridge_type: str = "mixing", *, bridge_id: str | None = None, name: str | None = None
    ) -> Bridge:
        params = {"type": bridge_type, "bridgeId": bridge_id, "name": name}
        return Bridge.parse(await self.request("POST", "/bridges", params))

    async def list_bridges(self) -> list[Bridge]:
        data = await self.request("GET", "/bridges")
        return [Bridge.parse(b) for b in data] if isinstance(data, list) else []

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return Bridge.parse(await self.request("GET", f"/bridges/{_enc(bridge_id)}"))

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_enc(bridge_id)}")

    async def add_channel(
        self, bridge_id: str, channel_id: str, *, absorb_dtmf: bool = True, role: str | None = None
    ) -> None:
        # absorbDTMF keeps key presses out of the mix: otherwise they reach the other
        # party and the recorder drops audio while a digit is held.
        await self.request(
            "POST",
            f"/bridges/{_enc(bridge_id)}/addChannel",
            {"channel": channel_id, "absorbDTMF": absorb_dtmf, "role": role},
        )

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self.request("POST", f"/bridges/{_enc(bridge_id)}/moh", {"mohClass": moh_class})

    async def stop_bridge_moh(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_enc(bridge_id)}/moh")

    async def start_channel_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self.request("POST", f"/channels/{_enc(channel_id)}/moh", {"mohClass": moh_class})

    async def stop_channel_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{_enc(channel_id)}/moh")

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST", f"/bridges/{_enc(bridge_id)}/removeChannel", {"channel": channel_id}
        )

    async def record_bridge(
        self,
        bridge_id: str,
        name: str,
        *,
        fmt: str = "wav",
        if_exists: str = "fail",
        beep: bool = False,
        terminate_on: str = "none",
    ) -> LiveRecording:
        data = await self.request(
            "POST",
            f"/bridges/{_enc(bridge_id)}/record",
            {
                "name": name,
                "format": fmt,
                "ifExists": if_exists,
                "beep": beep,
                "terminateOn": terminate_on,
            },
        )
        return LiveRecording.parse(data)

    # -- recordings ------------------------------------------------------------------
    async def pause_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{_enc(name)}/pause")

    async def unpause_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/live/{_enc(name)}/pause")

    async def mute_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{_enc(name)}/mute")

    async def unmute_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/live/{_enc(name)}/mute")

    # -- channels' audio -------------------------------------------------------------
    async def mute_channel(self, channel_id: str, direction: str = "in") -> None:
        """Drops the channel's audio frames (``in``: what the channel sends), not its
        key presses."""
        await self.request("POST", f"/channels/{_enc(channel_id)}/mute", {"direction": direction})

    async def unmute_channel(self, channel_id: str, direction: str = "in") -> None:
        await self.request(
            "DELETE", f"/channels/{_enc(channel_id)}/mute", {"direction": direction}
        )

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{_enc(name)}/stop")

    async def cancel_recording(self, name: str) -> None:
        """Stops a live recording and discards its file (C2: not ``stop``)."""
        await self.request("DELETE", f"/recordings/live/{_enc(name)}")

    async def get_live_recording(self, name: str) -> LiveRecording:
        return LiveRecording.parse(await self.request("GET", f"/recordings/live/{_enc(name)}"))

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{_enc(name)}")

    # -- two-channel recordings (R5) -------------------------------------------------
    async def record_channel(self, channel_id: str, name: str, *, fmt: str = "wav") -> None:
        await self.request(
            "POST",
            f"/channels/{_enc(channel_id)}/record",
            {"name": name, "format": fmt, "ifExists": "fail", "beep": False, "terminateOn": "none"},
        )

    # -- events ----------------------------------------------------------------------
    async def connect_events(self, heartbeat: float = 10.0) -> aiohttp.ClientWebSocketResponse:
        url = self._base.replace("http", "ws", 1) + "/events"
        try:
            # The upgrade gets the deadline of any request: without it, an Asterisk whose
            # HTTP server takes the connection and never answers holds the stream (and so
            # every call) for the session's default of five minutes instead of a retry.
            async with asyncio.timeout(self._settings.request_timeout):
                return await self._session.ws_connect(
                    url,
                    params={"app": self.app, "subscribeAll": "false"},
                    headers=self._headers,
                    heartbeat=heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                )
        except TimeoutError:
            raise AriUnavailable("GET", "/events", None, "no answer in time") from None
        except aiohttp.WSServerHandshakeError as exc:
            raise error_for_status("GET", "/events", exc.status, exc.message) from None
        except aiohttp.ClientError as exc:
            raise AriUnavailable("GET", "/events", None, type(exc).__name__) from None


def _ari_message(text: str) -> str:
    """The ``message`` of an ARI error body, or a short excerpt of the text."""
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])[:200]
    return text.strip()[:200]


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
                        decoded = self._decode(message.data, received)
                        if decoded is not None:
                            event, raw = decoded
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
        try:
            data = json.loads(text)
        except Exception as exc:
            self._drop(f"is not decodable JSON ({type(exc).__name__})")
            return None
        if not isinstance(data, dict):
            self._drop("is not a JSON object")
            return None
        try:
            event = parse_event(data, received)
        except Exception as exc:
            self._drop(f"could not be read as an event ({type(exc).__name__})")
            return None
        missing = missing_id(event)
        if missing:
            self._drop(missing)
            return None
        return event, data

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
