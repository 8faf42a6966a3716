"""Two-channel recordings (R5) over real SIP: SIPp phones hum their marker tones, and
each side of the stored stereo WAV is the evidence: the caller's voice on the left only,
the agent's on the right only, at the format's rate; the pause and the payment keep
both sides out; an objection or the private key leaves nothing. On the ARI path and on
the FastAGI path (MixMonitor's ``D``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.demo.payment_api import PaymentApi, make_certificates
from controller.demo.site import SandboxSite
from tests.audio import Audio, dtmf_keys, open_wav, tone_seconds, tone_spans
from tests.integration.conftest import free_port
from tests.integration.flow import (
    AGENT_VOICE,
    ANNOUNCEMENT_MARKER,
    CALLER_VOICE,
    OPT_OUT,
    private_counts_once_ended,
    running_flow,
    service,
)
from tests.integration.sip_site import sip_site_fixtures
from tests.integration.test_agent_controls import FEEDBACK, keyed_sections
from tests.integration.test_agi_sip_phones import (
    agi_sections,
    longest_digital_silence,
    site_headers,
)
from tests.integration.test_payments import CARD, CVV, EXPIRY, payment_section
from tests.integration.test_sip_phones import (
    CALLER_NUMBER,
    PAUSE_MARKER,
    PAYMENT_MARKER,
    TOLERANCE_MS,
    assert_no_new_file,
    merged,
    pause_media,
    sip_agents,
    table_counts,
)
from tests.integration.test_transfers import (
    CALLER_HANGS_UP_MS,
    CHLOE_VOICE,
    REFER_AFTER_MS,
    segments,
)
from tests.sip.media import Part, Silence, keys, tone
from tests.sip.sipp import Switchboard

sip_asterisk, site, phones = sip_site_fixtures("stereo")


def stereo_sections(site: SandboxSite, fmt: str = "wav") -> dict[str, Any]:
    recordings = {
        "asterisk_dir": str(site.instance.recording_dir),
        "vault_dir": str(site.workdir / "vault"),
        "format": fmt,
        "channels": "stereo",
    }
    return {"recordings": recordings, **keyed_sections(site)}


def read_sides(path: Path) -> tuple[Audio, Audio]:
    """The left and the right channel of a stereo WAV."""
    with open_wav(path) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2), path
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    frames = data.reshape(-1, 2) / 32768.0
    return Audio(frames[:, 0].copy(), rate), Audio(frames[:, 1].copy(), rate)


@pytest.mark.parametrize(("fmt", "rate"), [("wav", 8000), ("wav16", 16000)])
async def test_r5_each_side_lands_on_its_own_channel(
    site: SandboxSite, phones: Switchboard, fmt: str, rate: int
) -> None:
    """R5: with ``recordings.channels: stereo`` the stored file has two channels at the
    format's rate: the caller's marker on the left and never on the right, the agent's
    on the right and never on the left; no announcement, key or feedback tone."""
    services = {"sales": service(site, target="PJSIP/alice")}
    agent: list[Part] = [tone(AGENT_VOICE, 3000), *keys("*6"), tone(AGENT_VOICE, 9000)]
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **stereo_sections(site, fmt)
    ) as flow:
        await phones.agent("alice", agent)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 15000)], 11000)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1)
        bridges, channels = await flow.asterisk_leftovers()
        assert bridges == [] and channels == [], "no snoop channel is left over"
        # Both halves went into the one vault file: nothing stays in Asterisk's folder.
        assert flow.asterisk_files() == []
    (recording,) = call["recordings"]
    assert recording["state"] == "stored"
    assert [p.name for p in flow.vault_files()] == [Path(recording["path"]).name]
    assert call["alerts"] == []
    left, right = read_sides(Path(recording["path"]))
    assert left.rate == right.rate == rate
    assert recording["duration_seconds"] == pytest.approx(left.duration, abs=0.01)
    assert left.duration > 5.0
    assert tone_seconds(left, CALLER_VOICE) > 0.9 * left.duration
    assert tone_seconds(right, AGENT_VOICE) > 0.8 * right.duration
    assert tone_seconds(left, AGENT_VOICE) == 0.0
    assert tone_seconds(right, CALLER_VOICE) == 0.0
    for side in (left, right):
        assert tone_seconds(side, ANNOUNCEMENT_MARKER) == 0.0
        assert tone_seconds(side, FEEDBACK) == 0.0
        assert dtmf_keys(side) == []


async def test_r5_pause_leaks_nothing_on_either_channel(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R5 with A5: *2 pauses both sides at once, *3 resumes them. The marker the agent
    hums from the release of 2 is not on the right (leak in ms, at most two mixing
    frames); the left paused within the same frames: it is no longer than the right
    (a side paused late would run on past the agent's last word)."""
    services = {"sales": service(site, target="PJSIP/alice")}
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **stereo_sections(site)
    ) as flow:
        await phones.agent("alice", pause_media(0))
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 20000)], 13000)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1)
    (pause,) = call["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("agent_key", "agent")
    (recording,) = call["recordings"]
    left, right = read_sides(Path(recording["path"]))
    leak_ms = round(tone_seconds(right, PAUSE_MARKER) * 1000)
    assert leak_ms <= TOLERANCE_MS, f"marker on the agent's side: {leak_ms} ms"
    assert tone_seconds(left, PAUSE_MARKER) == 0.0
    # The agent talks to the end of the call: the right side's last word is the file's.
    agent_end = merged(tone_spans(right, AGENT_VOICE), gap=0.1)[-1][1]
    assert round((right.duration - agent_end) * 1000) <= TOLERANCE_MS
    # The caller is heard on the left from the start to (about) the end.
    caller = merged(tone_spans(left, CALLER_VOICE), gap=0.1)
    assert caller[0][0] < 0.1 and left.duration - caller[-1][1] < 0.2, caller
    assert tone_seconds(left, CALLER_VOICE) > 0.9 * left.duration
    # *3 resumed the agent's side: 3 s of the agent before the hang-up.
    tail = right.slice(right.duration - 3, right.duration)
    assert tone_seconds(tail, AGENT_VOICE) > 2.7


async def test_r5_silence_mode_mutes_both_channels(site: SandboxSite, phones: Switchboard) -> None:
    """R5 with A5 in silence mode: *2 mutes both sides at once (ARI ``mute`` on each
    half), *3 unmutes them. The marker is on neither side, each side holds the pause as
    digital silence, and both voices come back after *3."""
    services = {"sales": service(site, target="PJSIP/alice", pause={"mode": "silence"})}
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **stereo_sections(site)
    ) as flow:
        await phones.agent("alice", pause_media(0))
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 20000)], 13000)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1)
    (pause,) = call["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("agent_key", "agent")
    left, right = read_sides(Path(call["recordings"][0]["path"]))
    leak_ms = round(tone_seconds(right, PAUSE_MARKER) * 1000)
    assert leak_ms <= TOLERANCE_MS, f"marker on the agent's side: {leak_ms} ms"
    assert tone_seconds(left, PAUSE_MARKER) == 0.0
    for side in (left, right):
        assert 2.8 <= longest_digital_silence(side) <= 4.2
    assert tone_seconds(left.slice(left.duration - 2, left.duration), CALLER_VOICE) > 1.5
    assert tone_seconds(right.slice(right.duration - 2, right.duration), AGENT_VOICE) > 1.5


async def test_r5_an_objection_mid_call_leaves_neither_side(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R5 with C2: the caller presses the opt-out key while the stereo recording runs:
    both halves are cancelled, nothing reaches the vault or stays in Asterisk's folder,
    and no snoop channel is left."""
    services = {"sales": service(site, target="PJSIP/alice")}
    caller: list[Part] = [tone(CALLER_VOICE, 7000), *keys(OPT_OUT), tone(CALLER_VOICE, 5000)]
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **stereo_sections(site)
    ) as flow:
        before = flow.asterisk_files()
        await phones.agent("alice", [tone(AGENT_VOICE, 14000)])
        await phones.call("sales", CALLER_NUMBER, caller, hangup_after_ms=11000)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1)
        await assert_no_new_file(flow, before)
        bridges, channels = await flow.asterisk_leftovers()
        assert bridges == [] and channels == []
    (event,) = call["consent_events"]
    assert (event["kind"], event["phase"]) == ("opt_out", "conversation")
    (recording,) = call["recordings"]
    assert (recording["state"], recording["path"]) == ("discarded", None)


# -- the FastAGI path: MixMonitor's D option ----------------------------------------------
async def test_r5_agi_each_side_lands_on_its_own_channel(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R5 on the FastAGI path: MixMonitor on the agent's channel with ``D`` writes two
    channels; in the vault the caller is on the left and the agent on the right, as on
    the ARI path."""
    port = free_port()
    services = {"sales": service(site, target="PJSIP/alice")}
    sections = {**stereo_sections(site), **agi_sections(port, site)}
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **sections
    ) as flow:
        await phones.agent("alice", [tone(AGENT_VOICE, 12000)])
        headers = site_headers(port, agent="PJSIP/alice")
        await phones.call("agi-sales", CALLER_NUMBER, [tone(CALLER_VOICE, 15000)], 11000, headers)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1)
    assert call["path"] == "agi"
    (recording,) = call["recordings"]
    assert recording["state"] == "stored"
    left, right = read_sides(Path(recording["path"]))
    assert left.rate == 8000 and left.duration > 5.0
    assert tone_seconds(left, CALLER_VOICE) > 0.8 * left.duration
    assert tone_seconds(right, AGENT_VOICE) > 0.8 * right.duration
    assert tone_seconds(left, AGENT_VOICE) == 0.0
    assert tone_seconds(right, CALLER_VOICE) == 0.0


