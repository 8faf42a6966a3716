"""A daemon reaching the sandbox Asterisk through a :class:`TcpProxy` the test cuts, with
a spy on the events it handles, and an agent whose keys the test presses at a chosen
moment (the ``waitkeys`` agent script), whether the daemon can hear them or not."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import yaml

from controller.ari import AriClient
from controller.ari.events import Event, StreamConnected
from controller.ari.watchdog import EventHandler
from controller.calls.router import CallContext
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.web.keys import PUMP
from tests.faults.invariants import Invariants
from tests.faults.proxy import TcpProxy
from tests.faults.site import asterisk_address, direct_client, fault_config, invariants
from tests.waiting import eventually, until

REFUSED = 3000.0  # the refused sound's tone, so the agent's feedback is a real playback


@dataclass
class CutRig:
    site: SandboxSite
    proxy: TcpProxy
    daemon: RunningDaemon
    client: AriClient
    """Straight to Asterisk, never through the proxy."""
    board: Switchboard
    checks: Invariants
    keys_tag: str
    seen: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def next_of(
        self, kind: type[Event], where: Callable[[Any], bool] = lambda _: True
    ) -> Any:
        """The next event of ``kind`` the daemon has finished handling."""
        async with asyncio.timeout(60):
            while True:
                event = await self.seen.get()
                if isinstance(event, kind) and where(event):
                    return event

    async def reconnected(self) -> StreamConnected:
        event = await self.next_of(StreamConnected)
        assert isinstance(event, StreamConnected) and event.reconnect
        return event

    def only_call(self) -> tuple[str, CallContext]:
        [(call_id, ctx)] = self.daemon.calls.router.calls.items()
        return call_id, ctx

    async def idle(self, ctx: CallContext) -> None:
        """Waits until nothing of the call is running: its REST calls have been answered,
        so a cut that follows cannot fail one of them half-way (events can come before
        Asterisk's answer to the request that caused them)."""
        await until(lambda: ctx.queue.empty() and not ctx.lock.locked(), "the call idle", 10)

    async def press(self, keys: str) -> None:
        """The agent presses ``keys`` on their phone; returns once they are sent."""
        tag = self.keys_tag
        await self.client.request(
            "POST", "/asterisk/variable", {"variable": f"SIM_SENT_{tag}", "value": ""}
        )
        await self.client.request(
            "POST", "/asterisk/variable", {"variable": f"SIM_KEYS_{tag}", "value": keys}
        )

        async def sent() -> bool | None:
            answer = await self.client.request(
                "GET", "/asterisk/variable", {"variable": f"SIM_SENT_{tag}"}
            )
            return True if isinstance(answer, dict) and answer.get("value") == keys else None

        await eventually(sent, f"the agent's phone sent {keys}")

    async def summary(self, call_id: str) -> dict[str, Any]:
        found = await self.daemon.query(lambda s: s.call_summary(call_id))
        assert found is not None
        return cast(dict[str, Any], found)

    async def row_until(
        self, call_id: str, holds: Callable[[dict[str, Any]], bool], within: float
    ) -> dict[str, Any]:
        """The call's stored summary once ``holds`` is true of it."""

        async def probe() -> dict[str, Any] | None:
            summary = await self.summary(call_id)
            return summary if holds(summary) else None

        return await eventually(probe, f"call {call_id}'s rows as expected", within)


@contextlib.asynccontextmanager
async def cut_rig(
    site: SandboxSite,
    *,
    default_backoff: bool = False,
    agent_script: str = "waitkeys",
    **sections: Any,
) -> AsyncIterator[CutRig]:
    """``default_backoff``: reconnect as a production daemon does (the defaults), not
    with the test site's quick retries. ``agent_script``: the agent's behaviour (a
    sim-agent script; ``waitkeys`` presses keys when :meth:`CutRig.press` says)."""
    tag = "k" + secrets.token_hex(4)
    proxy = TcpProxy(*asterisk_address(site.instance))
    await proxy.start()
    site.instance.sounds_dir.mkdir(parents=True, exist_ok=True)
    refused = site.tone_sound("agent-refused", [(REFUSED, 0.1), (0, 0.1), (REFUSED, 0.1)])
    ok = site.tone_sound("agent-ok", [(REFUSED, 0.3)])
    path = fault_config(
        site,
        target=f"Local/alice-{agent_script}-{tag}@sim-agent"
        if agent_script == "waitkeys"
        else f"Local/alice-{agent_script}@sim-agent",
        ari_url=proxy.url,
        agent_keys={"ok_sound": ok, "refused_sound": refused},
        **sections,
    )
    if default_backoff:
        data = yaml.safe_load(path.read_text())
        del data["ari"]["reconnect"]
        path = site.write_config(data)
    daemon = RunningDaemon(load_config(path))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = direct_client(site.instance, session)
            rig = CutRig(
                site=site,
                proxy=proxy,
                daemon=daemon,
                client=client,
                board=Switchboard(site.instance, session),
                checks=invariants(site, client),
                keys_tag=tag,
            )
            pump = daemon.app[PUMP]
            calls = pump.handler

            async def spy(event: Event) -> None:
                await calls.handle(event)
                rig.seen.put_nowait(event)

            pump.handler = cast(EventHandler, SimpleNamespace(handle=spy))
            yield rig
    finally:
        await daemon.stop()
        await proxy.close()
