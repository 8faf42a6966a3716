"""The daemon killed with SIGKILL at each step of a call and restarted 1 s later, as
``systemd Restart=always`` with ``RestartSec=1`` would (R1, T4; C1, C2, A5, M1 through
the crash).

One scenario per kill point. The kill lands exactly there (``RECCONTROL_STOP_AT``, see
``controller/stoppoints.py``); the call then goes on and ends, and within 5 s of its end
every invariant of ``tests/faults/invariants.py`` holds: nothing of ours left in Stasis,
no ``rc-`` bridge, no file in Asterisk's folder, every recording row final with its
vault file and hash. Besides:

* the call reached the agent: through the bridge the restarted daemon adopted, or, for a
  caller still in the announcement or being connected, through the dialplan's fallback
  (``RECCONTROL_RESULT=unhandled``), which reaches the agent unrecorded;
* nothing of a call the caller objected to is recorded, before the crash or after (C2);
* the crash is a gap in which the caller's opt-out key may have gone unheard: a
  recording paused through it is discarded (DELETE: nothing vaulted, nothing left in
  Asterisk's folder), and the agent's resume key records nothing more (C2, A5);
* a payment is charged once, the caller is back with the agent, and the recording,
  paused for the payment through the crash, is discarded (M1, C2).

Local channels play the scripted callers and agents where only the signalling matters;
SIPp phones (real RTP, RFC 4733 keys) where the audio is the evidence.

Each scenario prints ``measured <scenario> recovery_seconds=…`` (restart until every
invariant holds), ``adopted_seconds=…`` (restart until the restarted daemon handles
events: an event sent then has come back through its handler; the calls left open are
adopted beside the events from then on) and
``settled_seconds=…`` (end of the call until every invariant holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.ari import AriClient
from controller.ari.errors import AriError
from controller.demo.payment_api import PaymentApi, make_certificates
from controller.demo.site import SandboxSite, Switchboard
from controller.sandbox import SandboxInstance
from tests.audio import Audio, read_wav, tone_seconds
from tests.faults.daemon import DaemonProcess
from tests.faults.invariants import Invariants
from tests.faults.site import direct_client, fault_config, invariants
from tests.integration.flow import AGENT_VOICE, ANNOUNCEMENT_SECONDS, CALLER_VOICE
from tests.integration.listening import gone
from tests.integration.test_payments import CARD, CVV, EXPIRY, payment_section
from tests.sip.media import Part, Silence, duration_ms, keys, tone
from tests.sip.sipp import Switchboard as SipPhones
from tests.sip.sipp import sip_phones
from tests.waiting import eventually

CALLER_NUMBER = "+33611116666"
RESTART_AFTER = 1.0  # seconds, as systemd's RestartSec=1
SETTLE_WITHIN = 5.0  # the invariants hold at most this long after the call ends
FALLBACK_CONTEXT = "reccontrol-fallback"
PAUSE_MARKER = 2600.0  # what the agent hums while the recording is paused
PAYMENT_MARKER = 2900.0  # what the caller hums in the payment IVR
RESYNC_BUDGET_MS = 7000
"""How long a SIP phone waits after the kill before it presses its next key or comes
back: the restart (1 s) and the restarted daemon's adoption (≤ 5 s, issue's budget)."""
WAV_HEADER, WAV_BYTES_PER_SECOND = 44, 16000
_barriers = itertools.count(1)


def logged_user_events(events: Path) -> int:
    """How many user events the daemons have written to the event log so far."""
    if not events.exists():
        return 0
    count = 0
    for line in events.read_text(encoding="utf-8").splitlines():
        try:
            count += json.loads(line).get("type") == "ChannelUserevent"
        except ValueError:
            continue  # the line the daemon is writing right now
    return count


# -- one killed daemon -----------------------------------------------------------------------
@dataclass
class Killing:
    """A daemon that stops at ``points`` (killed once it reached them all), the ARI client
    the test watches Asterisk with, and the invariants."""

    scenario: str
    site: SandboxSite
    daemon: DaemonProcess
    client: AriClient
    checks: Invariants
    points: tuple[str, ...]
    board: Switchboard
    restarted: float = 0.0
    adopted_seconds: float = 0.0
    in_stasis_at_kill: list[str] = field(default_factory=list)

    @property
    def store(self) -> Path:
        return self.checks.store

    async def kill_at_points(self, landed: str | None = None) -> None:
        """Kills the daemon once it reached every point (and, with ``landed``, once the
        store table has a row)."""
        await self.daemon.frozen_at_all(self.points)
        if landed is not None:
            await eventually(lambda: asyncio.to_thread(has_row, self.store, landed), landed)
        self.in_stasis_at_kill = list((await self.client.get_application("reccontrol")).channel_ids)
        await self.daemon.kill()

    async def restart(self) -> None:
        """Restarted 1 s after the kill; returns once the restarted daemon handles
        events (it adopts the calls left open beside them)."""
        await asyncio.sleep(RESTART_AFTER)  # systemd's delay, not a wait for a result
        loop = asyncio.get_running_loop()
        self.restarted = loop.time()
        await self.daemon.start()
        await self.daemon.wait_for("ARI events: connected")
        await self._barrier()
        self.adopted_seconds = loop.time() - self.restarted

    async def _barrier(self) -> None:
        """Once an event sent now is in the event log (written after its handler ran),
        the restarted daemon handles events. The log keeps no user event's name, so
        they are counted: one more than before this one was sent is an event the
        restarted daemon handled."""
        events = self.site.workdir / "ari-events.jsonl"
        before = await asyncio.to_thread(logged_user_events, events)
        await self.client.send_user_event(f"fault-barrier-{next(_barriers)}")

        async def logged() -> bool | None:
            return True if await asyncio.to_thread(logged_user_events, events) > before else None

        await eventually(logged, "the restarted daemon handles events", within=30)

    async def settle(self) -> None:
        """The call has ended: every invariant must hold within 5 s."""
        loop = asyncio.get_running_loop()
        ended = loop.time()
        await self.checks.hold_within(SETTLE_WITHIN)
        now = loop.time()
        print(
            f"measured {self.scenario} recovery_seconds={now - self.restarted:.2f} "
            f"adopted_seconds={self.adopted_seconds:.2f} settled_seconds={now - ended:.2f}"
        )

    def caller_in_stasis(self) -> str:
        """The caller's channel the daemon had in Stasis when it was killed."""
        (caller,) = [c for c in self.in_stasis_at_kill if not c.startswith("rc-")]
        return caller