@pytest.mark.parametrize("mode", ["skip", "silence"])
async def test_r5_agi_pause_keeps_both_channels_out(
    site: SandboxSite, phones: Switchboard, mode: str
) -> None:
    """R5 with A5 on the FastAGI path: *2 pauses (skip: MixMonitor stopped; silence:
    AMI's ``MixMonitorMute``), *3 resumes. The marker the agent hums from the release
    of 2 is on neither side; in silence mode both sides hold the pause as digital
    silence (the mute took both directions), and after *3 both voices are back."""
    port = free_port()
    services = {"sales": service(site, target="PJSIP/alice", pause={"mode": mode})}
    sections = {**stereo_sections(site), **agi_sections(port, site)}
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **sections
    ) as flow:
        await phones.agent("alice", pause_media(0))
        headers = site_headers(port, agent="PJSIP/alice")
        await phones.call("agi-sales", CALLER_NUMBER, [tone(CALLER_VOICE, 20000)], 13000, headers)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1)
    (pause,) = call["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("agent_key", "agent")
    (recording,) = call["recordings"]
    left, right = read_sides(Path(recording["path"]))
    leak_ms = round(tone_seconds(right, PAUSE_MARKER) * 1000)
    assert leak_ms <= TOLERANCE_MS, f"marker on the agent's side: {leak_ms} ms"
    assert tone_seconds(left, PAUSE_MARKER) == 0.0
    if mode == "silence":
        for side in (left, right):
            assert 2.8 <= longest_digital_silence(side) <= 4.2
    tail_left = left.slice(left.duration - 2, left.duration)
    tail_right = right.slice(right.duration - 2, right.duration)
    assert tone_seconds(tail_left, CALLER_VOICE) > 1.5
    assert tone_seconds(tail_right, AGENT_VOICE) > 1.5
    assert tone_seconds(left, AGENT_VOICE) == tone_seconds(right, CALLER_VOICE) == 0.0


async def test_r5_the_private_key_leaves_neither_side(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R5 with A2: *7 two seconds into a stereo recording: both halves are cancelled,
    the call's rows go, one private call is counted, and no snoop channel is left."""
    services = {"sales": service(site, target="PJSIP/alice")}
    agent: list[Part] = [tone(AGENT_VOICE, 2000), *keys("*7"), tone(AGENT_VOICE, 12000)]
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **stereo_sections(site)
    ) as flow:
        before = flow.asterisk_files()
        await phones.agent("alice", agent)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 15000)], 9000)
        await phones.finished()
        counts = await private_counts_once_ended(flow, 1)
        await assert_no_new_file(flow, before)
        bridges, channels = await flow.asterisk_leftovers()
        assert bridges == [] and channels == []
    assert [(c["agent_id"], c["count"]) for c in counts] == [("alice", 1)]
    assert table_counts(site.workdir / "reccontrol.sqlite3")["recordings"] == 0


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[PaymentApi]:
    server = PaymentApi(make_certificates(tmp_path / "certs"))
    await server.start()
    yield server
    await server.stop()


