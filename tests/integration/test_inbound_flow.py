"""The inbound call flow against the real Asterisk: announcement, objection, sampling,
bridge recording and metadata, with the audio itself as evidence."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.calls.ids import agent_leg
from controller.cli import cli
from controller.demo.site import SandboxSite
from controller.privacy import caller_hash
from controller.sandbox import SandboxInstance
from controller.secrets import Secret
from tests.audio import plaintext, read_wav, tone_seconds
from tests.integration.flow import (
    AGENT_VOICE,
    ANNOUNCEMENT_MARKER,
    ANNOUNCEMENT_SECONDS,
    CALLER_VOICE,
    NOTICE_MARKER,
    Flow,
    running_flow,
    service,
)
from tests.waiting import eventually

CALLER_NUMBER = "+33612345678"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def assert_clean(flow: Flow) -> None:
    """No stuck bridge, no channel, no recording left in Asterisk's reach."""
    bridges, channels = await flow.asterisk_leftovers()
    assert bridges == [] and channels == []
    assert flow.asterisk_files() == []


async def test_sampled_call_records_the_conversation_not_the_announcement(
    site: SandboxSite,
) -> None:
    """The announcement is never in the file; the file is private, its name unguessable
    (C1, S4)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.1]) as flow:
        await flow.board.call("sales", "c-talk-9", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)

    assert call["outcome"] == "caller_hung_up" and call["agent_id"] == "alice"
    assert call["announcement_completed"] == 1 and call["announcement_version"] == "2026-01"
    assert call["recorded"] == 1
    decision = call["decision"]
    assert (decision["record"], decision["reason"], decision["rate"], decision["draw"]) == (
        1,
        "sampled",
        0.5,
        0.1,
    )
    assert decision["in_window"] == 1 and "alice" in decision["window"]

    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and rec["format"] == "wav"
    assert rec["purposes"] == '["training", "quality"]'
    path = Path(rec["path"])
    assert path.parent == flow.vault and flow.vault_files() == [path]
    assert path.stat().st_mode & 0o077 == 0 and flow.vault.stat().st_mode & 0o077 == 0
    assert len(path.stem) == 40  # 160 random bits: not guessable
    assert hashlib.sha256(plaintext(path)).hexdigest() == rec["sha256"]
    created = dt.datetime.fromisoformat(rec["created_at"])
    assert dt.datetime.fromisoformat(rec["expires_at"]) - created == dt.timedelta(days=90)

    audio = read_wav(path)
    assert rec["duration_seconds"] == pytest.approx(audio.duration, abs=0.01)
    # The caller hangs up 9 s after answering; the announcement takes 3 s of that, and
    # reaching the agent a little more. The file holds the conversation only: one that
    # held the announcement would last about 9 s. The caller's 9 s start at its own
    # answer, a few frames from the inbound channel's, hence the half second.
    assert 4.0 <= audio.duration <= 9 - ANNOUNCEMENT_SECONDS + 0.5
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) == 0.0
    assert tone_seconds(audio, CALLER_VOICE) > 0.8 * audio.duration
    assert tone_seconds(audio, AGENT_VOICE) > 0.8 * audio.duration


async def test_opt_out_during_announcement_leaves_no_file(site: SandboxSite) -> None:
    """An objection during the announcement leaves no file (C2)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-key-9-1-6", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
        assert flow.vault_files() == []

    assert call["recorded"] == 0 and call["recordings"] == []
    assert call["decision"]["reason"] == "caller_objected" and call["decision"]["draw"] is None
    (consent,) = call["consent_events"]
    assert (consent["kind"], consent["key"], consent["phase"]) == ("opt_out", "9", "announcement")
    assert consent["announcement_version"] == "2026-01"
    # The caller still reached the agent: objecting stops the recording, not the call.
    assert call["agent_id"] == "alice"


