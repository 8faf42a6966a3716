"""The FastAGI ``outbound`` and ``answered`` scripts over a hand-driven session, for what
the real Asterisk does not do on demand: bad input from the site's dialplan, a customer
never reached, a MixMonitor that cannot start (C6, R2)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.agi.hooks import HangupScript
from controller.agi.outbound import AnsweredScript, OutboundScript
from controller.agi.recorder import AgiRecorder
from controller.agi.server import AgiServer, Script
from controller.ami import AmiClient
from controller.ami.protocol import AmiMessage
from controller.clock import FixedClock
from controller.config import load_config
from controller.config.model import AgiSettings, AmiSettings
from controller.recordings import LocalVault
from controller.records import CallStart, OpenCall
from controller.secrets import Secret
from controller.store import SqliteStore, StoreThread
from tests.component.fake_agi import FakeAsterisk, header
from tests.component.fake_ami import FakeAmi, answer
from tests.component.test_agi_inbound import TO_THE_END
from tests.integration.conftest import free_port
from tests.sites import ENV, site_config, write_site

NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)  # a Wednesday, in Alice's window
AGENT_CHANNEL = "PJSIP/alice-00000002"
AGENT_UNIQUEID = "1733541234.50"


class Sampled(random.Random):
    def random(self) -> float:
        return 0.1


@dataclass
class Site:
    store: StoreThread[SqliteStore]
    server: AgiServer

    async def run(
        self,
        script: str,
        answers: dict[str, str | list[str]],
        channel: str = AGENT_CHANNEL,
        uniqueid: str = AGENT_UNIQUEID,
    ) -> list[str]:
        asterisk = await FakeAsterisk.connect(self.server.port)
        block = header(script, uniqueid=uniqueid)
        await asterisk.send(block.replace(b"PJSIP/trunk-00000001", channel.encode()))
        await asterisk.serve(answers)
        return asterisk.commands

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        return await self.store.run(lambda s: [dict(r) for r in s.db.query(sql)])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        yield running


@contextlib.asynccontextmanager
async def running_site(
    tmp_path: Path, by: str = "system", store_class: type[SqliteStore] = SqliteStore
) -> AsyncIterator[Site]:
    data = site_config(tmp_path)
    data["services"]["sales"]["outbound"] = {"dial": "PJSIP/{number}@trunk"}
    data["services"]["sales"]["announcement"]["by"] = by
    config = load_config(write_site(tmp_path, data), ENV)
    config.recordings.asterisk_dir.mkdir(exist_ok=True)
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: store_class.open(config.store.path), SqliteStore.close
    )
    await store.start()
    clock, rng = FixedClock(NOW), Sampled(7)
    # AMI never connected: the agent's MixMonitor, started over AMI, cannot start.
    unreachable = AmiSettings(
        host="127.0.0.1", port=free_port(), username="reccontrol", password=Secret("x")
    )
    recorder = AgiRecorder(config, store, vault, clock, AmiClient(unreachable))
    scripts: dict[str, Script] = {
        "outbound": OutboundScript(config, store, clock, rng),
        "answered": AnsweredScript(config, store, clock, rng, recorder=recorder),
        "hangup": HangupScript(config, store, recorder, clock, rng),
    }
    server = AgiServer(AgiSettings(port=free_port()), scripts)
    await server.start()
    try:
        yield Site(store, server)
    finally:
        await server.stop()
        await store.stop()


def call_id_of(commands: list[str]) -> str:
    (line,) = [c for c in commands if c.startswith('SET VARIABLE "__RECCONTROL_CALL_ID"')]
    return line.split('"')[3]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("outbound", "unknown-service"),
        ("outbound?service=nosuch&number=0612345678", "unknown-service"),
        ("outbound?service=support&number=0612345678", "not-outbound"),
        ("outbound?service=sales", "bad-number"),
        ("outbound?service=sales&number=", "bad-number"),
        ("outbound?service=sales&number=0612345678%26Local/900@x", "bad-number"),
    ],
)
async def test_c6_r2_bad_input_sets_the_error_and_writes_nothing(
    site: Site, query: str, error: str
) -> None:
    """The error variable names what was wrong; no row at all; the script hands the
    channel straight back, so the site's Dial() goes on, unrecorded."""
    commands = await site.run(query, {})
    assert commands == [f'SET VARIABLE "RECCONTROL_ERROR" "{error}"']
    assert await site.rows("SELECT id FROM calls") == []
    assert await site.rows("SELECT id FROM consent_events") == []


