"""A fake ARI server on aiohttp's test server, for error paths a real Asterisk cannot
produce on demand (a dropped websocket, a 500, a slow answer)."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

USERNAME = "reccontrol"
PASSWORD = "pa55-Fake-ARI-w0rd"


def ari_section(url: str) -> dict[str, Any]:
    """The site's ``ari`` section for a fake ARI at ``url``: its user, the password from
    the environment (``RECCONTROL_ARI_PASSWORD``), and reconnects fast enough for tests."""
    return {
        "url": url,
        "username": USERNAME,
        "password_env": "RECCONTROL_ARI_PASSWORD",
        "reconnect": {"initial_delay": 0.01, "max_delay": 0.1},
    }


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    authorization: str


@dataclass
class FakeAri:
    app_name: str = "reccontrol"
    channel_ids: list[str] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    # (method, path) -> (status, body); anything else answers 204.
    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    stalled: bool = False
    """Whether REST requests are held without an answer until the client gives up."""
    connections: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    registered: bool = False
    """Whether the application is registered; a new events websocket registers it."""
    echo_user_events: bool = True
    """Whether ``POST /events/user/{name}`` comes back on the websocket, as on Asterisk."""
    sound_languages: tuple[str, ...] = ("en", "fr")
    """Every sound ``GET /sounds/{id}`` is asked about exists in these languages..."""
    missing_sounds: set[str] = field(default_factory=set)
    """...except these, which are not found (404)."""
    events_refused: bool = False
    """While True, a new events websocket is refused (503), as by an Asterisk that is
    down or restarting; with :meth:`drop`, the daemon stays disconnected."""

    def authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return request.headers.get("Authorization") == expected

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ari/events", self.events)
        app.router.add_route("*", "/ari/{tail:.*}", self.rest)
        return app

    async def events(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Seen("GET", request.path, dict(request.query), request.headers.get("Authorization", ""))
        )
        if not self.authorized(request):
            raise web.HTTPUnauthorized()
        if self.events_refused:
            raise web.HTTPServiceUnavailable()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.registered = True
        self.connections += 1
        self.sockets.append(ws)
        self.connected.set()
        async for message in ws:
            if message.type == WSMsgType.CLOSE:
                break
        return ws

    async def send(self, event: dict[str, Any] | str) -> None:
        ws = self.sockets[-1]
        await ws.send_str(event if isinstance(event, str) else json.dumps(event))

    async def drop(self) -> None:
        """Closes the live websocket, the way a restarting Asterisk would."""
        self.connected.clear()
        for ws in self.sockets:
            await ws.close()
        self.sockets.clear()

    async def rest(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        del body
        self.requests.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("Authorization", ""),
            )
        )
        if self.stalled:
            await asyncio.Event().wait()
        if not self.authorized(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        key = (request.method, request.path)
        if key in self.answers:
            status, payload = self.answers[key]
            if isinstance(payload, str):
                return web.Response(status=status, text=payload)
            return web.json_response(payload, status=status)
        if key[0] == "GET" and request.path.startswith("/ari/sounds/"):
            return self.sound(unquote(request.raw_path.split("?")[0].removeprefix("/ari/sounds/")))
        if key[0] == "POST" and request.path.startswith("/ari/events/user/"):
            if not self.registered:
                return web.json_response({"message": "Application not found"}, status=404)
            if self.echo_user_events and self.sockets:
                name = request.path.rsplit("/", 1)[1]
                await self.send(event("ChannelUserevent", eventname=name, userevent={}))
            return web.Response(status=204)
        if key == ("GET", f"/ari/applications/{self.app_name}"):
            if not self.registered:
                return web.json_response({"message": "Application not found"}, status=404)
            return web.json_response(
                {
                    "name": self.app_name,
                    "channel_ids": list(self.channel_ids),
                    "bridge_ids": [],
                    "endpoint_ids": [],
                    "device_names": [],
                }
            )
        return web.Response(status=204)

    def sound(self, sound_id: str) -> web.Response:
        if sound_id in self.missing_sounds:
            return web.json_response({"message": "Sound not found"}, status=404)
        formats = [{"language": lang, "format": "gsm"} for lang in self.sound_languages]
        return web.json_response({"id": sound_id, "formats": formats})


def channel(
    channel_id: str, name: str = "Local/caller@sim-0001;1", number: str = ""
) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": name,
        "state": "Ring",
        "caller": {"name": "", "number": number},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {"context": "reccontrol-inbound", "exten": "sales", "priority": 1},
        "creationtime": "2026-11-29T10:00:00.000+0000",
        "language": "fr",
    }


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "application": "reccontrol",
        "timestamp": "2026-11-29T10:00:00.000+0000",
        "asterisk_id": "00:00:00:00:00:01",
        **fields,
    }
