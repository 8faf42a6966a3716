"""The demo's assisted payment (M4), against the real Asterisk and run by the demo's own
code: Alice presses *8 and stays on the line while the caller keys the card. The charge
is approved; the stereo file runs on through the keying (no pause), the caller's side
holds neither the 2900 Hz marker hummed while keying nor a key tone, Alice's side is
there throughout; the demo's line says the keys were masked, not paused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from controller.demo.run import ARI_SCENARIOS, report, run_scenarios
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import Audio, dtmf_keys, open_wav, tone_seconds
from tests.integration.test_payments import assert_no_card_data

ASSISTED = tuple(s for s in ARI_SCENARIOS if "assisted" in s.title)
CALLER_MARKER, AGENT_TONE = 2900.0, 1100.0  # the sandbox's c-pay and sim-agent-keys


async def test_m4_the_demo_takes_an_assisted_payment_with_the_keys_masked(
    asterisk: SandboxInstance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """M4, M3: besides, no card number, expiry or security code in the daemon's log (at
    debug level), the ARI event log or any table of the store."""
    caplog.set_level(logging.DEBUG, logger="reccontrol")
    assert len(ASSISTED) == 1
    results = await run_scenarios(asterisk, tmp_path / "demo", lambda _line: None, ASSISTED)
    printed: list[str] = []
    report(results, printed.append, ASSISTED)

    (call,) = results
    assert [p["status"] for p in call["payments"]] == ["approved"]
    assert call["pauses"] == []
    (span,) = call["masked_spans"]
    assert span["ended_by"] == "collected"
    (rec,) = call["recordings"]
    with open_wav(rec["path"]) as wav:
        assert wav.getnchannels() == 2
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    frames = data.reshape(-1, 2) / 32768.0
    caller, agent = (Audio(frames[:, side].copy(), rate) for side in (0, 1))
    # c-pay-12: 12 s from the answer (the announcement, then talk), the marker (1 s),
    # the card (7.5 s), the marker again (0.5 s, heard: the card is in), 7 s of talk.
    # The file starts once Alice answers: the keying's 8.5 s are in it, not cut out.
    assert caller.duration > 16.0
    assert tone_seconds(caller, CALLER_MARKER) <= 0.6
    assert dtmf_keys(caller) == [] and dtmf_keys(agent) == []
    assert tone_seconds(agent, AGENT_TONE) > 0.9 * agent.duration
    assert "caller's keys masked" in printed[-1] and "payment approved" in printed[-1]
    assert_no_card_data(SandboxSite(asterisk, tmp_path / "demo"), caplog.text)
