"""The agent's protective keys while the daemon is down, on the FastAGI path: pause (A5),
private (A2) and card (M2), R1. The shipped key subroutine finds the FastAGI server
unreachable, stops the MixMonitor itself and plays the refused tone, which the agent
hears; what the agent says after the key never reaches the file. The daemon, back, does
not start the recording again by itself, and the hang-up hook vaults what was recorded
before the key."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path

import aiohttp
import pytest

from controller.ari import AriClient
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import Audio, dtmf_keys, read_wav, tone_seconds
from tests.faults.daemon import DaemonProcess
from tests.faults.site import direct_client, fault_config
from tests.faults.test_agi_killed import no_channels, recorded_bytes, recording_live, rows
from tests.integration.conftest import free_port
from tests.waiting import eventually, until

CALLER_NUMBER = "+33611118888"
MARKER = 2600.0  # what the agent says after the pause key
AGENT_VOICE = 1100.0


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def site_call(
    client: AriClient, port: int, tag: str, agent: str = "waitpause", talk: int = 22
) -> None:
    """A caller who talks ``talk`` seconds into the dialplan-only site, which dials
    Alice's ``waitpause`` phone (or ``agent``) with the shipped connected subroutine."""
    await client.originate(
        "Local/sales@sim-agi-dial",
        context="sim-caller",
        extension=f"c-talk-{talk}",
        variables={
            "__RECCONTROL_AGI": f"127.0.0.1:{port}",
            "SIM_TAG": secrets.token_hex(4),
            "SIM_CALLER_NUMBER": CALLER_NUMBER,
            "SIM_AGENT": f"Local/alice-{agent}-{tag}@sim-agent/n",
        },
    )


async def test_a5_r1_pause_key_with_the_daemon_down_stops_the_recording_in_the_dialplan(
    site: SandboxSite, tmp_path: Path
) -> None:
    port = free_port()
    agi = {"listen": f"127.0.0.1:{port}", "read_timeout_seconds": 5}
    config = fault_config(site, target="Local/alice-talk@sim-agent", agi=agi)
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    store = site.workdir / "reccontrol.sqlite3"
    tag = secrets.token_hex(4)
    before = frozenset(site.instance.recording_dir.glob("*.wav"))
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        await daemon.start()
        try:
            await daemon.wait_for("ARI events: connected")
            # Long enough to outlive a restart that is slow on a loaded machine.
            await site_call(client, port, tag, talk=40)
            await until(lambda: recording_live(store), "MixMonitor records the call", 30.0)
            # Two seconds of the conversation in the file (8 kHz, 16 bits) before the key.
            await until(
                lambda: recorded_bytes(site, before) > 2 * 16000, "two seconds recorded", 30.0
            )
            await daemon.stop()
            await client.request(
                "POST", "/asterisk/variable", {"variable": f"SIM_GO_{tag}", "value": "1"}
            )
            # The key, then the 3 s marker and the agent's voice, with nobody listening.
            await asyncio.sleep(4.5)
            await daemon.start()
            await daemon.wait_for("ARI events: connected")
            assert await client.list_channels(), "the call outlived the restart"
            await no_channels(client)
            await until(
                lambda: bool(rows(store, "SELECT 1 FROM calls WHERE ended_at")), "closed", 30.0
            )
            await until(lambda: not recording_live(store), "the recording settled", 30.0)
        finally:
            await daemon.stop()

    (recording,) = rows(store, "SELECT * FROM recordings")
    assert recording["state"] == "stored"
    assert rows(store, "SELECT * FROM pauses") == []
    audio = read_wav(Path(recording["path"]))
    assert tone_seconds(audio, MARKER) == 0.0
    assert dtmf_keys(audio) == []
    # What came before the key is kept; nothing after it: the daemon did not restart
    # the recording when it came back, though the call went on for seconds.
    assert tone_seconds(audio, AGENT_VOICE) > 1.5
    assert tone_seconds(audio.slice(audio.duration - 1.0, audio.duration), AGENT_VOICE) < 1.0


def open_pause(store: Path) -> bool:
    return bool(rows(store, "SELECT 1 FROM pauses WHERE ended_at IS NULL"))


MARKER_AFTER_KEY = 30
"""Seconds the stuck agent hums after the key: room for a daemon restarted on a loaded
machine to come back well before the marker ends (14.6 s after the limit seen once, at a
load average of 8 on two cores)."""


