"""The connected and hangup scripts over a hand-driven FastAGI session, for what the
real Asterisk does not do on demand: a channel with no call, a MixMonitor Asterisk
refuses (R2, T1: a failed recording is a row and an alert, the call goes on)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.agi.hooks import ConnectedScript, HangupScript, KeyScript
from controller.agi.inbound import InboundScript
from controller.agi.recorder import AgiRecorder
from controller.agi.server import AgiServer, Script
from controller.ami import AmiClient
from controller.clock import FixedClock
from controller.config import Config, load_config
from controller.config.model import AgiSettings, AmiSettings
from controller.config.service_model import PauseSettings
from controller.recordings import LocalVault
from controller.secrets import Secret
from controller.store import SqliteStore, StoreThread
from tests.component.fake_agi import FakeAsterisk, header
from tests.component.test_agi_inbound import TO_THE_END, UP
from tests.integration.conftest import free_port
from tests.sites import ENV, write_site

NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)  # a Wednesday, in Alice's window
AGENT_CHANNEL = "PJSIP/alice-00000002"


class Sampled(random.Random):
    def random(self) -> float:
        return 0.1


@dataclass
class Site:
    config: Config
    store: StoreThread[SqliteStore]
    server: AgiServer

    async def run(
        self, script: str, answers: dict[str, str | list[str]], channel: str = AGENT_CHANNEL
    ) -> list[str]:
        asterisk = await FakeAsterisk.connect(self.server.port)
        block = header(script, uniqueid="1733541234.50")
        await asterisk.send(block.replace(b"PJSIP/trunk-00000001", channel.encode()))
        await asterisk.serve(answers)
        return asterisk.commands

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        return await self.store.run(lambda s: [dict(r) for r in s.db.query(sql)])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    config = load_config(write_site(tmp_path), ENV)
    config.recordings.asterisk_dir.mkdir(exist_ok=True)
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    clock, rng = FixedClock(NOW), Sampled(7)
    recorder = AgiRecorder(config, store, vault, clock)
    scripts: dict[str, Script] = {
        "inbound": InboundScript(config, store, clock, rng),
        "connected": ConnectedScript(config, store, recorder, clock, rng),
        "hangup": HangupScript(config, store, recorder, clock, rng),
    }
    server = AgiServer(AgiSettings(port=free_port()), scripts)
    await server.start()
    yield Site(config, store, server)
    await server.stop()
    await store.stop()


async def test_r2_a_channel_without_an_open_call_is_told_so_and_nothing_is_stored(
    site: Site,
) -> None:
    commands = await site.run("connected", {'GET VARIABLE "RECCONTROL_CALL_ID"': "200 result=0"})
    assert commands == [
        'GET VARIABLE "RECCONTROL_CALL_ID"',
        'SET VARIABLE "RECCONTROL_ERROR" "unknown-call"',
    ]
    assert await site.rows("SELECT * FROM decisions") == []


async def test_t1_a_mixmonitor_asterisk_refuses_is_a_failed_row_and_an_alert(site: Site) -> None:
    inbound = await site.run(
        "inbound?service=sales", {"CHANNEL STATUS": UP, "STREAM FILE": TO_THE_END}
    )
    (line,) = [c for c in inbound if c.startswith('SET VARIABLE "__RECCONTROL_CALL_ID"')]
    call_id = line.split('"')[3]

    connected = await site.run(
        "connected",
        {
            'GET VARIABLE "RECCONTROL_CALL_ID"': f"200 result=1 ({call_id})",
            'GET VARIABLE "RECCONTROL_CONSENT"': "200 result=1 (informed)",
            'GET VARIABLE "ASTSPOOLDIR"': "200 result=1 (/var/spool/asterisk)",
            "EXEC MixMonitor": "200 result=-2",
        },
    )

    (start,) = [c for c in connected if c.startswith("EXEC MixMonitor")]
    (recording,) = await site.rows("SELECT * FROM recordings")
    assert start == (
        f'EXEC MixMonitor "/var/spool/asterisk/recording/{recording["name"]}.wav,'
        'i(RECCONTROL_MIXMONITOR)"'
    )
    assert recording["state"] == "failed"
    (decision,) = await site.rows("SELECT * FROM decisions")
    assert (decision["record"], decision["agent_id"]) == (1, "alice")
    (alert,) = await site.rows("SELECT kind FROM alerts")
    assert alert["kind"] == "recording_failed"
    (call,) = await site.rows("SELECT ended_at FROM calls")
    assert call["ended_at"] is None  # the call goes on, unrecorded


def test_r1_a_file_held_by_a_hook_and_its_intake_stays_held_until_both_let_go(
    tmp_path: Path,
) -> None:
    """What the orphan sweep is told to leave alone (``in_hand``) while the hang-up hook
    stops MixMonitor and its intake moves the file."""
    config = load_config(write_site(tmp_path), ENV)
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    recorder = AgiRecorder(config, None, vault, FixedClock(NOW))  # type: ignore[arg-type]
    with recorder.holding("f" * 40):
        with recorder.holding("f" * 40):
            assert recorder.in_hand == {"f" * 40}
        assert recorder.in_hand == {"f" * 40}
    assert recorder.in_hand == set()


async def test_a5_a_silence_mode_pause_with_ami_down_stops_the_recording_instead(
    tmp_path: Path,
) -> None:
    """Silence mode needs AMI's MixMonitorMute; with AMI unreachable the pause key
    stops the MixMonitor over AGI (protective, as skip mode) and says so on the channel
    for the resume, and the pause row is written as on the ARI path (A5)."""
    config = load_config(write_site(tmp_path), ENV)
    sales = config.services["sales"]
    config.services["sales"] = dataclasses.replace(sales, pause=PauseSettings(mode="silence"))
    config.recordings.asterisk_dir.mkdir(exist_ok=True)
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    clock, rng = FixedClock(NOW), Sampled(7)
    unreachable = AmiSettings(
        host="127.0.0.1", port=free_port(), username="reccontrol", password=Secret("x")
    )
    ami = AmiClient(unreachable)  # never connected: AMI is down
    recorder = AgiRecorder(config, store, vault, clock, ami)
    scripts: dict[str, Script] = {
        "inbound": InboundScript(config, store, clock, rng),
        "connected": ConnectedScript(config, store, recorder, clock, rng),
        "pause": KeyScript("pause", config, store, recorder, clock, rng),
    }
    server = AgiServer(AgiSettings(port=free_port()), scripts)
    await server.start()
    site = Site(config, store, server)
    try:
        inbound = await site.run(
            "inbound?service=sales", {"CHANNEL STATUS": UP, "STREAM FILE": TO_THE_END}
        )
        (line,) = [c for c in inbound if c.startswith('SET VARIABLE "__RECCONTROL_CALL_ID"')]
        call_id = line.split('"')[3]
        on_the_channel: dict[str, str | list[str]] = {
            'GET VARIABLE "RECCONTROL_CALL_ID"': f"200 result=1 ({call_id})",
            'GET VARIABLE "RECCONTROL_CONSENT"': "200 result=1 (informed)",
            'GET VARIABLE "ASTSPOOLDIR"': "200 result=1 (/var/spool/asterisk)",
            'GET VARIABLE "RECCONTROL_MIXMONITOR"': "200 result=1 (RECCONTROL_MIXMONITOR)",
            "EXEC": "200 result=0",
        }
        await site.run("connected", on_the_channel)
        paused = await site.run("pause", on_the_channel)
        (pause,) = await site.rows("SELECT * FROM pauses")
    finally:
        await server.stop()
        await store.stop()

    stop = paused.index('EXEC StopMixMonitor "RECCONTROL_MIXMONITOR"')
    assert paused.index('SET VARIABLE "RECCONTROL_PAUSED" "stop"') > stop
    assert paused[-1] == 'SET VARIABLE "RECCONTROL_KEY" "done"'
    assert (pause["reason"], pause["paused_by"], pause["ended_at"]) == ("agent_key", "alice", None)


async def test_a5_a2_a_recording_stopped_first_by_the_key_subroutine_runs_again_if_refused(
    tmp_path: Path,
) -> None:
    """Skip mode: ``connected`` tells the channel its pause mode, which lets the shipped
    key subroutine stop the recording before it asks the daemon (RECCONTROL_STOPPED).
    A key that then leaves the recording running (refused) starts it again, appending to
    the same file; a pause the daemon takes does not (A5, A2)."""
    config = load_config(write_site(tmp_path), ENV)
    config.recordings.asterisk_dir.mkdir(exist_ok=True)
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    clock, rng = FixedClock(NOW), Sampled(7)
    recorder = AgiRecorder(config, store, vault, clock)
    scripts: dict[str, Script] = {
        "inbound": InboundScript(config, store, clock, rng),
        "connected": ConnectedScript(config, store, recorder, clock, rng),
        "pause": KeyScript("pause", config, store, recorder, clock, rng),
        "resume": KeyScript("resume", config, store, recorder, clock, rng),
    }
    server = AgiServer(AgiSettings(port=free_port()), scripts)
    await server.start()
    site = Site(config, store, server)
    try:
        inbound = await site.run(
            "inbound?service=sales", {"CHANNEL STATUS": UP, "STREAM FILE": TO_THE_END}
        )
        (line,) = [c for c in inbound if c.startswith('SET VARIABLE "__RECCONTROL_CALL_ID"')]
        call_id = line.split('"')[3]
        on_the_channel: dict[str, str | list[str]] = {
            'GET VARIABLE "RECCONTROL_CALL_ID"': f"200 result=1 ({call_id})",
            'GET VARIABLE "RECCONTROL_CONSENT"': "200 result=1 (informed)",
            'GET VARIABLE "ASTSPOOLDIR"': "200 result=1 (/var/spool/asterisk)",
            'GET VARIABLE "RECCONTROL_MIXMONITOR"': "200 result=1 (RECCONTROL_MIXMONITOR)",
            'GET VARIABLE "RECCONTROL_STOPPED"': "200 result=1 (yes)",
            "EXEC": "200 result=0",
        }
        connected = await site.run("connected", on_the_channel)
        # Nothing paused: the resume key is refused, and the recording it finds stopped
        # by the subroutine records again.
        refused = await site.run("resume", on_the_channel)
        paused = await site.run("pause", on_the_channel)
        (recording,) = await site.rows("SELECT name FROM recordings")
        pauses = await site.rows("SELECT reason FROM pauses")
    finally:
        await server.stop()
        await store.stop()

    assert 'SET VARIABLE "RECCONTROL_PAUSE_MODE" "skip"' in connected
    again = (
        f'EXEC MixMonitor "/var/spool/asterisk/recording/{recording["name"]}.wav,'
        'ai(RECCONTROL_MIXMONITOR)"'
    )
    assert again in refused
    assert refused.index(again) < refused.index('SET VARIABLE "RECCONTROL_KEY" "done"')
    assert not [c for c in paused if c.startswith("EXEC MixMonitor")]
    assert pauses == [{"reason": "agent_key"}]
