"""The reference: the smallest asyncio ARI application that pauses on a key.

Raw aiohttp, its own application name and websocket, no reccontrol code. It bridges a
caller and an agent, records the bridge, and when the agent keys ``*2`` it POSTs the
pause straight from the websocket reader, before reading the next frame (``*3``
resumes the same way). This is how the sandbox notes measured the 2 ms budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.waiting import wait_until
from controller.sandbox import SandboxInstance

RawEvent = dict[str, Any]


@dataclass
class Pause:
    """One key-triggered pause, in milliseconds from the frame's arrival."""

    reaction_ms: float
    """To the 204 of ``POST /recordings/live/{name}/pause``."""
    sent_ms: float
    """To the moment the POST was handed to aiohttp."""
    received: float
    """``time.monotonic()`` when the frame was read."""


@dataclass
class _Watch:
    agent_id: str
    recording: str
    last_digit: str = ""


@dataclass
class BaselineApp:
    instance: SandboxInstance
    session: aiohttp.ClientSession
    app: str
    pauses: list[Pause] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _events: list[RawEvent] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _watch: _Watch | None = None
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return self.instance.ari_url + "/ari"

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": aiohttp.encode_basic_auth(
                self.instance.ari_username, self.instance.ari_password
            )
        }

    async def connect(self) -> None:
        self._ws = await self.session.ws_connect(
            self.instance.events_url,
            params={"app": self.app, "subscribeAll": "false"},
            headers=self.headers,
        )
        self._reader = asyncio.create_task(self._read(self._ws), name="baseline-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()

    # -- the part being measured ---------------------------------------------------------
    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            received = time.monotonic()
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            watch = self._watch
            if (
                watch is not None
                and event.get("type") == "ChannelDtmfReceived"
                and event["channel"]["id"] == watch.agent_id
            ):
                await self._key(watch, event["digit"], received)
                continue
            self._events.append(event)
            self._arrived.set()

    async def _key(self, watch: _Watch, digit: str, received: float) -> None:
        keys, watch.last_digit = watch.last_digit + digit, digit
        if keys not in ("*2", "*3"):
            return
        url = f"{self.base}/recordings/live/{watch.recording}/pause"
        sent = time.monotonic()
        method = "POST" if keys == "*2" else "DELETE"
        async with self.session.request(method, url, headers=self.headers) as response:
            status = response.status
        done = time.monotonic()
        if status != 204:
            self.failures.append(f"{method} pause answered {status}")
        elif keys == "*2":
            self.pauses.append(Pause((done - received) * 1000, (sent - received) * 1000, received))

    # -- setting up a recorded call --------------------------------------------------------
    async def _rest(self, method: str, path: str, **params: str) -> Any:
        async with self.session.request(
            method, self.base + path, params=params, headers=self.headers
        ) as response:
            text = await response.text()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path} answered {response.status}: {text[:200]}")
            return json.loads(text) if text.strip() else None

    async def wait_for(
        self, kind: str, where: Callable[[RawEvent], bool], within: float = 15.0
    ) -> RawEvent:
        deadline = time.monotonic() + within
        while True:
            for event in self._events:
                if event.get("type") == kind and where(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"baseline: no {kind} within {within} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def call(self, caller_script: str, agent_endpoint: str, pauses: int) -> None:
        """One recorded call; returns once the agent has keyed ``pauses`` pauses."""
        tag = secrets.token_hex(6)
        caller, agent, bridge = f"bench-{tag}-c", f"bench-{tag}-a", f"bench-{tag}-b"
        recording = f"bench-baseline-{tag}"
        self._events.clear()
        before = len(self.pauses)
        await self._rest(
            "POST",
            "/channels",
            endpoint=f"Local/{caller_script}@sim-caller",
            app=self.app,
            channelId=caller,
        )
        await self._rest(
            "POST", "/channels", endpoint=agent_endpoint, app=self.app, channelId=agent
        )
        try:
            for channel in (caller, agent):
                await self.wait_for("StasisStart", _on_channel(channel))
            await self._rest("POST", "/bridges", type="mixing", bridgeId=bridge)
            for channel in (caller, agent):
                await self._rest(
                    "POST", f"/bridges/{bridge}/addChannel", channel=channel, absorbDTMF="true"
                )
            await self._rest(
                "POST",
                f"/bridges/{bridge}/record",
                name=recording,
                format="wav",
                ifExists="overwrite",
            )
            await self.wait_for("RecordingStarted", lambda e: e["recording"]["name"] == recording)
            self._watch = _Watch(agent, recording)
            await wait_until(lambda: len(self.pauses) - before >= pauses, 4.0 + pauses * 1.0)
            # Let the last resume go out before hanging up.
            await asyncio.sleep(0.5)
        finally:
            self._watch = None
            for channel in (caller, agent):
                with contextlib.suppress(RuntimeError):
                    await self._rest("DELETE", f"/channels/{channel}")
            with contextlib.suppress(RuntimeError):
                await self._rest("DELETE", f"/bridges/{bridge}")
        got = len(self.pauses) - before
        if got < pauses:
            self.failures.append(f"call {tag}: {got} of {pauses} pauses measured")


def _on_channel(channel_id: str) -> Callable[[RawEvent], bool]:
    return lambda event: bool(event["channel"]["id"] == channel_id)