async def test_a5_r1_a_pause_open_across_a_restart_keeps_its_limit(
    site: SandboxSite, tmp_path: Path
) -> None:
    """The daemon killed during an agent's pause (limit 5 s) and restarted: the restarted
    daemon finds the open pause, arms its timer for what is left of the limit and, at
    it, resumes the MixMonitor over AMI with the forced-resume row and the alert (A5)."""
    port = free_port()
    agi = {"listen": f"127.0.0.1:{port}", "read_timeout_seconds": 5}
    config = fault_config(
        site, target="Local/alice-talk@sim-agent", agi=agi, sales={"pause": {"max_seconds": 5}}
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    store = site.workdir / "reccontrol.sqlite3"
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        await daemon.start()
        try:
            await daemon.wait_for("ARI events: connected")
            await client.originate(
                "Local/sales@sim-agi-dial",
                context="sim-caller",
                extension="c-talk-40",
                variables={
                    "__RECCONTROL_AGI": f"127.0.0.1:{port}",
                    "SIM_TAG": secrets.token_hex(4),
                    "SIM_CALLER_NUMBER": CALLER_NUMBER,
                    "SIM_AGENT": f"Local/alice-pausestuck-{MARKER_AFTER_KEY}@sim-agent/n",
                },
            )
            await until(lambda: open_pause(store), "the agent paused", 30.0)
            await daemon.kill()
            await asyncio.sleep(1.0)
            await daemon.start()
            await until(lambda: not open_pause(store), "the pause resumed at its limit", 30.0)
            await no_channels(client)
            await until(lambda: not recording_live(store), "the recording settled", 30.0)
        finally:
            await daemon.stop()

    (pause,) = rows(store, "SELECT * FROM pauses")
    assert pause["resumed_by"] == "timeout"
    (alert,) = rows(store, "SELECT * FROM alerts WHERE kind = 'pause_timeout'")
    assert "5 s" in alert["message"]
    (recording,) = rows(store, "SELECT * FROM recordings")
    assert recording["state"] == "stored"
    started, ended = (dt.datetime.fromisoformat(pause[k]) for k in ("started_at", "ended_at"))
    paused = (ended - started).total_seconds()
    # Never resumed before the limit; later only by as long as the restart took (the
    # restarted daemon resumes at the limit, or at once when it starts after it).
    assert 5.0 - 0.2 <= paused < MARKER_AFTER_KEY - 2
    audio = read_wav(Path(recording["path"]))
    # The marker the agent hums after the key is out of the file while paused (never more
    # than what follows the pause's end) and in it from the resume on, whatever the
    # restart took: less only by the time a new MixMonitor takes to start after the
    # pause's row is closed (0.7 s seen at a load average of 7 on two cores, 2.5 s at 8
    # with a full suite beside it).
    heard = tone_seconds(audio, MARKER)
    assert MARKER_AFTER_KEY - paused - 5.0 <= heard <= MARKER_AFTER_KEY - paused + 0.3


REFUSED_TONE = 345.0
"""The fundamental of Asterisk's ``beeperr`` (0.36 s; harmonics at 690 and 1030 Hz):
neither party's voice nor the marker."""


async def heard_by_agent(site: SandboxSite, tag: str) -> Audio:
    """What the ``waitkey`` agent's channel received, once Asterisk closed the file."""
    path = site.instance.sounds_dir / f"heard-agent-{tag}.wav"

    async def complete() -> Audio | None:
        if not path.exists():
            return None
        audio = read_wav(path)
        return audio if audio.duration > 8.0 else None

    return await eventually(complete, "the audio the agent heard")


@pytest.mark.parametrize(("key", "what"), [("*7", "private"), ("*5", "card")])
async def test_a2_m2_r1_private_and_card_keys_with_the_daemon_down_stop_the_recording(
    site: SandboxSite, tmp_path: Path, key: str, what: str
) -> None:
    """The private key (A2) and the card key (M2) pressed while the daemon is stopped:
    the shipped subroutine stops the MixMonitor in the dialplan, so the marker the agent
    hums after the key is not in the file, and the agent's channel receives the refused
    tone. Nothing the daemon did not hear is stored: no pause, no private-call count."""
    port = free_port()
    agi = {"listen": f"127.0.0.1:{port}", "read_timeout_seconds": 5}
    config = fault_config(site, target="Local/alice-talk@sim-agent", agi=agi)
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    store = site.workdir / "reccontrol.sqlite3"
    tag = secrets.token_hex(4)
    before = frozenset(site.instance.recording_dir.glob("*.wav"))
    try:
        async with aiohttp.ClientSession() as session:
            client = direct_client(site.instance, session)
            await daemon.start()
            try:
                await daemon.wait_for("ARI events: connected")
                await site_call(client, port, tag, agent="waitkey")
                await until(lambda: recording_live(store), "MixMonitor records the call", 30.0)
                await until(
                    lambda: recorded_bytes(site, before) > 2 * 16000, "two seconds recorded", 30.0
                )
                await daemon.stop()
                await client.request(
                    "POST", "/asterisk/variable", {"variable": f"SIM_GO_{tag}", "value": key}
                )
                # The key, then the 3 s marker and the agent's voice, with nobody listening.
                await asyncio.sleep(4.5)
                await daemon.start()
                await daemon.wait_for("ARI events: connected")
                await no_channels(client)
                await until(
                    lambda: bool(rows(store, "SELECT 1 FROM calls WHERE ended_at")), "closed", 30.0
                )
                await until(lambda: not recording_live(store), "the recording settled", 30.0)
            finally:
                await daemon.stop()
        heard = await heard_by_agent(site, tag)
    finally:
        for path in site.instance.sounds_dir.glob(f"heard-agent-{tag}*.wav"):
            path.unlink()

    (recording,) = rows(store, "SELECT * FROM recordings")
    assert recording["state"] == "stored", what
    assert rows(store, "SELECT * FROM pauses") == []
    assert rows(store, "SELECT * FROM private_call_counts") == []
    audio = read_wav(Path(recording["path"]))
    assert tone_seconds(audio, MARKER) == 0.0
    assert dtmf_keys(audio) == []
    assert tone_seconds(audio, AGENT_VOICE) > 1.5
    assert tone_seconds(audio.slice(audio.duration - 1.0, audio.duration), AGENT_VOICE) < 1.0
    # The refused tone, once: beeperr is 0.36 s, about half of it on its fundamental.
    assert 0.1 <= tone_seconds(heard, REFUSED_TONE) <= 0.4