@asynccontextmanager
async def killing(
    scenario: str, site: SandboxSite, tmp_path: Path, points: tuple[str, ...], **config: Any
) -> AsyncIterator[Killing]:
    """A daemon started to stop at ``points``, connected to the application."""
    path = fault_config(site, **config)
    daemon = DaemonProcess(path, tmp_path / "daemon.log")
    async with aiohttp.ClientSession() as session:
        client = direct_client(site.instance, session)
        board = Switchboard(site.instance, session)
        run = Killing(scenario, site, daemon, client, invariants(site, client), points, board)
        before = {c.id for c in await client.list_channels()}
        await daemon.start(fault_point=",".join(points))
        try:
            await daemon.wait_for("ARI events: connected")
            yield run
        finally:
            await daemon.stop()
            await clear_leftovers(run, before)


async def clear_leftovers(run: Killing, before: set[str]) -> None:
    """After the verdict: whatever a failed scenario stranded goes, so that the next
    scenario on the shared Asterisk starts clean (Local scripts would wait for minutes)."""
    for channel in await run.client.list_channels():
        if channel.id not in before:
            with contextlib.suppress(AriError):
                await run.client.hangup(channel.id)
    for bridge in await run.client.request("GET", "/bridges") or []:
        if str(bridge.get("id", "")).startswith("rc-"):
            with contextlib.suppress(AriError):
                await run.client.destroy_bridge(bridge["id"])
    for name in run.checks.new_files():
        (run.checks.recording_dir / name).unlink(missing_ok=True)


