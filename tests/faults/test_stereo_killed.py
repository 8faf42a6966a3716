"""A two-channel recording (R5) through a SIGKILL of the daemon and its restart 1 s
later (R1): Asterisk holds two files, one a side; the restarted daemon either joins
them into one stereo file in the vault or deletes both, with a receipt. Never does one
half stay in Asterisk's folder, outside the vault and its retention (the invariants of
``tests/faults/invariants.py``, which also hold that no snoop channel is left in Stasis).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import Audio, open_wav, tone_seconds
from tests.faults.test_daemon_killed_calls import (
    CALLER_NUMBER,
    killing,
    recording_rows,
    recording_runs,
)
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE
from tests.integration.listening import gone


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def stereo(site: SandboxSite) -> dict[str, str]:
    return {
        "asterisk_dir": str(site.instance.recording_dir),
        "vault_dir": str(site.workdir / "vault"),
        "channels": "stereo",
    }


def sides(path: Path) -> tuple[Audio, Audio]:
    with open_wav(path) as wav:
        assert wav.getnchannels() == 2, f"{path} is not a stereo file"
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    frames = data.reshape(-1, 2) / 32768.0
    return Audio(frames[:, 0].copy(), rate), Audio(frames[:, 1].copy(), rate)


async def test_r5_r1_killed_while_both_sides_record_leaves_neither_half(
    site: SandboxSite, tmp_path: Path
) -> None:
    """Killed while both sides record: the keys went unheard while the daemon was away,
    so the restarted daemon discards the recording (as for a one-channel one): both
    halves go, nothing is left in Asterisk's folder or the vault, no snoop in Stasis."""
    target = "Local/alice-talk@sim-agent"
    points = ("after:RecordingStarted",)
    config = {"target": target, "recordings": stereo(site)}
    async with killing("stereo_recording", site, tmp_path, points, **config) as run:
        caller = await run.board.call("sales", "c-talk-300", CALLER_NUMBER)
        await run.kill_at_points()
        await recording_runs(run, 1.0)
        await run.restart()
        await run.client.hangup(caller.id)
        await gone(run.client, caller.id)
        await run.settle()

    rows = recording_rows(run.store)
    assert [r["state"] for r in rows] == ["discarded"], rows
    vault = site.workdir / "vault"
    assert not vault.exists() or list(vault.iterdir()) == []


async def test_r5_r1_killed_after_the_stop_vaults_one_stereo_file(
    site: SandboxSite, tmp_path: Path
) -> None:
    """The caller hung up, both sides' stop was asked for, and the daemon was killed
    before it took the files in: the restarted daemon joins the two halves into one
    stereo file in the vault (the caller on the left, the agent on the right) and
    deletes both halves from Asterisk's folder."""
    target = "Local/alice-talk@sim-agent"
    points = ("did:StopRecording",)
    config = {"target": target, "recordings": stereo(site)}
    async with killing("stereo_hangup", site, tmp_path, points, **config) as run:
        caller = await run.board.call("sales", "c-talk-300", CALLER_NUMBER)
        await recording_runs(run, 2.0)
        await run.client.hangup(caller.id)
        await run.kill_at_points()
        await run.restart()
        await gone(run.client, caller.id)
        await run.settle()

    (row,) = recording_rows(run.store)
    assert row["state"] == "stored", row
    left, right = sides(Path(row["path"]))
    assert left.duration > 1.5
    assert tone_seconds(left, CALLER_VOICE) > 0.5 * left.duration
    assert tone_seconds(right, AGENT_VOICE) > 0.5 * right.duration
    assert tone_seconds(left, AGENT_VOICE) == 0.0
    assert tone_seconds(right, CALLER_VOICE) == 0.0