async def test_opt_out_mid_call_discards_the_live_recording(site: SandboxSite) -> None:
    """An objection mid-call cancels and discards the live recording (C2)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-key-9-7-3", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
        assert flow.vault_files() == []

    (rec,) = call["recordings"]
    assert rec["state"] == "discarded" and rec["path"] is None and rec["sha256"] is None
    assert call["recorded"] == 0
    (consent,) = call["consent_events"]
    assert (consent["kind"], consent["phase"]) == ("opt_out", "conversation")
    assert flow.daemon.calls.reaction_times_ms.count, "the discard's reaction time was not measured"


async def test_unsampled_call_leaves_no_file_and_says_why(site: SandboxSite) -> None:
    """An unsampled call leaves no file and a decision saying why (P1, P3)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.93]) as flow:
        await flow.board.call("sales", "c-talk-6", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
        assert flow.vault_files() == []
    decision = call["decision"]
    assert (decision["record"], decision["reason"], decision["draw"]) == (0, "not_sampled", 0.93)
    assert call["recordings"] == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("Local/chloe-talk@sim-agent", "outside_agent_window"),
        ("Local/bruno-talk@sim-agent", "protected_agent"),
        ("Local/dave-talk@sim-agent", "unknown_agent"),
    ],
)
async def test_agent_rules_stop_recording(site: SandboxSite, target: str, reason: str) -> None:
    """Agents outside their periods, or protected, are not recorded (A1, A3)."""
    async with running_flow(
        site, services={"sales": service(site, target=target)}, draws=[0.0]
    ) as flow:
        await flow.board.call("sales", "c-talk-6", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        assert flow.vault_files() == []
    assert call["decision"]["reason"] == reason and call["recordings"] == []


async def test_outside_service_window_and_campaign(site: SandboxSite) -> None:
    """The service's weekly windows and campaign dates apply (P1)."""
    services = {
        "night": service(site, windows=[{"days": "daily", "from": "22:00", "to": "06:00"}]),
        "summer": service(site, campaign={"start": "2020-06-01", "end": "2020-08-31"}),
    }
    async with running_flow(site, services=services, draws=[0.0, 0.0]) as flow:
        await flow.board.call("night", "c-talk-6", CALLER_NUMBER)
        await flow.board.call("summer", "c-talk-6", "+33699999999")
        calls = await flow.daemon.wait_for_calls(2)
        assert flow.vault_files() == []
    reasons = {c["service"]: c["decision"]["reason"] for c in calls}
    assert reasons == {"night": "outside_service_window", "summer": "outside_campaign"}


async def test_remembered_objection_stops_the_next_call(site: SandboxSite) -> None:
    """An objection is remembered for the next call from that number (C4)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.0, 0.0]) as flow:
        await flow.board.call("sales", "c-key-9-1-3", CALLER_NUMBER)
        await flow.daemon.wait_for_calls(1)
        # Same number, written another way, calls again: would be sampled (draw 0.0).
        await flow.board.call("sales", "c-talk-6", "0033 6 12 34 56 78")
        first, second = await flow.daemon.wait_for_calls(2)
        assert flow.vault_files() == []
        config = flow.daemon.config

    assert second["decision"]["reason"] == "remembered_objection"
    assert second["consent_events"] == [] and second["recordings"] == []
    key: Secret = config.privacy.caller_hmac_key
    assert first["caller_hash"] == second["caller_hash"] == caller_hash(key, CALLER_NUMBER)
    # The number itself is nowhere in the store, the event log or the WAL.
    for path in site.workdir.glob("reccontrol.sqlite3*"):
        data = path.read_bytes()
        assert b"612345678" not in data
    assert "612345678" not in (site.workdir / "ari-events.jsonl").read_text()
    with sqlite3.connect(site.workdir / "reccontrol.sqlite3") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM objections").fetchone()
    assert count == 1


async def test_full_notice_key_plays_the_notice_and_comes_back(site: SandboxSite) -> None:
    """The full-notice key plays the notice on a real call (C3)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.1]) as flow:
        await flow.board.call("sales", "c-key-0-1-9", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
    (consent,) = call["consent_events"]
    assert consent["kind"] == "full_notice"
    # After the notice the caller reached the agent and the call was recorded.
    assert call["agent_id"] == "alice" and call["recorded"] == 1
    audio = read_wav(Path(call["recordings"][0]["path"]))
    assert tone_seconds(audio, NOTICE_MARKER) == 0.0
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) == 0.0