async def test_r5_the_payment_ivr_is_on_neither_side(
    site: SandboxSite, phones: Switchboard, api: PaymentApi
) -> None:
    """R5 with M1: the agent presses *8; the caller, in the payment IVR, hums a marker and
    keys the card. Both sides were paused before the caller heard the IVR: the marker
    and the keys are on neither channel, each side's voice before and after is."""
    services = {"sales": service(site, target="PJSIP/alice", payments=True)}
    agent: list[Part] = [tone(AGENT_VOICE, 2000), *keys("*8"), tone(AGENT_VOICE, 30000)]
    caller: list[Part] = [
        tone(CALLER_VOICE, 8000),
        tone(PAYMENT_MARKER, 1000),
        *keys(CARD + "#"),
        Silence(500),
        *keys(EXPIRY),
        Silence(500),
        *keys(CVV + "#"),
        tone(PAYMENT_MARKER, 500),
        tone(CALLER_VOICE, 7000),
    ]
    headers = {"X-Payment-Amount": "42.50", "X-Payment-Order": "ORD-77"}
    sections = {**stereo_sections(site), "payment": payment_section(site, api)}
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **sections
    ) as flow:
        await phones.agent("alice", agent)
        hangup = sum(part.ms for part in caller)
        await phones.call("sales", CALLER_NUMBER, caller, hangup, headers=headers)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1, within=60)
    (pay,) = call["payments"]
    assert pay["status"] == "approved"
    (pause,) = call["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("payment_ivr", "payment")
    left, right = read_sides(Path(call["recordings"][0]["path"]))
    for side in (left, right):
        assert tone_seconds(side, PAYMENT_MARKER) == 0.0
        assert dtmf_keys(side) == []
    assert tone_seconds(left.slice(0, 1.5), CALLER_VOICE) > 1.2
    assert tone_seconds(right.slice(0, 1.5), AGENT_VOICE) > 1.2
    assert tone_seconds(left.slice(left.duration - 4, left.duration), CALLER_VOICE) > 3.0
    assert tone_seconds(right.slice(right.duration - 4, right.duration), AGENT_VOICE) > 3.0


async def test_r5_r3_a_blind_transfer_keeps_each_segment_on_two_channels(
    site: SandboxSite, phones: Switchboard
) -> None:
    """R5 with R3: Alice transfers the caller to Chloé with a SIP REFER. Each segment is
    a stereo file of its own: the caller on the left of both, Alice on the right of the
    first, Chloé on the right of the second, and nothing of either half is left in
    Asterisk's folder."""
    services = {"sales": service(site, target="PJSIP/alice")}
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **stereo_sections(site)
    ) as flow:
        await phones.transferring_agent(
            "alice", [tone(AGENT_VOICE, 30000)], "xfer-chloe", REFER_AFTER_MS
        )
        await phones.agent("chloe", [tone(CHLOE_VOICE, 30000)])
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 30000)], CALLER_HANGS_UP_MS)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1, within=60)
        bridges, channels = await flow.asterisk_leftovers()
        assert (bridges, channels) == ([], []), "no snoop or leg of the call is left"
        assert flow.asterisk_files() == []
    assert segments(call) == [(1, "alice", "stored"), (2, "chloe", "stored")]
    first, second = (read_sides(Path(r["path"])) for r in call["recordings"])
    heard = ((first, AGENT_VOICE, CHLOE_VOICE), (second, CHLOE_VOICE, AGENT_VOICE))
    for (left, right), agent, other in heard:
        assert tone_seconds(left, CALLER_VOICE) > 0.8 * left.duration
        assert tone_seconds(right, agent) > 1.5
        assert tone_seconds(right, other) == tone_seconds(left, agent) == 0.0
        assert tone_seconds(right, CALLER_VOICE) == 0.0
