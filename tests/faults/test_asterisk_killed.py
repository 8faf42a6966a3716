"""Asterisk killed with SIGKILL in the middle of a recorded call (R1), then started again
on the same instance, as a supervisor would. Unlike a graceful restart, Asterisk says
nothing on its way down: no hang-up, no StasisEnd, no RecordingFinished, and the WAV
it was writing keeps the header of an empty file. The daemon must reconnect once
Asterisk is back, end the lost call with an outcome that says so, vault the half-written
file with the duration its data holds, and leave nothing live."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import aiohttp
import pytest

from controller.config import load_config
from controller.demo.site import RunningDaemon, SandboxSite, Switchboard
from controller.sandbox import Sandbox, SandboxInstance
from tests.audio import plaintext
from tests.faults.site import direct_client, fault_config, invariants
from tests.waiting import until

CALLER_NUMBER = "+33611117777"
# 8 kHz, 16-bit mono: bytes of audio per second in Asterisk's WAV.
BYTES_PER_SECOND = 16000
WAV_HEADER = 44



def declared_data_bytes(wav: Path) -> int:
    """The size the WAV header gives its data chunk (Asterisk writes it on close)."""
    with wav.open("rb") as source:
        header = source.read(WAV_HEADER)
    assert header[36:40] == b"data", f"unexpected WAV header: {header[:44]!r}"
    return int(struct.unpack("<I", header[40:44])[0])


async def test_r1_asterisk_killed_mid_call_half_written_wav_is_vaulted(
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
                # A second of audio that reached the disk: Asterisk's stdio buffer holds
                # the last few kilobytes, and those die with it.
                files = list(own_asterisk.recording_dir.iterdir())
                return len(files) == 1 and files[0].stat().st_size > WAV_HEADER + BYTES_PER_SECOND

            await until(audio_written, "the call is being recorded")
            loop = asyncio.get_running_loop()
            killed_pid = await asyncio.to_thread(sandbox.crash, own_asterisk.name)
            killed = loop.time()
            assert killed_pid == own_asterisk.pid
            (left,) = own_asterisk.recording_dir.iterdir()
            written = left.stat().st_size - WAV_HEADER
            # What makes this fault different from a restart: the header lies.
            assert declared_data_bytes(left) < written

            again = await asyncio.to_thread(sandbox.start_again, own_asterisk.name)
            assert again.pid != killed_pid and again.ari_url == own_asterisk.ari_url
            back = loop.time() - killed
            (call,) = await daemon.wait_for_calls(1, within=60)
            await checks.hold_within(5.0)
            settled = loop.time() - killed
    finally:
        await daemon.stop()
    print(
        f"measured asterisk_killed asterisk_back_seconds={back:.2f} "
        f"seconds={settled:.2f} (daemon after Asterisk was back: {settled - back:.2f})"
    )
    # Nobody hung up: the channels vanished with Asterisk, and the outcome says so.
    assert call["outcome"] == "channels_lost", call["outcome"]
    (recording,) = call["recordings"]
    assert recording["state"] == "stored", recording
    # The duration is what the data holds, not the header's zero.
    assert recording["duration_seconds"] == pytest.approx(
        (len(plaintext(Path(recording["path"]))) - WAV_HEADER) / BYTES_PER_SECOND, abs=0.01
    )
    assert recording["duration_seconds"] >= 1.0
