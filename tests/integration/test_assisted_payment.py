"""Card payments with the agent on the line (M4), and two clauses of M1/M2, over real SIP.

SIPp phones send PCMU RTP through PJSIP: the trunk (the caller) keys the card as RFC 4733
events, or as DTMF tones in the audio through the ``trunk-inband`` endpoint (Asterisk's
DSP detects them); the agent's phone hums markers. What each phone received is read
off the wire (:mod:`tests.sip.capture`), and the stored WAV is the evidence for the
file. One Asterisk for the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.demo.payment_api import PaymentApi, make_certificates
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import Audio, dtmf_keys, read_wav, tone_seconds, tone_spans
from tests.integration.ari_probe import ari_app
from tests.integration.flow import AGENT_VOICE, ANNOUNCEMENT_SECONDS, CALLER_VOICE, running_flow
from tests.integration.flow import service as service_section
from tests.integration.sip_site import sip_site_fixtures
from tests.integration.test_agent_controls import FEEDBACK, keyed_sections
from tests.integration.test_payments import CARD, CVV, EXPIRY, payment_section
from tests.integration.test_sip_phones import CALLER_NUMBER, merged, sip_agents
from tests.sip.capture import Capture, received_audio
from tests.sip.media import (
    RATE,
    Part,
    Silence,
    inband_keys,
    keys,
    mulaw_decode,
    read_pcap,
    tone,
    write_pcap,
)
from tests.sip.sipp import Switchboard

CALLER_MARKER = 2650.0
"""What the caller says while keying: masked, it must reach neither the agent nor the file."""
AGENT_MARKER = 2300.0
"""What the agent says while the caller keys: the file must hold it."""
DIGIT_BEEP = 3400.0
"""The neutral sound the agent hears per key (``payment.digit_sound``)."""
KEYS = CARD + "#" + EXPIRY + CVV + "#"
HEADERS = {"X-Payment-Amount": "42.50", "X-Payment-Order": "ORD-77"}


sip_asterisk, site, phones = sip_site_fixtures("pay")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[PaymentApi]:
    server = PaymentApi(make_certificates(tmp_path / "certs"))
    await server.start()
    yield server
    await server.stop()


def card_keys(digits: str) -> list[Part]:
    """The card as the caller keys it: number and #, expiry, security code and #."""
    press = inband_keys if digits == "inband" else keys
    return [
        *press(CARD + "#"),
        Silence(500),
        *press(EXPIRY),
        Silence(500),
        *press(CVV + "#"),
    ]


def caller_media(digits: str) -> list[Part]:
    """The agent presses *8 about 5.3 s after the caller's answer (3 s announcement, 2 s
    of talk, the keys): by 8 s the caller is muted towards the call, and hums a marker,
    keys the card, then talks on once the card is in (the last # ends the mask)."""
    return [
        tone(CALLER_VOICE, 8000),
        tone(CALLER_MARKER, 1000),
        *card_keys(digits),
        Silence(1000),
        tone(CALLER_VOICE, 7000),
    ]


def agent_media() -> list[Part]:
    """Talks 2 s, presses *8, hums the marker through the keying, then talks on."""
    marker = tone(AGENT_MARKER, 11000)
    return [tone(AGENT_VOICE, 2000), *keys("*8"), marker, tone(AGENT_VOICE, 12000)]


def sent_audio(parts: list[Part], pcap: Path) -> Audio:
    """What a phone playing ``parts`` sends as audio (telephone-events left out)."""
    packets = read_pcap(write_pcap(pcap, parts))
    payloads = [rtp[12:] for _, rtp in packets if rtp[1] & 0x7F == 0]
    return Audio(np.concatenate([mulaw_decode(p) for p in payloads]), RATE)


def paying_sections(site: SandboxSite, api: PaymentApi, mode: str) -> dict[str, Any]:
    payment = payment_section(site, api) | {"mode": mode}
    if mode == "assisted":
        payment["digit_sound"] = site.tone_sound("pay-digit", [(DIGIT_BEEP, 0.06)])
    return {"payment": payment, **keyed_sections(site)}


async def paid_call(
    site: SandboxSite,
    phones: Switchboard,
    api: PaymentApi,
    *,
    mode: str,
    digits: str,
    caller: list[Part],
    record_property: Callable[[str, object], None],
) -> tuple[Capture, int, int, dict[str, Any]]:
    """A recorded call to a paying service where the agent presses *8: what the caller's
    and the agent's phones received (their media ports) and the call's rows. Records how
    long after the key's event the protective REST call (mute or pause) was done."""
    services = {"sales": service_section(site, target="PJSIP/alice", payments=True)}
    ports: set[int] = set()
    trunk = "trunk-inband" if digits == "inband" else "trunk"
    with received_audio(ports) as capture:
        async with running_flow(
            site,
            services=services,
            agents=sip_agents(),
            draws=[0.0],
            **paying_sections(site, api, mode),
        ) as flow:
            agent = await phones.agent("alice", agent_media())
            ports.add(agent.media_port)
            hangup = sum(part.ms for part in caller)
            phone = await phones.call("sales", CALLER_NUMBER, caller, hangup, HEADERS, trunk)
            ports.add(phone.media_port)
            await phones.finished()
            (call,) = await flow.daemon.wait_for_calls(1, within=60)
            record_property("key_to_protection_ms", list(flow.daemon.calls.reaction_times_ms))
    return capture, phone.media_port, agent.media_port, call


