"""A bare ARI client for the integration tests: raw REST calls and every event kept.

Deliberately independent of controller.ari, so the sandbox is checked with nothing
between the test and Asterisk.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from controller.sandbox import SandboxInstance

Event = dict[str, Any]


class AriProbe:
    """REST calls plus the event stream of one ARI application, in arrival order."""

    def __init__(self, instance: SandboxInstance, session: aiohttp.ClientSession) -> None:
        self.instance = instance
        self.session = session
        self.base = instance.ari_url + "/ari"
        self.events: list[Event] = []
        self._arrived = asyncio.Condition()

    async def call(
        self, method: str, path: str, body: Any = None, **params: str | int
    ) -> tuple[int, Any]:
        query = {k: str(v) for k, v in params.items()}
        async with self.session.request(
            method, self.base + path, params=query, json=body
        ) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text.strip() else None)

    async def expect(
        self, status: int, method: str, path: str, body: Any = None, **params: str | int
    ) -> Any:
        got, answer = await self.call(method, path, body, **params)
        assert got == status, f"{method} {path} answered {got}: {answer}"
        return answer

    async def wait_for(
        self, kind: str, where: Callable[[Event], bool] = lambda e: True, within: float = 10.0
    ) -> Event:
        """The first event of type ``kind`` matching ``where``, received at any time."""
        deadline = time.monotonic() + within
        async with self._arrived:
            while True:
                for event in self.events:
                    if event["type"] == kind and where(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [e["type"] for e in self.events]
                    raise AssertionError(f"no {kind} within {within} s; events: {seen}")
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    pass

    async def until_channels_gone(self, since: int = 0, within: float = 10.0) -> None:
        """Waits until every channel created since event number ``since`` is destroyed
        (needs ``subscribe_all``). Closing the websocket while Asterisk 22 still tears
        channels down, then connecting the next one, has been seen to hang Asterisk:
        its CLI stopped answering, once in a few dozen connections."""
        deadline = time.monotonic() + within

        def ids(kind: str) -> set[str]:
            return {e["channel"]["id"] for e in self.events[since:] if e["type"] == kind}

        async with self._arrived:
            while not ids("ChannelCreated") <= ids("ChannelDestroyed"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    left = ids("ChannelCreated") - ids("ChannelDestroyed")
                    raise AssertionError(f"channels still up after {within} s: {sorted(left)}")
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    pass

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                async with self._arrived:
                    self.events.append(json.loads(message.data))
                    self._arrived.notify_all()

    async def originate(
        self, endpoint: str, variables: dict[str, str] | None = None, **params: str | int
    ) -> str:
        """Originates ``endpoint``; ``params`` say where it goes (``app``, or
        ``context``/``extension``), ``variables`` are set on the new channel."""
        body = {"variables": variables} if variables else None
        channel = await self.expect(200, "POST", "/channels", body, endpoint=endpoint, **params)
        return str(channel["id"])


def basic_auth(instance: SandboxInstance) -> dict[str, str]:
    # aiohttp 3.14 deprecates BasicAuth and auth=: send the header ourselves.
    return {
        "Authorization": aiohttp.encode_basic_auth(instance.ari_username, instance.ari_password)
    }


@asynccontextmanager
async def ari_app(
    instance: SandboxInstance, app: str = "reccontrol", subscribe_all: bool = False
) -> AsyncIterator[AriProbe]:
    """Connects the events websocket of ``app`` and yields a probe bound to it."""
    async with aiohttp.ClientSession(headers=basic_auth(instance)) as session:
        probe = AriProbe(instance, session)
        params = {"app": app, "subscribeAll": "true" if subscribe_all else "false"}
        async with session.ws_connect(instance.events_url, params=params) as ws:
            reader = asyncio.create_task(probe._read(ws))
            try:
                yield probe
            finally:
                reader.cancel()