async def test_c6_the_outbound_script_opens_the_row_on_the_agents_channel(site: Site) -> None:
    """The call row (``path = agi``, outbound, the agent channel's unique id, the
    number's HMAC and never the number) and what the called party's channel inherits."""
    commands = await site.run("outbound?service=sales&number=0612345678", {})
    call_id = call_id_of(commands)
    assert commands == [
        f'SET VARIABLE "__RECCONTROL_CALL_ID" "{call_id}"',
        f'SET VARIABLE "__RECCONTROL_AGENT_CHANNEL" "{AGENT_CHANNEL}"',
        'SET VARIABLE "CHANNEL(hangup_handler_push)" "reccontrol-agi-hangup,s,1"',
    ]
    (call,) = await site.rows("SELECT * FROM calls")
    assert (call["id"], call["path"], call["direction"]) == (call_id, "agi", "outbound")
    assert call["channel_id"] == AGENT_UNIQUEID and call["ended_at"] is None
    assert call["caller_hash"] and "612345678" not in str(call)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("BUSY", "busy"), ("NOANSWER", "no_answer"), ("CHANUNAVAIL", "failed")],
)
async def test_c6_a_customer_never_reached_closes_the_row_with_dials_status(
    site: Site, status: str, outcome: str
) -> None:
    """The agent's hang-up handler closes the row; nobody answered, so the outcome is
    Dial()'s status, as the ARI path's outcomes."""
    call_id = call_id_of(await site.run("outbound?service=sales&number=0612345678", {}))
    await site.run(
        "hangup",
        {
            'GET VARIABLE "RECCONTROL_CALL_ID"': f"200 result=1 ({call_id})",
            'GET VARIABLE "RECCONTROL_MIXMONITOR"': "200 result=0",
            'GET VARIABLE "DIALSTATUS"': f"200 result=1 ({status})",
        },
    )
    (call,) = await site.rows("SELECT outcome, ended_at FROM calls")
    assert call["outcome"] == outcome and call["ended_at"] is not None
    assert await site.rows("SELECT * FROM decisions") == []


async def test_c6_t1_a_mixmonitor_that_cannot_start_on_the_agents_channel_is_an_alert(
    site: Site,
) -> None:
    """The called party heard the announcement; the sampled call's MixMonitor, started
    on the agent's channel over AMI, cannot start (AMI down): a failed row and an alert,
    the call goes on unrecorded."""
    call_id = call_id_of(await site.run("outbound?service=sales&number=0612345678", {}))
    await site.run(
        "answered",
        {
            'GET VARIABLE "RECCONTROL_CALL_ID"': f"200 result=1 ({call_id})",
            'GET VARIABLE "RECCONTROL_AGENT_CHANNEL"': f"200 result=1 ({AGENT_CHANNEL})",
            'GET VARIABLE "ASTSPOOLDIR"': "200 result=1 (/var/spool/asterisk)",
            "STREAM FILE": TO_THE_END,
        },
        channel="PJSIP/trunk-00000003",
        uniqueid="1733541234.51",
    )
    (decision,) = await site.rows("SELECT * FROM decisions")
    assert (decision["record"], decision["agent_id"], decision["reason"]) == (
        1,
        "alice",
        "sampled",
    )
    (recording,) = await site.rows("SELECT state FROM recordings")
    assert recording["state"] == "failed"
    (alert,) = await site.rows("SELECT kind FROM alerts")
    assert alert["kind"] == "recording_failed"
    (call,) = await site.rows("SELECT announcement_completed, ended_at FROM calls")
    assert call["announcement_completed"] == 1 and call["ended_at"] is None


async def test_c6_r2_answered_on_a_channel_with_no_outbound_call_is_told_so(site: Site) -> None:
    commands = await site.run("answered", {'GET VARIABLE "RECCONTROL_CALL_ID"': "200 result=0"})
    assert commands == [
        'GET VARIABLE "RECCONTROL_CALL_ID"',
        'SET VARIABLE "RECCONTROL_ERROR" "unknown-call"',
    ]
    assert await site.rows("SELECT * FROM decisions") == []