def assert_card_reached_the_api(api: PaymentApi, call: dict[str, Any]) -> None:
    (pay,) = call["payments"]
    assert (pay["status"], pay["amount"], pay["order_reference"]) == ("approved", "42.50", "ORD-77")
    (received,) = api.received
    assert received.tls
    card = received.body["card"]
    assert (card["number"], card["expiry"], card["cvv"]) == (CARD, EXPIRY, CVV)


def assert_no_key_reached_the_agent(capture: Capture, agent_port: int) -> Audio:
    """Neither an RFC 4733 event nor a DTMF tone on the agent's leg; the capture heard
    the caller's voice there, so it was listening."""
    heard = capture.heard(agent_port)
    assert capture.events_to.get(agent_port, 0) == 0
    assert dtmf_keys(heard) == []
    assert tone_seconds(heard, CALLER_VOICE) > 4.0
    return heard


@pytest.mark.parametrize("digits", ["rfc4733", "inband"])
async def test_m4_assisted_payment_masks_the_keys_from_the_agent_and_the_wav(
    site: SandboxSite,
    phones: Switchboard,
    api: PaymentApi,
    record_property: Callable[[str, object], None],
    digits: str,
    tmp_path: Path,
) -> None:
    """M4, S6: in ``payment.mode: assisted`` the agent presses *8 and the caller, still
    bridged, keys the card (RFC 4733 events, or in-band tones Asterisk detects). The card
    reaches the payment API over TLS; the agent's leg carries no key event, no key tone
    and nothing of the caller's marker, but a neutral beep per key; the file runs on
    (no pause, one masked span) with the agent's marker and without the caller's marker
    or a key tone; the caller is heard again once the card is in."""
    caller = caller_media(digits)
    if digits == "inband":
        # Calibration: the tones the phone sends are keys the detector reads.
        sent = sent_audio(caller, tmp_path / "sent.pcap")
        assert "".join(dtmf_keys(sent)) == KEYS, dtmf_keys(sent)
    capture, caller_port, agent_port, call = await paid_call(
        site, phones, api, mode="assisted", digits=digits, caller=caller,
        record_property=record_property,
    )
    assert_card_reached_the_api(api, call)

    heard = assert_no_key_reached_the_agent(capture, agent_port)
    assert tone_seconds(heard, CALLER_MARKER) == 0.0
    # A beep a key: 60 ms each, 200 ms apart as the keys. Joined across 100 ms, so a
    # frame lost inside a beep does not count it twice; under load two beeps played late
    # can run together, hence the few allowed less.
    beeps = merged(tone_spans(heard, DIGIT_BEEP), gap=0.1)
    record_property("agent_beeps", len(beeps))
    assert len(KEYS) - 5 <= len(beeps) <= len(KEYS), beeps
    if digits == "rfc4733":
        # Calibration: the caller's phone did send its keys as events.
        assert len(capture.releases.get(caller_port, [])) == len(KEYS)

    assert call["pauses"] == []
    (span,) = call["masked_spans"]
    (recording,) = call["recordings"]
    assert (span["ended_by"], span["masked_by"]) == ("collected", "alice")
    assert span["recording_id"] == recording["id"]
    audio = read_wav(Path(recording["path"]))
    record_property("wav_seconds", round(audio.duration, 2))
    record_property("agent_marker_seconds", round(tone_seconds(audio, AGENT_MARKER), 2))
    # Continuous: the whole call after the announcement, masked span included.
    total = sum(part.ms for part in caller) / 1000
    assert audio.duration > total - ANNOUNCEMENT_SECONDS - 1.5
    assert tone_seconds(audio, CALLER_MARKER) == 0.0
    assert dtmf_keys(audio) == []
    assert tone_seconds(audio, DIGIT_BEEP) == 0.0 and tone_seconds(audio, FEEDBACK) == 0.0
    # The agent is recorded while the caller keys; the caller again after the card.
    assert tone_seconds(audio, AGENT_MARKER) > 9.0
    tail = audio.slice(audio.duration - 4, audio.duration)
    assert tone_seconds(tail, CALLER_VOICE) > 3.5 and tone_seconds(tail, AGENT_VOICE) > 3.5