async def test_no_agent_answers(site: SandboxSite) -> None:
    services = {"sales": service(site, target="Local/alice-ring@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-30", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1, within=40)
        await assert_clean(flow)
        assert flow.vault_files() == []
    assert call["outcome"] == "no_agent" and call["decision"] is None
    assert call["recordings"] == []


async def test_caller_hangs_up_during_the_announcement(site: SandboxSite) -> None:
    async with running_flow(site, services={"sales": service(site)}, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-1", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
    assert call["outcome"] == "caller_hung_up" and call["agent_id"] is None
    assert call["announcement_completed"] == 0 and call["decision"] is None


async def test_agent_hangs_up_first(site: SandboxSite) -> None:
    services = {"sales": service(site, target="Local/alice-hangup-3@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-30", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_clean(flow)
    assert call["outcome"] == "agent_hung_up" and call["recorded"] == 1
    audio = read_wav(Path(call["recordings"][0]["path"]))
    assert 1.5 <= audio.duration <= 3.5


async def test_recording_that_cannot_start_leaves_the_call_going(site: SandboxSite) -> None:
    recording_dir = site.instance.recording_dir
    hidden = recording_dir.with_name("recording-away")
    async with running_flow(site, services={"sales": service(site)}, draws=[0.0]) as flow:
        recording_dir.rename(hidden)  # Asterisk now answers 500 to the record request
        try:
            await flow.board.call("sales", "c-talk-7", CALLER_NUMBER)
            (call,) = await flow.daemon.wait_for_calls(1)
        finally:
            hidden.rename(recording_dir)
        await assert_clean(flow)
    # Tried once more with a new file (R1), each loss an alert on the call at once.
    assert [(r["state"], r["path"]) for r in call["recordings"]] == [("failed", None)] * 2
    assert [a["kind"] for a in call["alerts"]] == ["recording_failed"] * 2
    assert call["outcome"] == "caller_hung_up" and call["recorded"] == 0


async def test_unknown_service_goes_on_unrecorded(site: SandboxSite) -> None:
    async with running_flow(site, services={"sales": service(site)}) as flow:
        await flow.board.call("nosuch", "c-talk-3", CALLER_NUMBER)

        # The call is handed back to the dialplan, which sends it to the fallback.
        async def in_fallback() -> bool | None:
            channels = await flow.board.client.list_channels()
            return any(ch.dialplan_context == "reccontrol-fallback" for ch in channels) or None

        await eventually(in_fallback, "the call in reccontrol-fallback")
        assert await flow.daemon.query(lambda s: s.call_ids()) == []


async def test_sampling_audit_command(site: SandboxSite) -> None:
    """The sampling audit compares achieved and configured rates (P3)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.1, 0.9]) as flow:
        await flow.board.call("sales", "c-talk-5", CALLER_NUMBER)
        await flow.board.call("sales", "c-talk-5", "+33700000000")
        await flow.daemon.wait_for_calls(2)
        config_path = site.workdir / "reccontrol.yaml"
    result = CliRunner().invoke(cli, ["sampling-audit", "-c", str(config_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["service", "configured", "achieved", "draws", "sampled", "calls"]
    assert lines[1].split() == ["sales", "0.500", "0.500", "2", "1", "2"]


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
async def test_the_agent_is_dialled_with_the_callers_codec(site: SandboxSite, codec: str) -> None:
    """The agent's leg is dialled with the caller's channel as originator, as Dial() does:
    it takes the caller's codec, and the call's bridge mixes at the phones' rate. A Local
    target dialled with no originator would take every format and run at 192 kHz, a
    resampling cost that saturated Asterisk under load (bench/load.py)."""
    async with running_flow(site, services={"sales": service(site)}, draws=[0.1]) as flow:
        caller = await flow.board.call("sales", "c-talk-30", CALLER_NUMBER, formats=codec)

        async def recording() -> str | None:
            call_id = flow.daemon.calls.find_call(agent_id="alice")
            if call_id is None:
                return None
            summary = await flow.daemon.query(lambda s: s.call_summary(call_id))
            return call_id if any(r["state"] == "live" for r in summary["recordings"]) else None

        call_id = await eventually(recording, "the call recorded")
        client = flow.board.client
        native = "CHANNEL(audionativeformat)"
        assert await client.get_variable(caller.id, native) == f"({codec})"
        assert await client.get_variable(agent_leg(call_id), native) == f"({codec})"
        await client.hangup(caller.id)
        (call,) = await flow.daemon.wait_for_calls(1)
    # Whether the recording is kept is not this test's: hung up a moment after it
    # started, it may hold no audio, and a file with no audio is not kept.
    assert call["agent_id"] == "alice"