async def test_c6_a_service_announced_by_its_agents_is_not_recorded_on_this_path(
    tmp_path: Path,
) -> None:
    """The notice-given key is the ARI path's: over FastAGI nothing is played to the
    called party and the call is decided as not announced, so never recorded (C1)."""
    async with running_site(tmp_path, by="agent") as site:
        call_id = call_id_of(await site.run("outbound?service=sales&number=0612345678", {}))
        answered = await site.run(
            "answered",
            {
                'GET VARIABLE "RECCONTROL_CALL_ID"': f"200 result=1 ({call_id})",
                'GET VARIABLE "RECCONTROL_AGENT_CHANNEL"': f"200 result=1 ({AGENT_CHANNEL})",
            },
            channel="PJSIP/trunk-00000003",
        )
        (decision,) = await site.rows("SELECT record, reason FROM decisions")
        recordings = await site.rows("SELECT * FROM recordings")

    assert not [c for c in answered if c.startswith(("STREAM FILE", "EXEC"))]
    assert (decision["record"], decision["reason"]) == (0, "announcement_not_played")
    assert recordings == []


@pytest.mark.parametrize("direction", ["outbound", "inbound"])
async def test_a5_r1_after_a_restart_the_recorded_channel_is_found_on_either_direction(
    tmp_path: Path, direction: str
) -> None:
    """A pause's limit is re-armed after a restart on the channel holding the call's
    MixMonitor, found over AMI among the call's channels: on an outbound call that is
    the channel the call began on (the agent's), on an inbound call the other one."""
    config = load_config(write_site(tmp_path), ENV)
    entry, other = ("PJSIP/alice-1", "PJSIP/trunk-2")
    recorded = entry if direction == "outbound" else other
    values = {
        (entry, "RECCONTROL_CALL_ID"): "c0ffee",
        (other, "RECCONTROL_CALL_ID"): "c0ffee",
        (recorded, "RECCONTROL_MIXMONITOR"): "mm-1",
    }

    def listing(m: AmiMessage) -> bytes:
        aid = m.action_id
        rows = [(entry, "1.1"), (other, "1.2")]
        return (
            f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n\r\n"
            + "".join(
                f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: {name}\r\n"
                f"Uniqueid: {uid}\r\nLinkedid: 1.1\r\n\r\n"
                for name, uid in rows
            )
            + f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\n\r\n"
        ).encode()

    def getvar(m: AmiMessage) -> bytes:
        value = values.get((m.get("Channel") or "", m.get("Variable") or ""), "")
        return answer(m, Value=value)

    fake = FakeAmi("s3cret")
    fake.replies |= {"CoreShowChannels": listing, "Getvar": getvar}
    port = await fake.start()
    ami = AmiClient(AmiSettings("reccontrol", Secret("s3cret"), "127.0.0.1", port))
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    recorder = AgiRecorder(config, None, vault, FixedClock(NOW), ami)  # type: ignore[arg-type]
    call = OpenCall(
        call_id="c0ffee", service="sales", direction=direction, channel_id="1.1",
        caller_hash="h1", announcement_completed=True, objected=False, notice_given=False,
        decision=None, has_recordings=True, recording=None, path="agi",
    )  # fmt: skip
    await ami.connect()
    try:
        found = await recorder.agent_channel(call)
    finally:
        await ami.close()
        await fake.stop()
    assert found == recorded


class RefusingStore(SqliteStore):
    def begin_call(self, call: CallStart, announcement_version: str) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")


async def test_c6_r2_a_store_that_refuses_the_row_tells_the_dialplan_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """The call row cannot be written: ``RECCONTROL_ERROR=store-failed``, no call id on
    the channel, no row left open; the site's Dial() goes on, unrecorded."""
    async with running_site(tmp_path, store_class=RefusingStore) as site:
        commands = await site.run("outbound?service=sales&number=0612345678", {})
        calls = await site.rows("SELECT id FROM calls")

    assert commands == ['SET VARIABLE "RECCONTROL_ERROR" "store-failed"']
    assert calls == []
