"""A thin ARI client on aiohttp: REST calls out, typed events in.

It only speaks HTTP and WebSocket; what to do with a call is decided elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from controller.ari.errors import AriError, AriNotFound, AriUnavailable, error_for_status
from controller.ari.models import Application, Bridge, Channel, LiveRecording, Playback, Sound
from controller.ari.settings import AriConnection

Params = Mapping[str, str | int | float | bool | None]


# What quote() leaves as it is: the ids and names reccontrol chooses are made of these.
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def _enc(segment: str) -> str:
    # One set test in place of the codec for our own ids: a pause's URL is built on the
    # way from the key to its POST.
    return segment if _UNRESERVED.issuperset(segment) else quote(segment, safe="")


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
        # None without parameters (a pause's POST has none): nothing to build.
        query = (
            {
                k: ("true" if v is True else "false" if v is False else str(v))
                for k, v in params.items()
                if v is not None
            }
            if params
            else None
        )
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
        formats: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """``other_channel_id`` names the far half (``;2``) of a Local channel.
        ``formats`` (``ulaw``, ``alaw,g722``...): the codecs the new channel may use when
        there is no ``originator`` to take them from; without either, Asterisk offers every
        audio format, and a Local channel then takes the richest (``slin192``)."""
        params: dict[str, str | int | None] = {
            "endpoint": endpoint,
            "callerId": caller_id,
            "timeout": ring_timeout,
            "channelId": channel_id,
            "otherChannelId": other_channel_id,
            "originator": originator,
            "formats": formats,
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
