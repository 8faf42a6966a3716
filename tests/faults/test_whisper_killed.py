"""The daemon killed with SIGKILL while a recorded call's agent has a whisper for their
tones (A10, R1): the restarted daemon hangs the old snoop up, makes one of its own for the
call it carries on, and the call ends leaving no snoop behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.ari.client import AriClient
from controller.calls.ids import whisper_of
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.faults.test_daemon_killed_calls import killing, recording_runs
from tests.faults.test_listening_killed import the_call
from tests.integration.listening import gone
from tests.waiting import eventually

CALLER_NUMBER = "+33611117777"


async def whispers(client: AriClient) -> set[str]:
    return {c.id for c in await client.list_channels() if whisper_of(c.id)}


async def test_a10_r1_killed_with_a_whisper_the_restart_leaves_only_its_own(
    asterisk: SandboxInstance, tmp_path: Path
) -> None:
    """A10, R1: the snoop made before the kill is hung up by the restarted daemon, which
    makes a new one, by another name, for the call it carries on; once the caller hangs
    up, no snoop is left."""
    site = SandboxSite(asterisk, tmp_path / "site")
    target = "Local/alice-talk@sim-agent"
    async with killing("whisper", site, tmp_path, (), target=target) as run:
        caller = await run.board.call("sales", "c-talk-300", CALLER_NUMBER)
        await recording_runs(run)
        call_id = await eventually(lambda: asyncio.to_thread(the_call, run.store), "the call")

        async def one_whisper() -> set[str] | None:
            found = await whispers(run.client)
            app = set((await run.client.get_application("reccontrol")).channel_ids)
            return found if len(found) == 1 and found <= app else None

        (before,) = await eventually(one_whisper, "the whisper in the application")
        assert whisper_of(before) == call_id

        await run.daemon.kill()
        await run.restart()

        async def replaced() -> set[str] | None:
            found = await one_whisper()
            return found if found is not None and before not in found else None

        (after,) = await eventually(replaced, "the old whisper hung up, a new one made")
        assert whisper_of(after) == call_id
        await run.client.hangup(caller.id)
        await gone(run.client, caller.id)
        await gone(run.client, after)
        await run.settle()
        assert await whispers(run.client) == set()
