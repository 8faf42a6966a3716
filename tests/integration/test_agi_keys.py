"""The agents' keys on the FastAGI path against the real Asterisk: the shipped feature map
(``dialplan/reccontrol-features.conf``) runs the key scripts on the agent's channel of a
dialplan-only site's ``Dial()``, the recording is MixMonitor's, and the rows are the ARI
path's own (A2, A5, M2)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.agi.features import features_conf
from controller.config.service_model import AgentKeys
from controller.demo.site import SandboxSite
from controller.sandbox import Sandbox, SandboxInstance
from tests.audio import dtmf_keys, read_wav, tone_seconds, tone_spans
from tests.integration.conftest import REPOSITORY, free_port
from tests.integration.flow import AGENT_VOICE, CALLER_VOICE, running_flow, service
from tests.integration.test_agi_recording import agi_section, dial_site_call, ended
from tests.waiting import eventually

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
    assert tone_seconds(audio, MARKER) < 0.1
    assert dtmf_keys(audio) == []
    agent = tone_spans(audio, AGENT_VOICE)
    assert agent[0][0] < 0.5 and agent[-1][1] > audio.duration - 0.5
    assert tone_seconds(audio.slice(audio.duration - 2, audio.duration), AGENT_VOICE) > 1.5
    assert tone_seconds(audio, CALLER_VOICE) > 0.8 * audio.duration
    assert leftovers == []


async def test_a5_agi_pause_in_silence_mode_mutes_over_ami(site: SandboxSite) -> None:
    """Silence mode (A5): AMI's MixMonitorMute on the agent's channel. The file keeps the
    paused time, as silence, and the marker is not in it."""
    port = free_port()
    services = {"sales": service(site, pause={"mode": "silence"})}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-14", agent="alice-pause")
        call = await ended(flow, call_id)

    (pause,) = call["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("agent_key", "agent")
    audio = stored_audio(call)
    assert tone_seconds(audio, MARKER) < 0.1
    assert dtmf_keys(audio) == []
    zero = np.abs(audio.samples) == 0
    longest, run = 0, 0
    for is_zero in zero.tolist():
        run = run + 1 if is_zero else 0
        longest = max(longest, run)
    # The 3 s marker, and the time to key *3, are digital silence in the file.
    assert 2.8 <= longest / audio.rate <= 4.0
    assert tone_seconds(audio.slice(audio.duration - 2, audio.duration), AGENT_VOICE) > 1.5


async def test_a5_agi_pause_past_its_limit_is_resumed_by_the_daemon(site: SandboxSite) -> None:
    """A pause left open (the agent never presses *3) is resumed by the daemon itself at
    its limit, over AMI (no AGI session then): the row closed ``timeout``, the
    ``pause_timeout`` alert, and the marker the agent hums past the limit is in the file
    again (A5)."""
    port = free_port()
    services = {"sales": service(site, pause={"max_seconds": 5})}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-17", agent="alice-pausestuck")
        call = await ended(flow, call_id)

    (pause,) = call["pauses"]
    assert pause["resumed_by"] == "timeout"
    (alert,) = call["alerts"]
    assert alert["kind"] == "pause_timeout" and "5 s" in alert["message"]
    audio = stored_audio(call)
    # The marker lasts 9 s after the key: its first 5 s are out, the rest is in.
    assert 3.0 <= tone_seconds(audio, MARKER) <= 4.5


async def test_a2_agi_private_key_leaves_no_file_and_a_count(site: SandboxSite) -> None:
    """*7 (A2): the MixMonitor stops, its file is deleted, the call's rows go and only
    the agent's private-call count of the day is kept, as on the ARI path."""
    port = free_port()
    services = {"sales": service(site)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-9", agent="alice-keys-*7")

        async def counted() -> list[dict[str, Any]] | None:
            counts: list[dict[str, Any]] = await flow.daemon.query(
                lambda s: s.private_call_counts()
            )
            return counts or None

        counts = await eventually(counted, "the private call counted")
        assert await flow.daemon.query(lambda s: s.call_summary(call_id)) is None
        await flow.asterisk_leftovers()
        leftovers, vault = flow.asterisk_files(), flow.vault_files()

    assert [(c["agent_id"], c["count"]) for c in counts] == [("alice", 1)]
    assert leftovers == [] and vault == []


def longest_digital_silence(audio: Any) -> float:
    zero = np.abs(audio.samples) == 0
    longest, run = 0, 0
    for is_zero in zero.tolist():
        run = run + 1 if is_zero else 0
        longest = max(longest, run)
    return float(longest / audio.rate)


@pytest.mark.parametrize("mode", ["skip", "silence"])
async def test_m2_agi_card_key_keeps_the_card_read_out_of_the_file(
    site: SandboxSite, mode: str
) -> None:
    """*5 then *3 on the agent's channel (M2), in each pause mode: the card key's pause
    is the ARI path's (reason ``card``, resumed by the agent), the marker hummed while
    the caller reads out the card is not in the file, nor are the keys, and the agent's
    voice is back after the resume. In silence mode the paused time is digital silence."""
    port = free_port()
    services = {"sales": service(site, pause={"mode": mode})}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-14", agent="alice-card")
        call = await ended(flow, call_id)
        leftovers = flow.asterisk_files()

    (pause,) = call["pauses"]
    assert (pause["paused_by"], pause["reason"], pause["resumed_by"]) == ("alice", "card", "agent")
    audio = stored_audio(call)
    assert tone_seconds(audio, MARKER) < 0.1
    assert dtmf_keys(audio) == []
    assert tone_seconds(audio.slice(audio.duration - 2, audio.duration), AGENT_VOICE) > 1.5
    silent = longest_digital_silence(audio)
    if mode == "silence":
        # The 3 s marker, and the time to key *3, are digital silence in the file.
        assert 2.8 <= silent <= 4.0
    else:
        assert silent < 1.0
    assert leftovers == []


async def test_m2_agi_card_pause_refuses_the_resume_key_and_ends_at_the_card_limit(
    site: SandboxSite,
) -> None:
    """``card_resume: timeout`` (M2): the agent's *3 three seconds into the card pause is
    refused, and the daemon resumes the recording itself at ``card_max_seconds`` (5 s),
    not at the pause key's limit (60 s): the row closed ``timeout``, the
    ``card_pause_timeout`` alert, and of the 9 s marker only what came after the card's
    limit is in the file."""
    port = free_port()
    pause = {"max_seconds": 60, "card_max_seconds": 5, "card_resume": "timeout"}
    services = {"sales": service(site, pause=pause)}
    async with running_flow(site, services=services, agi=agi_section(port), draws=[0.1]) as flow:
        call_id = await dial_site_call(flow, port, "c-talk-17", agent="alice-cardlong")
        call = await ended(flow, call_id)

    (row,) = call["pauses"]
    assert (row["reason"], row["resumed_by"]) == ("card", "timeout")
    (alert,) = call["alerts"]
    assert alert["kind"] == "card_pause_timeout" and "5 s" in alert["message"]
    audio = stored_audio(call)
    # The marker lasts 9.3 s after the card key (3 s, the *3, 6 s): its first 5 s are out,
    # about 4.3 s in, give or take the pause's and the forced resume's latency. The
    # resume key accepted would have let 6 s in; the pause key's limit, none.
    assert 3.5 <= tone_seconds(audio, MARKER) <= 5.3
    assert dtmf_keys(audio) == []


def test_a5_m2_a_feature_map_written_from_the_yaml_is_what_asterisk_loads(
    sandbox: Sandbox, asterisk: SandboxInstance, tmp_path: Path
) -> None:
    """The map ``reccontrol agi features-conf`` writes for other keys, installed and
    reloaded as docs/agi.md says (``module reload features``), is the one Asterisk
    runs: its feature list shows the YAML's sequences."""
    keys = dataclasses.replace(AgentKeys(), card="*69", private="*70")
    dialplan = tmp_path / "dialplan"
    shutil.copytree(REPOSITORY / "dialplan", dialplan)
    (dialplan / "reccontrol-features.conf").write_text(features_conf(keys), encoding="utf-8")
    edited = Sandbox(sandbox.root, sandbox.config_dir, dialplan)
    try:
        edited.reload_dialplan(asterisk.name)
        sandbox.cli(asterisk.name, "module reload features")
        loaded = dynamic_features(sandbox.cli(asterisk.name, "features show"))
    finally:
        sandbox.reload_dialplan(asterisk.name)
        sandbox.cli(asterisk.name, "module reload features")
    assert loaded == {
        "reccontrol-pause": "*2",
        "reccontrol-resume": "*3",
        "reccontrol-record": "*1",
        "reccontrol-private": "*70",
        "reccontrol-card": "*69",
    }
    shipped = dynamic_features(sandbox.cli(asterisk.name, "features show"))
    assert shipped["reccontrol-card"] == "*5" and shipped["reccontrol-private"] == "*7"


def dynamic_features(output: str) -> dict[str, str]:
    """Feature name to its keys, from ``features show``'s list of dynamic features."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        words = line.split()
        if words and words[0].startswith("reccontrol-"):
            found[words[0]] = words[-1]
    return found