async def test_m1_ivr_payment_leaves_no_key_on_the_agents_leg(
    site: SandboxSite,
    phones: Switchboard,
    api: PaymentApi,
    record_property: Callable[[str, object], None],
) -> None:
    """M1: in the secure IVR (``payment.mode: ivr``, the default) the caller keys the
    card as RFC 4733 events out of the bridge: the agent's phone receives no key event,
    no key tone, nothing of the caller's marker, and the card reaches the API."""
    capture, caller_port, agent_port, call = await paid_call(
        site, phones, api, mode="ivr", digits="rfc4733", caller=caller_media("rfc4733"),
        record_property=record_property,
    )
    assert_card_reached_the_api(api, call)
    heard = assert_no_key_reached_the_agent(capture, agent_port)
    assert tone_seconds(heard, CALLER_MARKER) == 0.0
    assert len(capture.releases.get(caller_port, [])) == len(KEYS)
    (pause,) = call["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("payment_ivr", "payment")


CARD_PAUSE_MARKER = 2600.0


async def test_m2_card_pause_forced_resume_at_its_limit_on_a_real_call(
    site: SandboxSite, phones: Switchboard, record_property: Callable[[str, object], None]
) -> None:
    """M2 over real SIP: ``card_resume: timeout``, ``card_max_seconds: 5``. The agent
    presses the card key *5 and hums a marker for 9.3 s, pressing *3 three seconds in
    (refused: only the limit ends a card pause). The daemon resumes the recording at 5 s:
    the pause row closed ``timeout``, the ``card_pause_timeout`` alert, and of the marker
    only what came after the limit is in the file, right before the agent's voice."""
    pause = {"max_seconds": 60, "card_max_seconds": 5, "card_resume": "timeout"}
    services = {"sales": service_section(site, target="PJSIP/alice", pause=pause)}
    agent: list[Part] = [
        tone(AGENT_VOICE, 2000),
        *keys("*5"),
        tone(CARD_PAUSE_MARKER, 3000),
        *keys("*3"),
        tone(CARD_PAUSE_MARKER, 6000),
        tone(AGENT_VOICE, 6000),
    ]
    async with running_flow(
        site, services=services, agents=sip_agents(), draws=[0.0], **keyed_sections(site)
    ) as flow:
        await phones.agent("alice", agent)
        await phones.call("sales", CALLER_NUMBER, [tone(CALLER_VOICE, 20000)], 19000)
        await phones.finished()
        (call,) = await flow.daemon.wait_for_calls(1)

    (row,) = call["pauses"]
    assert (row["reason"], row["resumed_by"]) == ("card", "timeout")
    (alert,) = call["alerts"]
    assert alert["kind"] == "card_pause_timeout" and "5 s" in alert["message"]
    (recording,) = call["recordings"]
    audio = read_wav(Path(recording["path"]))
    marker = merged(tone_spans(audio, CARD_PAUSE_MARKER), gap=0.1)
    record_property("marker_in_file", marker)
    # 9.3 s of marker from the card key: the first 5 s are out (the refused *3 with
    # them), about 4.3 s in, give or take the pause's and the forced resume's latency.
    # The resume key obeyed would have let 6 s in; the pause key's limit (60 s), none.
    assert 3.5 <= tone_seconds(audio, CARD_PAUSE_MARKER) <= 5.3, marker
    (span,) = marker
    voice_after = [s for s, _ in merged(tone_spans(audio, AGENT_VOICE), gap=0.1) if s > span[0]]
    assert voice_after and abs(voice_after[0] - span[1]) < 0.1, (marker, voice_after)
    assert dtmf_keys(audio) == []


async def test_m4_unmuting_a_caller_who_is_not_muted_is_harmless(
    sip_asterisk: SandboxInstance,
) -> None:
    """What a restarted controller relies on to unmute every adopted caller of an
    assisted-payment service (docs/asterisk-behaviour.md): ``DELETE …/mute`` answers 204
    on a channel never muted, and mute, unmute, unmute again all answer 204."""
    async with ari_app(sip_asterisk) as ari:
        channel = await ari.originate("Local/talk@sim-caller", app="reccontrol")
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == channel)
        await ari.expect(204, "POST", f"/channels/{channel}/answer")
        mute = f"/channels/{channel}/mute"
        await ari.expect(204, "DELETE", mute, direction="in")
        await ari.expect(204, "POST", mute, direction="in")
        await ari.expect(204, "DELETE", mute, direction="in")
        await ari.expect(204, "DELETE", mute, direction="in")
        await ari.expect(204, "DELETE", f"/channels/{channel}")
        await ari.wait_for("StasisEnd", lambda e: e["channel"]["id"] == channel)
