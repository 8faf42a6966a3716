"""The agents' keys on the FastAGI path against the real Asterisk: the shipped feature map
(``dialplan/reccontrol-features.conf``) runs the key scripts on the agent's channel of a
dialplan-only site's ``Dial()``, the recording is MixMonitor's, and the rows are the ARI
path's own (A2, A5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import dtmf_keys, read_wav, tone_seconds, tone_spans
from tests.integration.conftest import free_port
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE, running_flow, service
from tests.integration.test_agi_recording import agi_section, dial_site_call, ended

MARKER = 2600.0  # what the agent says while the recording is paused


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def stored_audio(call: dict[str, Any]) -> Any:
    (rec,) = call["recordings"]
    assert rec["state"] == "stored"
    return read_wav(Path(rec["path"]))


async def test_a5_agi_pause_in_skip_mode_leaves_the_paused_words_out(site: SandboxSite) -> None:
    """*2 then *3 on the agent's channel (A5, skip mode): StopMixMonitor, then MixMonitor
    appending to the same file. The marker the agent hums during the pause is not in
    the file, the agent's voice is after the resume, no key is heard in it, and the
    pause row is the ARI path's (agent_key, resumed by the agent)."""
    port = free_port()
    services = {"sales": service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-14", agent="alice-pause")
        call = await ended(flow, call_id)
        leftovers = flow.asterisk_files()

    (pause,) = call["pauses"]
    assert (pause["paused_by"], pause["reason"], pause["resumed_by"]) == (
        "alice",
        "agent_key",
        "agent",
    )
    assert pause["ended_at"] > pause["started_at"]
    audio = stored_audio(call)
    print('DEBUG', audio.duration, tone_seconds(audio, MARKER), tone_spans(audio, AGENT_VOICE))
    assert tone_seconds(audio, MARKER) < 0.1
    assert dtmf_keys(audio) == []
    agent = tone_spans(audio, AGENT_VOICE)
    assert agent[0][0] < 0.5 and agent[-1][1] > audio.duration - 0.5
    assert tone_seconds(audio.slice(audio.duration - 2, audio.duration), AGENT_VOICE) > 1.5
    assert tone_seconds(audio, CALLER_VOICE) > 0.8 * audio.duration
    assert leftovers == []