def has_row(store: Path, table: str) -> bool | None:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        (count,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
    return True if count else None


def recording_rows(store: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT id, name, state, path FROM recordings")]


def payment_rows(store: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT status FROM payments")]


def pause_rows(store: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT reason, resumed_by FROM pauses")]


def alert_kinds(store: Path) -> list[str]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return [kind for (kind,) in db.execute("SELECT kind FROM alerts ORDER BY at")]


def has_alert(store: Path, kind: str) -> bool | None:
    return True if kind in alert_kinds(store) else None


def nothing_vaulted(site: SandboxSite) -> bool:
    vault = site.workdir / "vault"
    return not vault.exists() or not [p for p in vault.rglob("*") if p.is_file()]


def stored_audio(store: Path) -> Audio:
    (row,) = [r for r in recording_rows(store) if r["state"] == "stored"]
    return read_wav(Path(row["path"]))


async def recording_runs(run: Killing, seconds: float = 2.0) -> None:
    """Waits until Asterisk has written ``seconds`` of the call's recording (8 kHz
    16-bit WAV) in its folder."""

    def probe_files() -> bool | None:
        for name in run.checks.new_files():
            size = (run.checks.recording_dir / name).stat().st_size
            if size >= WAV_HEADER + seconds * WAV_BYTES_PER_SECOND:
                return True
        return None

    async def probe() -> bool | None:
        return await asyncio.to_thread(probe_files)

    await eventually(probe, "the call's recording runs")


async def reached_fallback(client: AriClient, channel_id: str) -> None:
    """The caller was handed back and runs the dialplan's fallback (the agent, unrecorded)."""

    async def probe() -> bool | None:
        channel = await client.get_channel(channel_id)
        return True if channel.dialplan_context == FALLBACK_CONTEXT else None

    await eventually(probe, "the caller reaches the dialplan's fallback", within=15)


async def bridged_with_agent(client: AriClient, caller_id: str) -> None:
    """The caller and the agent are in our bridge, once the restarted daemon adopted it."""
    bridges = [
        b for b in await client.request("GET", "/bridges") or [] if b["id"].startswith("rc-")
    ]
    members = [set(b.get("channels", [])) for b in bridges]
    assert any(caller_id in m and any(c.endswith("-agent") for c in m) for m in members), (
        f"caller and agent not bridged after the restart: {bridges}"
    )


# -- Local channels: signalling only ---------------------------------------------------------
@dataclass(frozen=True)
class Kill:
    points: tuple[str, ...]
    """Where the daemon stops; it is killed once it reached them all."""
    caller: str = "c-talk-300"
    """The caller's script (sim-caller); the test itself hangs up the caller."""
    handed_back: bool = False
    """The call cannot be carried on: the caller goes on through the dialplan fallback."""
    stored: int | None = 1
    """Recordings stored in the vault at the end; None where either is right."""
    hang_up_first: bool = False
    """The caller hangs up once the recording runs, before the kill point."""
    landed: str | None = None
    """A store table: the kill waits until the write the call queued just before the
    point is in it (the event loop is stopped; the store thread finishes that write).
    Without it, whether the write landed would be left to chance."""


LOCAL_KILLS = {
    # C1: the announcement plays; the call's row is stored, nothing decided or recorded.
    "announcement": Kill(("did:Play",), handed_back=True, stored=0, landed="calls"),
    # Killed before the call's first row could be written: Asterisk has a caller in the
    # application that the store knows nothing of.
    "before_its_row": Kill(("store:BeginCall",), handed_back=True, stored=0),
    # C2: the caller pressed the opt-out key 1 s into the announcement; killed before
    # its consent row could be written.
    "opt_out": Kill(
        ("after:ChannelDtmfReceived",), caller="c-key-9-1-300", handed_back=True, stored=0
    ),
    # The agent's leg was just originated (it answers while the daemon is dead).
    "dialling": Kill(("did:Originate",), handed_back=True, stored=0),
    # Both in the bridge, no decision yet: recorded or not, but nothing left behind.
    "bridged": Kill(("did:AddToBridge@2",), stored=None),
    # The recording ran while the daemon was down, when a key could go unheard: it is
    # discarded, as after an ARI cut.
    "recording": Kill(("after:RecordingStarted",), stored=0),
    # The caller hung up; the recording's stop was asked for, the agent not yet hung up.
    "hangup": Kill(("did:StopRecording",), hang_up_first=True),
    # The recording's row was being written when the daemon died: the decision is
    # stored, the row is not, Asterisk was not yet asked to record (the row comes first).
    "store_write": Kill(("store:OpenRecording",), stored=None),
}


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.mark.parametrize("scenario", list(LOCAL_KILLS))
async def test_r1_t4_killed_mid_call_nothing_stranded(
    site: SandboxSite, tmp_path: Path, scenario: str
) -> None:
    """R1, T4: killed at ``scenario``'s point and restarted 1 s later, the call reaches
    the agent (adopted, or handed back to the dialplan) and leaves nothing behind; C2:
    after the opt-out key nothing is recorded, before or after the restart."""
    kill = LOCAL_KILLS[scenario]
    target = "Local/alice-talk@sim-agent"
    async with killing(scenario, site, tmp_path, kill.points, target=target) as run:
        caller = await run.board.call("sales", kill.caller, CALLER_NUMBER)
        if kill.hang_up_first:
            await recording_runs(run)
            await run.client.hangup(caller.id)
        await run.kill_at_points(kill.landed)
        await run.restart()
        if not kill.hang_up_first:
            if kill.handed_back:
                await reached_fallback(run.client, run.caller_in_stasis())
            else:
                await bridged_with_agent(run.client, run.caller_in_stasis())
            await run.client.hangup(caller.id)
        await gone(run.client, caller.id)
        await run.settle()

    rows = recording_rows(run.store)
    if kill.handed_back:
        assert rows == [], "a call handed back is never recorded"
        assert not (site.workdir / "vault").exists() or not any((site.workdir / "vault").iterdir())
    if kill.stored is not None:
        assert len([r for r in rows if r["state"] == "stored"]) == kill.stored, rows
    if kill.stored:
        audio = stored_audio(run.store)
        assert tone_seconds(audio, AGENT_VOICE) > 0.5 * audio.duration
        assert tone_seconds(audio, CALLER_VOICE) > 0.5 * audio.duration


# -- SIP phones: the audio is the evidence ---------------------------------------------------
@pytest.fixture
async def phones(asterisk: SandboxInstance, tmp_path: Path) -> AsyncIterator[SipPhones]:
    async with sip_phones(asterisk.sip_port, asterisk.phone_ports, tmp_path / "sipp") as board:
        yield board


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[PaymentApi]:
    server = PaymentApi(make_certificates(tmp_path / "certs"))
    await server.start()
    yield server
    await server.stop()


PAUSE_KEYS = {"paused_agent": "*2", "paused_card": "*5"}


@pytest.mark.parametrize("scenario", list(PAUSE_KEYS))
async def test_r1_c2_a5_killed_while_paused_the_recording_is_discarded_nothing_resumes(
    site: SandboxSite, tmp_path: Path, phones: SipPhones, scenario: str
) -> None:
    """C2, A5, M2 through a crash: killed right after the agent's pause key (*2, or *5
    before card details are read out) paused the recording, its pause row not yet
    written. The agent hums a marker for the whole pause, through the kill and the
    restart, then presses *3 and talks on. The caller may have objected while the daemon
    was down: the adopted call's recording, paused, is discarded (DELETE: nothing of it
    vaulted, nothing left in Asterisk's folder), its row and its pause closed as
    discarded, and the resume key records nothing more."""
    agent: list[Part] = [
        tone(AGENT_VOICE, 2000),
        *keys(PAUSE_KEYS[scenario]),
        tone(PAUSE_MARKER, RESYNC_BUDGET_MS),
        *keys("*3"),
        tone(AGENT_VOICE, 8000),
    ]
    # The agent answers once the announcement is over; the caller hangs up while the
    # agent still talks after *3.
    hangup_ms = int(ANNOUNCEMENT_SECONDS * 1000) + duration_ms(agent) - 2000
    caller = [tone(CALLER_VOICE, hangup_ms + 2000)]
    points = ("did:PauseRecording",)
    config = {"target": "PJSIP/alice", "endpoint": "PJSIP/alice"}
    async with killing(scenario, site, tmp_path, points, **config) as run:
        await phones.agent("alice", agent)
        trunk = await phones.call("sales", CALLER_NUMBER, caller, hangup_ms)
        await run.kill_at_points()
        await run.restart()
        await trunk.finished(60)
        await run.settle()
        await phones.finished(10)

    rows = recording_rows(run.store)
    assert [(r["state"], r["path"]) for r in rows] == [("discarded", None)], rows
    assert nothing_vaulted(site)
    # Killed before the key's pause row: the restart found the recording paused in
    # Asterisk, opened its pause, then discarded both.
    assert [(p["reason"], p["resumed_by"]) for p in pause_rows(run.store)] == [
        ("restart", "discarded")
    ]
    assert "keys_unheard" in alert_kinds(run.store)


async def test_r1_m1_c2_killed_in_the_payment_ivr_charged_once_the_recording_discarded(
    site: SandboxSite, tmp_path: Path, phones: SipPhones, api: PaymentApi
) -> None:
    """M1, C2 through a crash: killed as the caller starts hearing the payment's result
    (charged, the payment row written, the caller still out of the bridge, the recording
    paused). After the restart the caller is back with the agent (bridged with them, a
    payment_interrupted alert), and the recording, paused through the crash, is
    discarded, as the caller's keys went unheard: nothing of the call is vaulted. The
    card is charged once, never again."""
    agent: list[Part] = [tone(AGENT_VOICE, 2000), *keys("*8"), tone(AGENT_VOICE, 60000)]
    back_ms = RESYNC_BUDGET_MS + 6000
    # The agent presses *8 about 5.3 s after the caller's answer: by 8 s the caller is
    # in the IVR.
    caller: list[Part] = [
        tone(CALLER_VOICE, 8000),
        tone(PAYMENT_MARKER, 1000),
        *keys(CARD + "#"),
        Silence(500),
        *keys(EXPIRY),
        Silence(500),
        *keys(CVV + "#"),
        tone(PAYMENT_MARKER, 500),
        tone(CALLER_VOICE, back_ms),
    ]
    headers = {"X-Payment-Amount": "42.50", "X-Payment-Order": "ORD-77"}
    # Sounds played: the announcement, the three card prompts, then the result.
    points = ("did:Play@5",)
    config = {
        "target": "PJSIP/alice",
        "endpoint": "PJSIP/alice",
        "sales": {"payments": True},
        "payment": payment_section(site, api),
    }
    async with killing("payment_ivr", site, tmp_path, points, **config) as run:
        await phones.agent("alice", agent)
        trunk = await phones.call("sales", CALLER_NUMBER, caller, duration_ms(caller), headers)
        await run.kill_at_points(landed="payments")
        assert len(api.charges) == 1, "killed after the charge"
        await run.restart()
        await eventually(
            lambda: asyncio.to_thread(has_alert, run.store, "payment_interrupted"),
            "the caller back with the agent",
        )
        await bridged_with_agent(run.client, run.caller_in_stasis())
        await trunk.finished(60)
        await run.settle()
        await phones.finished(10)

    assert len(api.charges) == 1 and len({r.idempotency_key for r in api.received}) == 1
    assert [p["status"] for p in payment_rows(run.store)] == ["approved"]
    rows = recording_rows(run.store)
    assert [(r["state"], r["path"]) for r in rows] == [("discarded", None)], rows
    assert nothing_vaulted(site)
    assert [(p["reason"], p["resumed_by"]) for p in pause_rows(run.store)] == [
        ("payment_ivr", "discarded")
    ]
