"""The FastAGI ``inbound`` script on a real server and store, Asterisk's side by hand:
the same announcement, keys and consent rows as the ARI path (C1-C4), the channel
variables the site's dialplan carries on with, and no row for a service that does not
exist (R2)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.agi.inbound import InboundScript
from controller.agi.server import AgiServer
from controller.clock import FixedClock
from controller.config import Config, load_config
from controller.config.model import AgiSettings
from controller.privacy import caller_hash
from controller.store import SqliteStore, StoreThread
from tests.component.fake_agi import FakeAsterisk, header
from tests.integration.conftest import free_port
from tests.sites import ENV, write_site

NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)
CALLER = "+33612345678"
UP = "200 result=6"
TO_THE_END = "200 result=0 endpos=16000"
NINE = f"200 result={ord('9')} endpos=4000"
ZERO = f"200 result={ord('0')} endpos=4000"


@dataclass
class Site:
    config: Config
    store: StoreThread[SqliteStore]
    server: AgiServer

    async def call(
        self, answers: dict[str, str | list[str]], script: str = "inbound?service=sales"
    ) -> list[str]:
        asterisk = await FakeAsterisk.connect(self.server.port)
        await asterisk.send(header(script, callerid=CALLER))
        await asterisk.serve(answers)
        return asterisk.commands

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        return await self.store.run(lambda s: [dict(r) for r in s.db.query(sql)])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    config = load_config(write_site(tmp_path), ENV)
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    script = InboundScript(config, store, FixedClock(NOW), random.Random(7))
    server = AgiServer(AgiSettings(port=free_port()), {"inbound": script})
    await server.start()
    yield Site(config, store, server)
    await server.stop()
    await store.stop()


def call_id_of(commands: list[str]) -> str:
    (line,) = [c for c in commands if c.startswith('SET VARIABLE "RECCONTROL_CALL_ID"')]
    return line.split('"')[3]


async def test_c1_caller_hears_the_announcement_and_is_informed(site: Site) -> None:
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": TO_THE_END})
    call_id = call_id_of(commands)
    assert commands == [
        f'SET VARIABLE "RECCONTROL_CALL_ID" "{call_id}"',
        "CHANNEL STATUS",
        'SET VARIABLE "CHANNEL(language)" "fr"',
        'STREAM FILE "reccontrol/fr/announce" "90"',
        'SET VARIABLE "CHANNEL(language)" "en"',
        'SET VARIABLE "RECCONTROL_CONSENT" "informed"',
    ]
    (call,) = await site.rows("SELECT * FROM calls")
    assert call["id"] == call_id and call["path"] == "agi" and call["service"] == "sales"
    assert (call["direction"], call["announcement_version"]) == ("inbound", "v1")
    assert call["announcement_completed"] == 1 and call["outcome"] == "handed_back"
    assert call["caller_hash"] == caller_hash(
        site.config.privacy.caller_hmac_key, CALLER, site.config.privacy.default_region
    )
    assert call["channel_id"] is None
    assert await site.rows("SELECT * FROM consent_events") == []


async def test_c1_a_channel_not_yet_answered_is_answered_first(site: Site) -> None:
    commands = await site.call({"CHANNEL STATUS": "200 result=4", "STREAM FILE": TO_THE_END})
    assert commands[1:4] == ["CHANNEL STATUS", "ANSWER", 'SET VARIABLE "CHANNEL(language)" "fr"']


async def test_c2_c4_opt_out_key_during_the_announcement_stores_the_objection(site: Site) -> None:
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": NINE})
    assert commands[-1] == 'SET VARIABLE "RECCONTROL_CONSENT" "objected"'
    (event,) = await site.rows("SELECT * FROM consent_events")
    assert (event["call_id"], event["kind"], event["key"]) == (call_id_of(commands), "opt_out", "9")
    assert (event["announcement_version"], event["phase"]) == ("v1", "announcement")
    (objection,) = await site.rows("SELECT * FROM objections")
    (call,) = await site.rows("SELECT * FROM calls")
    assert objection["caller_hash"] == call["caller_hash"] is not None
    expires = dt.datetime.fromisoformat(objection["expires_at"])
    assert expires - NOW == dt.timedelta(days=site.config.privacy.objection_memory_days)
    assert CALLER not in str(await site.rows("SELECT * FROM calls"))


async def test_c4_a_later_call_from_a_number_that_objected_is_objected(site: Site) -> None:
    await site.call({"CHANNEL STATUS": UP, "STREAM FILE": NINE})
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": TO_THE_END})
    assert commands[-1] == 'SET VARIABLE "RECCONTROL_CONSENT" "objected"'
    # The objection is the earlier call's: this one stored no key of its own.
    (event,) = await site.rows("SELECT call_id FROM consent_events")
    assert event["call_id"] != call_id_of(commands)


async def test_c3_full_notice_key_plays_the_notice_then_informs(site: Site) -> None:
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": [ZERO, TO_THE_END]})
    plays = [c for c in commands if c.startswith("STREAM FILE")]
    # While the notice plays, only the opt-out key stops it.
    assert plays == [
        'STREAM FILE "reccontrol/fr/announce" "90"',
        'STREAM FILE "reccontrol/fr/notice" "9"',
    ]
    assert commands[-1] == 'SET VARIABLE "RECCONTROL_CONSENT" "informed"'
    (event,) = await site.rows("SELECT kind, key, phase FROM consent_events")
    assert event == {"kind": "full_notice", "key": "0", "phase": "announcement"}
    assert await site.rows("SELECT * FROM objections") == []


async def test_c2_c3_opt_out_during_the_full_notice(site: Site) -> None:
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": [ZERO, NINE]})
    assert commands[-1] == 'SET VARIABLE "RECCONTROL_CONSENT" "objected"'
    events = await site.rows("SELECT kind, key FROM consent_events ORDER BY id")
    assert events == [{"kind": "full_notice", "key": "0"}, {"kind": "opt_out", "key": "9"}]
    assert len(await site.rows("SELECT * FROM objections")) == 1


async def test_c1_an_announcement_that_cannot_be_played_leaves_the_caller_unannounced(
    site: Site,
) -> None:
    commands = await site.call({"CHANNEL STATUS": UP, "STREAM FILE": "200 result=-1 endpos=0"})
    assert commands[-1] == 'SET VARIABLE "RECCONTROL_CONSENT" "unannounced"'
    (call,) = await site.rows("SELECT announcement_completed, outcome FROM calls")
    assert call == {"announcement_completed": 0, "outcome": "handed_back"}


async def test_r2_caller_hanging_up_during_the_announcement_closes_the_row(site: Site) -> None:
    commands = await site.call(
        {"CHANNEL STATUS": UP, "STREAM FILE": "HANGUP|200 result=-1 endpos=800"}
    )
    assert not [c for c in commands if "RECCONTROL_CONSENT" in c or "RECCONTROL_ERROR" in c]
    (call,) = await site.rows("SELECT announcement_completed, outcome, ended_at FROM calls")
    assert call["outcome"] == "caller_hung_up" and call["announcement_completed"] == 0
    assert call["ended_at"] is not None


@pytest.mark.parametrize("script", ["inbound?service=nosuch", "inbound", "inbound?other=sales"])
async def test_r2_unknown_service_is_told_to_the_dialplan_and_nothing_is_stored(
    site: Site, script: str
) -> None:
    commands = await site.call({}, script=script)
    assert commands == ['SET VARIABLE "RECCONTROL_ERROR" "unknown-service"']
    assert await site.rows("SELECT * FROM calls") == []
