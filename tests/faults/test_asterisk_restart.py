"""Asterisk restarted (``core restart now``) in the middle of a recorded call (R1): every
channel goes with it. The daemon reconnects once Asterisk is back, has ended the call,
vaulted what was recorded up to the restart, and leaves nothing live: no row, no file in
Asterisk's folder, no channel or bridge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from controller.ari.errors import AriError
from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.sandbox import Sandbox, SandboxInstance
from tests.faults.site import direct_client, fault_config, invariants
from tests.waiting import eventually, until

CALLER_NUMBER = "+33611118888"



async def test_r1_asterisk_restart_mid_call_leaves_nothing_live(
    sandbox: Sandbox, own_asterisk: SandboxInstance, tmp_path: Path
) -> None:
    site = SandboxSite(own_asterisk, tmp_path / "site")
    config = load_config(fault_config(site, target="Local/alice-talk@sim-agent"))
    daemon = RunningDaemon(config)
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = direct_client(own_asterisk, session)
            checks = invariants(site, client)
            await Switchboard(own_asterisk, session).call("sales", "c-talk-60", CALLER_NUMBER)

            def audio_written() -> bool:
                # Half a second of 8 kHz audio in Asterisk's file.
                files = list(own_asterisk.recording_dir.iterdir())
                return len(files) == 1 and files[0].stat().st_size > 8000

            await until(audio_written, "the call is being recorded")
            loop = asyncio.get_running_loop()
            await asyncio.to_thread(sandbox.cli, own_asterisk.name, "core restart now")
            restarted = loop.time()

            async def answering() -> bool | None:
                try:
                    await client.asterisk_info()
                except AriError:
                    return None
                return True

            await eventually(answering, "Asterisk answers again", within=60)
            back = loop.time() - restarted
            (call,) = await daemon.wait_for_calls(1, within=60)
            await checks.hold_within(5.0)
            settled = loop.time() - restarted
    finally:
        await daemon.stop()
    print(f"measured asterisk_back_seconds={back:.2f} settled_seconds={settled:.2f}")
    # Asterisk hung every channel up on its way down: the daemon saw the caller go.
    assert call["outcome"] == "caller_hung_up"
    (recording,) = call["recordings"]
    assert recording["state"] == "stored" and recording["duration_seconds"] >= 0.5
