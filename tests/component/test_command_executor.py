"""The command executor on its own, against the fake ARI server and a real store: each
REST command reaches the right ARI resource, failures and timers come back to the call
as messages, and the end of a call stops its batch."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from controller.ari.client import AriClient
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.executor import Batch, CommandExecutor
from controller.clock import SystemClock
from controller.payments.card import CardData
from controller.payments.charge import ChargeRequest
from controller.recordings import LocalVault
from controller.records import ConsentEvent, Unkept
from controller.retention.unkept import OBJECTION_RULE
from controller.secrets import Secret
from controller.store import SqliteStore, StoreThread
from tests.component.fake_ari import PASSWORD, FakeAri
from tests.factories import receipted
from tests.sites import add_call, load_site, site_config, wav_bytes, write_site
from tests.waiting import DEFAULT_WITHIN, until

WAIT = DEFAULT_WITHIN
T0 = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Sink:
    """Stands in for the router: notes what comes back to the call."""

    messages: list[tuple[str, m.Message]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    recordings: dict[str, str] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def feed(self, call_id: str, message: m.Message, trigger: float | None = None) -> None:
        self.messages.append((call_id, message))
        self.arrived.set()

    def forget(self, call_id: str) -> None:
        self.forgotten.append(call_id)

    def track_recording(self, call_id: str, name: str) -> None:
        self.recordings[name] = call_id

    async def next_message(self) -> m.Message:
        async def wait() -> m.Message:
            while not self.messages:
                self.arrived.clear()
                await self.arrived.wait()
            return self.messages.pop(0)[1]

        return await asyncio.wait_for(wait(), WAIT)


@dataclass
class Rig:
    fake: FakeAri
    executor: CommandExecutor
    sink: Sink
    store: StoreThread[SqliteStore]
    vault: LocalVault


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    fake = FakeAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    data = site_config(tmp_path)
    data["ari"]["url"] = str(server.make_url("")).rstrip("/")
    config = load_site(write_site(tmp_path, data))
    config = dataclasses.replace(
        config, ari=dataclasses.replace(config.ari, password=Secret(PASSWORD, "env:TEST"))
    )
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    vault.prepare()
    async with aiohttp.ClientSession() as session:
        executor = CommandExecutor(
            config=config,
            client=AriClient(config.ari, session),
            store=store,
            vault=vault,
            clock=SystemClock(),
        )
        sink = Sink()
        executor.attach(sink)
        try:
            yield Rig(fake, executor, sink, store, vault)
        finally:
            await executor.close(grace=0.1)
            await store.stop()
    await server.close()


def seen(rig: Rig) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in rig.fake.requests]


REST_ROUTES: list[tuple[c.Rest, list[tuple[str, str]]]] = [
    (c.Answer("ch"), [("POST", "/ari/channels/ch/answer")]),
    (c.Play("ch", "sound:x", "pb1"), [("POST", "/ari/channels/ch/play/pb1")]),
    (c.StopPlayback("pb1"), [("DELETE", "/ari/playbacks/pb1")]),
    (c.Ring("ch"), [("POST", "/ari/channels/ch/ring")]),
    (c.Originate("PJSIP/alice", "ag", "agent,c1", 20, "ch"), [("POST", "/ari/channels")]),
    (c.Snoop("ch", "rc-c1-snoop1"), [("POST", "/ari/channels/ch/snoop/rc-c1-snoop1")]),
    (c.CutSnoop("rc-c1-snoop1"), [("DELETE", "/ari/channels/rc-c1-snoop1")]),
    (c.CreateBridge("br"), [("POST", "/ari/bridges")]),
    (c.AddToBridge("br", "ch"), [("POST", "/ari/bridges/br/addChannel")]),
    (c.RemoveFromBridge("br", "ch"), [("POST", "/ari/bridges/br/removeChannel")]),
    (c.StartHoldMusic("br", "default"), [("POST", "/ari/bridges/br/moh")]),
    (c.StopHoldMusic("br"), [("DELETE", "/ari/bridges/br/moh")]),
    (c.StartRecording("br", "rec", "wav"), [("POST", "/ari/bridges/br/record")]),
    (c.CancelRecording("rec"), [("DELETE", "/ari/recordings/live/rec")]),
    (c.PauseRecording("rec", mute=False), [("POST", "/ari/recordings/live/rec/pause")]),
    (c.PauseRecording("rec", mute=True), [("POST", "/ari/recordings/live/rec/mute")]),
    (c.ResumeRecording("rec", mute=False), [("DELETE", "/ari/recordings/live/rec/pause")]),
    (c.ResumeRecording("rec", mute=True), [("DELETE", "/ari/recordings/live/rec/mute")]),
    (c.StopRecording("rec"), [("POST", "/ari/recordings/live/rec/stop")]),
    (c.Hangup("ch"), [("DELETE", "/ari/channels/ch")]),
    (c.DestroyBridge("br"), [("DELETE", "/ari/bridges/br")]),
    (c.MuteCaller("ch"), [("POST", "/ari/channels/ch/mute")]),
    (c.UnmuteCaller("ch"), [("DELETE", "/ari/channels/ch/mute")]),
    (
        c.ContinueInDialplan("ch"),
        [("POST", "/ari/channels/ch/variable"), ("POST", "/ari/channels/ch/continue")],
    ),
]


@pytest.mark.parametrize(("command", "requests"), REST_ROUTES, ids=lambda v: type(v).__name__)
async def test_each_rest_command_reaches_its_resource(
    rig: Rig, command: c.Rest, requests: list[tuple[str, str]]
) -> None:
    await rig.executor.execute("c1", command, None)
    # A snoop's cut is not awaited by the batch: it is on its way.
    await until(lambda: len(seen(rig)) >= len(requests), "the requests sent")
    assert seen(rig) == requests
    assert rig.sink.messages == []


async def test_s8_a_snoop_hears_both_ways_and_whispers_nothing(rig: Rig) -> None:
    await rig.executor.execute("c1", c.Snoop("ch", "rc-c1-snoop1"), None)
    (request,) = rig.fake.requests
    assert request.query == {
        "spy": "both",
        "whisper": "none",
        "app": "reccontrol",
        "appArgs": "listening,c1,snoop",
    }


def test_every_rest_command_is_covered_above() -> None:
    import typing

    assert {type(command) for command, _ in REST_ROUTES} == set(typing.get_args(c.Rest))


async def test_rest_failure_comes_back_to_the_call(rig: Rig) -> None:
    rig.fake.answers[("POST", "/ari/channels/ch/answer")] = (404, {"message": "Channel not found"})
    command = c.Answer("ch")
    await rig.executor.execute("c1", command, None)
    assert rig.sink.messages == [("c1", m.CommandFailed(command, "ari-not-found", 404))]


async def test_clean_up_of_something_already_gone_is_not_a_failure(rig: Rig) -> None:
    rig.fake.answers[("DELETE", "/ari/channels/ch")] = (404, {"message": "Channel not found"})
    await rig.executor.execute("c1", c.Hangup("ch"), None)
    assert seen(rig) == [("DELETE", "/ari/channels/ch")]
    assert rig.sink.messages == []


async def test_protective_command_reaction_time_is_measured(rig: Rig) -> None:
    # The key came half a second ago: the time measured runs from it, in milliseconds,
    # and a loaded machine only adds to it.
    before = SystemClock().monotonic()
    trigger = before - 0.5
    await rig.executor.execute("c1", c.PauseRecording("rec", mute=False), trigger)
    took_ms = (SystemClock().monotonic() - before) * 1000
    await rig.executor.execute("c1", c.StopRecording("rec"), trigger)
    assert rig.executor.reaction_times_ms.count == 1
    assert 500 <= next(iter(rig.executor.reaction_times_ms)) <= 500 + took_ms


async def test_timers_fire_back_and_cancelled_ones_do_not(rig: Rig) -> None:
    await rig.executor.execute("c1", c.StartTimer("early", 0.0), None)
    await rig.executor.execute("c1", c.CancelTimer("early"), None)
    await rig.executor.execute("c1", c.StartTimer("late", 0.01), None)
    # Had "early" not been cancelled, it would have come first.
    assert await rig.sink.next_message() == m.TimerFired("late")
    assert rig.sink.messages == []


async def test_finished_stops_the_batch_and_forgets_the_call(rig: Rig) -> None:
    batch = Batch([c.Hangup("a"), c.Finished(), c.Hangup("b")])
    await rig.executor.run_batch("c1", batch)
    assert seen(rig) == [("DELETE", "/ari/channels/a")]
    assert rig.sink.forgotten == ["c1"]


async def test_a_forgotten_call_timers_are_dropped(rig: Rig) -> None:
    await rig.executor.execute("c1", c.StartTimer("ending", 0.05), None)
    rig.executor.drop_timers("c1")
    await rig.executor.execute("c2", c.StartTimer("other", 0.1), None)
    # Had "ending" not been dropped, it would have come first.
    assert await rig.sink.next_message() == m.TimerFired("other")
    assert rig.sink.messages == []


async def test_opened_recording_is_tracked_for_its_events(rig: Rig) -> None:
    opened = c.OpenRecording("r1", "c1", "name-1", "wav", ("quality",), 30)
    await rig.executor.execute("c1", opened, None)
    assert rig.sink.recordings == {"name-1": "c1"}


async def test_payment_without_an_api_is_unavailable_and_wipes_the_card_M1(rig: Rig) -> None:
    card = CardData()
    for digit in "4556737586899855":
        card.number.append(digit)
    request = ChargeRequest(Decimal("10"), "EUR", "ORDER-1", "key-1", card)
    await rig.executor.execute("c1", c.SubmitPayment(request), None)
    done = await rig.sink.next_message()
    assert isinstance(done, m.PaymentDone) and done.result.status == "unavailable"
    assert len(card.number) == 0


async def test_payment_details_are_read_from_the_channel(rig: Rig) -> None:
    rig.fake.answers[("GET", "/ari/channels/ch/variable")] = (200, {"value": " 42.50 "})
    await rig.executor.execute("c1", c.FetchPaymentDetails("ch"), None)
    assert await rig.sink.next_message() == m.PaymentDetails("42.50", "42.50")


async def test_objection_lookup_answers_from_the_store_C4(rig: Rig) -> None:
    await rig.executor.execute("c1", c.RememberObjection("hash-1"), None)
    await rig.executor.execute("c1", c.LookupObjection("hash-1"), None)
    assert await rig.sink.next_message() == m.ObjectionKnown(True)
    await rig.executor.execute("c1", c.LookupObjection("hash-2"), None)
    assert await rig.sink.next_message() == m.ObjectionKnown(False)


async def test_r1_stopping_a_recording_asterisk_no_longer_has_settles_it(rig: Rig) -> None:
    """R1: the recording ended while the events websocket was down, so its
    RecordingFinished is lost; the 404 to the stop settles it at once instead of leaving
    the call waiting for its ending timer."""
    path = "/ari/recordings/live/rec/stop"
    rig.fake.answers[("POST", path)] = (404, {"message": "Recording not found"})
    await rig.executor.execute("c1", c.StopRecording("rec"), None)
    assert rig.sink.messages == [("c1", m.RecordingEnded("rec"))]


async def test_r1_full_vault_keeps_the_file_in_asterisks_folder_with_an_alert(
    rig: Rig, tmp_path: Path
) -> None:
    """R1/T4: a vault that cannot take the file (here its name is taken by a folder, as
    a full disk would refuse it) leaves the file where it is and the row live, with a
    vault_failed alert on the call: the orphan sweep vaults it later. No half copy."""
    config = load_site(tmp_path / "reccontrol.yaml")
    call_id = await rig.store.run(lambda s: add_call(s, config, service="sales", started_at=T0))
    await rig.store.run(
        lambda s: s.open_recording("r1", call_id, "n" * 40, "wav", ("quality",), T0, 30)
    )
    rig.vault.asterisk_dir.mkdir(exist_ok=True)
    incoming = rig.vault.incoming_path("n" * 40, "wav")
    audio = wav_bytes(0.5)
    incoming.write_bytes(audio)
    (rig.vault.vault_dir / incoming.name).mkdir()
    await rig.executor.execute(call_id, c.TakeInRecording("r1", "n" * 40, "wav"), None)
    await rig.executor.close(grace=WAIT)
    alerts = await rig.store.run(
        lambda s: list(s.db.query("SELECT call_id, kind, message FROM alerts"))
    )
    row = await rig.store.run(lambda s: s.recording("r1"))
    assert [(a["call_id"], a["kind"]) for a in alerts] == [(call_id, "vault_failed")]
    assert "kept in Asterisk's folder" in alerts[0]["message"]
    assert row is not None and row.state == "live"
    assert incoming.read_bytes() == audio
    assert [p.name for p in rig.vault.vault_dir.iterdir()] == [incoming.name]
    assert rig.executor.settling == set()


async def test_r1_recording_with_no_audio_is_deleted_with_a_receipt_and_an_alert(
    rig: Rig, tmp_path: Path
) -> None:
    """R1/T4: Asterisk killed right after a recording started leaves a WAV header and no
    audio. Nothing to keep: the file is deleted (not left in Asterisk's folder, not
    moved into the vault), with a receipt and an alert; the row turns ``failed``."""
    config = load_site(tmp_path / "reccontrol.yaml")
    call_id = await rig.store.run(lambda s: add_call(s, config, service="sales", started_at=T0))
    await rig.store.run(
        lambda s: s.open_recording("r1", call_id, "n" * 40, "wav", ("quality",), T0, 30)
    )
    rig.vault.asterisk_dir.mkdir(exist_ok=True)
    incoming = rig.vault.incoming_path("n" * 40, "wav")
    incoming.write_bytes(wav_bytes(0.0))
    await rig.executor.execute(call_id, c.TakeInRecording("r1", "n" * 40, "wav"), None)
    await rig.executor.close(grace=WAIT)
    row = await rig.store.run(lambda s: s.recording("r1"))
    assert row is not None and row.state == "failed"
    assert not incoming.exists() and list(rig.vault.vault_dir.iterdir()) == []
    alerts = await rig.store.run(lambda s: list(s.db.query("SELECT call_id, kind FROM alerts")))
    assert [(a["call_id"], a["kind"]) for a in alerts] == [(call_id, "recording_unusable")]
    (receipt,) = await rig.store.run(
        lambda s: list(s.db.query("SELECT action, target, details FROM access_log"))
    )
    assert (receipt["action"], receipt["target"]) == ("delete_unusable", "recording:r1")
    assert "it holds no audio" in receipt["details"]
    assert rig.executor.recording_failures == 1


async def test_r1_a_file_being_vaulted_is_the_calls_before_its_task_runs(
    rig: Rig, tmp_path: Path
) -> None:
    """R1: from the moment a call asks for its file to be vaulted, the orphan sweep must
    leave it alone, even if the call is forgotten before the vaulting task starts; and a
    row the sweep settled meanwhile is never marked missing over its vault file."""
    config = load_site(tmp_path / "reccontrol.yaml")
    call_id = await rig.store.run(lambda s: add_call(s, config, service="sales", started_at=T0))
    await rig.store.run(
        lambda s: s.open_recording("r1", call_id, "m" * 40, "wav", ("quality",), T0, 30)
    )
    await rig.executor.execute(call_id, c.TakeInRecording("r1", "m" * 40, "wav"), None)
    assert "m" * 40 in rig.executor.settling
    await rig.executor.close(5.0)
    assert rig.executor.settling == set()
    # No file: the row would turn missing, but only from live.
    await rig.store.run(lambda s: s.db.execute("UPDATE recordings SET state = 'stored'"))
    await rig.store.run(lambda s: s.close_recording("r1", "missing", T0))
    (state,) = await rig.store.run(
        lambda s: s.db.execute("SELECT state FROM recordings").fetchone()
    )
    assert state == "stored"


def _opt_out(call_id: str) -> c.AddConsent:
    return c.AddConsent(ConsentEvent(call_id, T0, "opt_out", "9", "v1", "conversation"))


async def _take_in(rig: Rig, call_id: str, recording_id: str, name: str) -> None:
    """A recording of ``call_id`` whose file Asterisk finished, taken in by the call."""
    await rig.store.run(
        lambda s: s.open_recording(recording_id, call_id, name, "wav", ("quality",), T0, 30)
    )
    rig.vault.asterisk_dir.mkdir(exist_ok=True)
    rig.vault.incoming_path(name, "wav").write_bytes(wav_bytes(0.5))
    await rig.executor.take_in(call_id, recording_id, name, "wav")


async def _c2_receipts(rig: Rig) -> list[dict[str, object]]:
    entries = await rig.store.run(lambda s: list(s.access_entries()))
    return [r for r in receipted(entries) if r["rule"] == OBJECTION_RULE]


async def test_c2_t4_an_objection_deletes_the_calls_audio_in_the_vault_behind_the_ledger(
    rig: Rig, tmp_path: Path
) -> None:
    """C2, T4: the objection's ledger write is queued, not awaited; the deletion after it
    in the batch still finds the call's recording in the vault and deletes it by the
    crash-safe deletion (file and row gone, a receipt naming C2, by ``system``). Another
    call's recording stays; the ledger keeps the objection."""
    config = load_site(tmp_path / "reccontrol.yaml")
    objecting = await rig.store.run(lambda s: add_call(s, config, service="sales", started_at=T0))
    other = await rig.store.run(lambda s: add_call(s, config, service="sales", started_at=T0))
    await _take_in(rig, objecting, "r1", "a" * 40)
    await _take_in(rig, other, "r2", "b" * 40)
    kept = await rig.store.run(lambda s: s.recording("r2"))
    assert kept is not None and kept.path is not None
    batch = Batch([_opt_out(objecting), c.DeleteUnkeptAudio(objecting, Unkept.OBJECTED)])
    await rig.executor.run_batch(objecting, batch)
    await rig.executor.close(grace=WAIT)

    receipts = await _c2_receipts(rig)
    assert [(r["recording_id"], r["call_id"], r["file"]) for r in receipts] == [
        ("r1", objecting, "deleted")
    ]
    assert receipts[0]["actor"] == "system"
    assert await rig.store.run(lambda s: s.recording("r1")) is None
    assert [p.name for p in rig.vault.vault_dir.iterdir()] == [Path(kept.path).name]
    summary = await rig.store.run(lambda s: s.call_summary(objecting))
    assert summary is not None
    assert [e["kind"] for e in summary["consent_events"]] == ["opt_out"]


async def test_c2_a_file_taken_in_after_the_objection_is_deleted_at_once(
    rig: Rig, tmp_path: Path
) -> None:
    """C2: a recording whose file Asterisk finished after the caller objected (a segment
    ending as the key came, a two-channel recording's halves) is not kept: stored, it is
    deleted at once by the crash-safe deletion, with its receipt naming C2."""
    config = load_site(tmp_path / "reccontrol.yaml")
    call_id = await rig.store.run(lambda s: add_call(s, config, service="sales", started_at=T0))
    await rig.executor.run_batch(call_id, Batch([_opt_out(call_id)]))
    await _take_in(rig, call_id, "r1", "c" * 40)
    await rig.executor.close(grace=WAIT)

    receipts = await _c2_receipts(rig)
    assert [(r["recording_id"], r["file"]) for r in receipts] == [("r1", "deleted")]
    assert await rig.store.run(lambda s: s.recording("r1")) is None
    assert list(rig.vault.vault_dir.iterdir()) == []
    assert not rig.vault.incoming_path("c" * 40, "wav").exists()
