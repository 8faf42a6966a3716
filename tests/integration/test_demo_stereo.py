"""The demo's recordings on two channels (R5), against the real Asterisk and run by the
demo's own code: a sampled call's file in the vault holds the caller on the left and
the agent on the right, and the demo's line says it is a stereo file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from controller.demo.run import ARI_SCENARIOS, report, run_scenarios
from controller.sandbox import SandboxInstance
from tests.audio import Audio, open_wav, tone_seconds

RECORDED = tuple(s for s in ARI_SCENARIOS if s.title.startswith("Sampled: recorded"))
CALLER_TONE, AGENT_TONE = 500.0, 1100.0  # the sandbox's c-talk and sim-agent-talk


async def test_r5_the_demo_records_the_caller_left_and_the_agent_right(
    asterisk: SandboxInstance, tmp_path: Path
) -> None:
    results = await run_scenarios(asterisk, tmp_path / "demo", lambda _line: None, RECORDED)
    printed: list[str] = []
    report(results, printed.append, RECORDED)

    (call,) = results
    (rec,) = call["recordings"]
    assert rec["state"] == "stored"
    with open_wav(rec["path"]) as wav:
        assert wav.getnchannels() == 2
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    frames = data.reshape(-1, 2) / 32768.0
    left, right = (Audio(frames[:, side].copy(), rate) for side in (0, 1))
    assert tone_seconds(left, CALLER_TONE) > 0.8 * left.duration
    assert tone_seconds(right, AGENT_TONE) > 0.8 * right.duration
    assert tone_seconds(left, AGENT_TONE) == tone_seconds(right, CALLER_TONE) == 0.0
    assert Path(rec["path"]).parent == tmp_path / "demo" / "vault"
    assert "stereo WAV (training+quality)" in printed[-1]
