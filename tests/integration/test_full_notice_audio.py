"""The full notice proven on the caller's own audio (C3): what the caller's channel
received, recorded on the caller's side, not only the consent row."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import Audio, read_wav, tone_seconds, tone_spans
from tests.integration.flow import (
    AGENT_VOICE,
    ANNOUNCEMENT_MARKER,
    ANNOUNCEMENT_SECONDS,
    FULL_NOTICE,
    NOTICE_MARKER,
    running_flow,
    service,
)
from tests.waiting import eventually

NOTICE_SECONDS = 2.0  # the notice sound of tests.integration.flow.service
# Seconds after answering when the caller presses its key, and until it hangs up.
KEY_AFTER = 1
HANG_UP_AFTER = 8


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> Iterator[SandboxSite]:
    site = SandboxSite(asterisk, tmp_path / "site")
    yield site
    for heard in asterisk.sounds_dir.glob("heard-*.wav"):
        heard.unlink()


async def heard(site: SandboxSite, name: str) -> Audio:
    """What the caller ``name`` heard, once Asterisk closed the file."""
    path = site.instance.sounds_dir / f"heard-{name}.wav"

    async def complete() -> Audio | None:
        if not path.exists():
            return None
        audio = read_wav(path)
        return audio if audio.duration > HANG_UP_AFTER - 1 else None

    return await eventually(complete, f"the audio caller {name} heard")


async def test_c3_the_caller_hears_the_full_notice_after_its_key(site: SandboxSite) -> None:
    """C3: a caller presses the full-notice key during the announcement; the audio its
    channel received holds the announcement cut at the key, then the whole notice (its
    marker tone), then the agent. A second caller who presses another key hears the
    whole announcement and no notice, so the marker is the notice's and nothing else's."""
    asking, other = secrets.token_hex(4), secrets.token_hex(4)
    async with running_flow(site, services={"sales": service(site)}, draws=[0.9, 0.9]) as flow:
        for key, name in ((FULL_NOTICE, asking), ("5", other)):
            script = f"c-hear-{key}-{KEY_AFTER}-{HANG_UP_AFTER}-{name}"
            await flow.board.call("sales", script, "+33612345678")
        calls = await flow.daemon.wait_for_calls(2)
    kinds = sorted([e["kind"] for e in call["consent_events"]] for call in calls)
    assert kinds == [[], ["full_notice"]]

    audio = await heard(site, asking)
    announcement = tone_spans(audio, ANNOUNCEMENT_MARKER)
    notice = tone_spans(audio, NOTICE_MARKER)
    agent = tone_spans(audio, AGENT_VOICE)
    assert announcement and notice and agent, (announcement, notice, agent)
    # The key stopped the announcement; the notice followed it, whole, then the agent.
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) < ANNOUNCEMENT_SECONDS - 1.0
    assert tone_seconds(audio, NOTICE_MARKER) == pytest.approx(NOTICE_SECONDS, abs=0.2)
    assert announcement[-1][1] <= notice[0][0] + 0.04
    assert notice[-1][1] <= agent[0][0] + 0.04

    audio = await heard(site, other)
    assert tone_seconds(audio, NOTICE_MARKER) == 0.0
    assert tone_seconds(audio, ANNOUNCEMENT_MARKER) == pytest.approx(
        ANNOUNCEMENT_SECONDS, abs=0.2
    )
    assert tone_seconds(audio, AGENT_VOICE) > 1.0
