"""The daemon killed with SIGKILL while a supervisor listens to a call live (S8, R1):
restarted 1 s later, it leaves no snoop, no supervisor's channel and no listening bridge
in Asterisk, and the call itself is carried on as any other."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp

from controller.ari.client import AriClient
from controller.calls.ids import listener_leg, listening_bridge, listening_of, snoop_channel
from controller.config import load_config
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.faults.test_daemon_killed_calls import killing, recording_runs
from tests.integration.listening import gone
from tests.integration.test_live_listening import listening_access
from tests.waiting import eventually

CALLER_NUMBER = "+33611118888"


def the_call(store: Path) -> str | None:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        row = db.execute("SELECT id FROM calls").fetchone()
    return str(row[0]) if row else None


async def listening_channels(client: AriClient) -> list[str]:
    return [c.id for c in await client.list_channels() if listening_of(c.id) is not None]


async def bridge_ids(client: AriClient) -> set[str]:
    return {str(b["id"]) for b in await client.request("GET", "/bridges") or []}


async def test_s8_r1_killed_while_listening_nothing_of_the_listening_is_left(
    asterisk: SandboxInstance, tmp_path: Path
) -> None:
    """S8, R1: killed (SIGKILL) while the snoop and the supervisor's phone are in the
    application, the restarted daemon hangs both up and destroys their bridge (asked of
    Asterisk over ARI); the call goes on and ends leaving nothing behind."""
    site = SandboxSite(asterisk, tmp_path / "site")
    access, tokens = listening_access(site, "killed", other="sales")
    target = "Local/alice-talk@sim-agent"
    async with killing("listening", site, tmp_path, (), target=target, access=access) as run:
        config = load_config(site.workdir / "reccontrol.yaml")
        caller = await run.board.call("sales", "c-talk-300", CALLER_NUMBER)
        await recording_runs(run)
        call_id = await eventually(lambda: asyncio.to_thread(the_call, run.store), "the call")
        url = f"http://{config.web.host}:{config.web.port}/api/calls/{call_id}/listen"
        headers = {"Authorization": f"Bearer {tokens['anne']}", "X-Reccontrol-Person": "anne"}
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"purpose": "coaching"}, headers=headers) as answer:
                assert answer.status == 202, await answer.text()
        ours = {snoop_channel(call_id, 1), listener_leg(call_id, 1)}

        async def listening() -> bool | None:
            app = await run.client.get_application("reccontrol")
            return True if ours <= set(app.channel_ids) else None

        await eventually(listening, "the snoop and the supervisor's phone in the application")
        assert listening_bridge(call_id, 1) in await bridge_ids(run.client)

        await run.daemon.kill()
        await run.restart()

        async def cleaned() -> bool | None:
            left = await listening_channels(run.client)
            bridge_left = listening_bridge(call_id, 1) in await bridge_ids(run.client)
            return True if not left and not bridge_left else None

        await eventually(cleaned, "no listening channel or bridge left after the restart")
        await run.client.hangup(caller.id)
        await gone(run.client, caller.id)
        await run.settle()
