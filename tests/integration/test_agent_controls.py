"""Agents' keys against the real Asterisk: pause and resume, the forced resume, on-demand
recording, private calls; the audio itself is the evidence."""

from __future__ import annotations

import itertools
import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import dtmf_keys, read_wav, tone_seconds, tone_spans
from tests.integration.flow import (
    AGENT_VOICE,
    CALLER_VOICE,
    private_counts_once_ended,
    running_flow,
    service,
)
from tests.waiting import eventually, until

MARKER = 2600.0  # what the agent says while the recording is paused
FEEDBACK = 3000.0  # the beep the agent hears after a key sequence
CALLER_NUMBER = "+33611112222"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def keyed_sections(site: SandboxSite) -> dict[str, Any]:
    site.instance.sounds_dir.mkdir(parents=True, exist_ok=True)
    ok = site.tone_sound("agent-ok", [(FEEDBACK, 0.3)])
    refused = site.tone_sound("agent-refused", [(FEEDBACK, 0.1), (0, 0.1), (FEEDBACK, 0.1)])
    return {"agent_keys": {"ok_sound": ok, "refused_sound": refused}}


def only_call(calls: list[dict[str, Any]]) -> dict[str, Any]:
    (call,) = calls
    return call


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("calls", "decisions", "consent_events", "recordings", "pauses", "alerts")
        }


async def test_pause_keeps_what_the_agent_says_out_of_the_file(site: SandboxSite) -> None:
    """A pause keeps the paused audio out of the file (A5)."""
    services = {"sales": service(site, target="Local/alice-pause@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0], **keyed_sections(site)) as flow:
        await flow.board.call("sales", "c-talk-14", CALLER_NUMBER)
        call = only_call(await flow.daemon.wait_for_calls(1))
        reaction = list(flow.daemon.calls.reaction_times_ms)

    (pause,) = call["pauses"]
    assert (pause["paused_by"], pause["reason"], pause["resumed_by"]) == (
        "alice",
        "agent_key",
        "agent",
    )
    assert pause["ended_at"] > pause["started_at"]
    audio = read_wav(Path(call["recordings"][0]["path"]))
    # The 3 s the agent spent on the marker are skipped: 14 s call - 3 s announcement
    # - 3 s pause, give or take the time to reach the agent.
    assert 6.0 <= audio.duration <= 8.2
    assert tone_seconds(audio, MARKER) == 0.0
    assert tone_seconds(audio, FEEDBACK) == 0.0
    assert dtmf_keys(audio) == []
    # Before and after the pause, both voices are there.
    agent = tone_spans(audio, AGENT_VOICE)
    assert agent[0][0] < 0.5 and agent[-1][1] > audio.duration - 0.5
    assert tone_seconds(audio.slice(0, 1.5), AGENT_VOICE) > 1.2
    assert tone_seconds(audio.slice(audio.duration - 2, audio.duration), AGENT_VOICE) > 1.5
    assert tone_seconds(audio, CALLER_VOICE) > 0.9 * audio.duration
    # One pause, taken on the measured hot path (its timing is bench's: reaction).
    assert len(reaction) == 1


async def test_silence_mode_writes_silence_instead(site: SandboxSite) -> None:
    services = {
        "sales": service(site, target="Local/alice-pause@sim-agent", pause={"mode": "silence"})
    }
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-14", CALLER_NUMBER)
        call = only_call(await flow.daemon.wait_for_calls(1))
    audio = read_wav(Path(call["recordings"][0]["path"]))
    assert 9.0 <= audio.duration <= 11.2  # the paused time is kept, as silence
    assert tone_seconds(audio, MARKER) == 0.0
    zero = np.abs(audio.samples) == 0
    # The longest run of exact digital silence is the pause: the 3 s marker plus the
    # time to key *3 (two 100 ms digits, 100 ms apart).
    longest, run = 0, 0
    for is_zero in zero.tolist():
        run = run + 1 if is_zero else 0
        longest = max(longest, run)
    assert 3.0 <= longest / audio.rate <= 3.8


async def test_pause_past_the_limit_resumes_by_itself(site: SandboxSite) -> None:
    """A pause past the limit resumes by itself (A5)."""
    services = {
        "sales": service(site, target="Local/alice-pausestuck@sim-agent", pause={"max_seconds": 5})
    }
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-16", CALLER_NUMBER)
        call = only_call(await flow.daemon.wait_for_calls(1))
    (pause,) = call["pauses"]
    assert pause["resumed_by"] == "timeout"
    (alert,) = call["alerts"]
    assert alert["kind"] == "pause_timeout" and "5 s" in alert["message"]
    audio = read_wav(Path(call["recordings"][0]["path"]))
    # The marker lasts 9 s after the pause: its first 5 s are out, the rest is in.
    assert 3.0 <= tone_seconds(audio, MARKER) <= 4.5


async def test_start_key_records_an_unsampled_call_for_mediation(site: SandboxSite) -> None:
    """The start key records an unsampled call for mediation (A4)."""
    services = {"sales": service(site, target="Local/alice-keys-*1@sim-agent")}
    async with running_flow(site, services=services, draws=[0.99]) as flow:
        await flow.board.call("sales", "c-talk-10", CALLER_NUMBER)
        call = only_call(await flow.daemon.wait_for_calls(1))
    assert call["decision"]["reason"] == "not_sampled"
    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and rec["purposes"] == '["mediation"]'
    audio = read_wav(Path(rec["path"]))
    # Started 2 s into the conversation.
    assert 3.0 <= audio.duration <= 5.0


async def test_start_key_after_the_caller_objected_records_nothing(site: SandboxSite) -> None:
    """The start key after an objection records nothing (A4, C2)."""
    services = {"sales": service(site, target="Local/alice-keys-*1@sim-agent")}
    async with running_flow(site, services=services, draws=[0.99]) as flow:
        await flow.board.call("sales", "c-key-9-1-9", CALLER_NUMBER)
        call = only_call(await flow.daemon.wait_for_calls(1))
        assert flow.vault_files() == []
    assert call["recordings"] == []
    assert call["consent_events"][0]["kind"] == "opt_out"


async def test_private_key_discards_the_recording_and_keeps_only_a_count(
    site: SandboxSite,
) -> None:
    """The private key discards the recording and keeps only a count (A2)."""
    services = {"sales": service(site, target="Local/alice-keys-*7@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-9", CALLER_NUMBER)
        counts = await private_counts_once_ended(flow, total=1)
        bridges, channels = await flow.asterisk_leftovers()
        assert bridges == [] and channels == []
        # The discarded recording's file goes once Asterisk has stopped writing it.
        await until(lambda: flow.asterisk_files() == [], "Asterisk removes the discarded file")
        assert flow.vault_files() == []
    assert [(c["agent_id"], c["count"]) for c in counts] == [("alice", 1)]
    assert table_counts(site.workdir / "reccontrol.sqlite3") == dict.fromkeys(
        ("calls", "decisions", "consent_events", "recordings", "pauses", "alerts"), 0
    )


async def test_private_outbound_call_leaves_no_recording_and_no_number(
    site: SandboxSite, caplog: pytest.LogCaptureFixture
) -> None:
    """A private outbound call leaves no recording and no number (A2)."""
    caplog.set_level(logging.DEBUG, logger="reccontrol")
    async with running_flow(site, services={"sales": service(site)}) as flow:
        # Alice's phone dials *77 0612345678.
        await flow.board.client.originate(
            "Local/alice-phone@sim-phone",
            context="sim-caller",
            extension="c-talk-4",
            variables={"SIM_DIAL": "*770612345678"},
        )

        async def counted() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = await flow.daemon.query(lambda s: s.private_call_counts())
            return found or None

        counts = await eventually(counted, "the private call counted")

        # The call itself goes out: the remote party answers in reccontrol-private-dial.
        async def dialled_out() -> bool | None:
            channels = await flow.board.client.list_channels()
            return any(ch.dialplan_context == "reccontrol-private-dial" for ch in channels) or None

        await eventually(dialled_out, "the private call dialled out")
        assert flow.vault_files() == []
    assert [(c["agent_id"], c["count"]) for c in counts] == [("alice", 1)]
    assert table_counts(site.workdir / "reccontrol.sqlite3")["calls"] == 0
    for path in site.workdir.glob("reccontrol.sqlite3*"):
        assert b"612345678" not in path.read_bytes()
    assert "612345678" not in (site.workdir / "ari-events.jsonl").read_text()
    assert "612345678" not in caplog.text


async def test_private_line_is_never_recorded(site: SandboxSite) -> None:
    """A private line is never recorded (A2)."""
    agents = {
        "alice": {
            "name": "Alice Martin",
            "endpoints": ["Local/alice-*"],
            "windows": [{"days": "daily", "from": "00:00", "to": "24:00"}],
            "private_lines": ["+33 1 00 00 01 01"],
        }
    }
    async with running_flow(
        site, services={"sales": service(site)}, agents=agents, draws=[0.0, 0.0]
    ) as flow:
        # Routed as the snippet says: through reccontrol-private-line.
        await flow.board.client.originate(
            "Local/+33100000101@reccontrol-private-line",
            context="sim-caller",
            extension="c-talk-4",
            variables={"RECCONTROL_PRIVATE_TARGET": "Local/alice-talk@sim-agent"},
        )
        # Routed by mistake through a recorded service, with the dialled number passed on.
        await flow.board.call(
            "sales", "c-talk-4", CALLER_NUMBER, variables={"SIM_DID": "0033100000101"}
        )
        counts = await private_counts_once_ended(flow, total=2)
        # Both calls are over: nothing of them can reach the vault any more.
        assert await flow.asterisk_leftovers() == ([], [])
        assert flow.vault_files() == []
    assert [(c["agent_id"], c["count"]) for c in counts] == [("alice", 2)]
    assert table_counts(site.workdir / "reccontrol.sqlite3")["calls"] == 0


async def test_stray_digits_change_nothing(site: SandboxSite) -> None:
    services = {"sales": service(site, target="Local/alice-noise@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "c-talk-10", CALLER_NUMBER)
        call = only_call(await flow.daemon.wait_for_calls(1))
    assert call["pauses"] == [] and call["alerts"] == []
    (rec,) = call["recordings"]
    audio = read_wav(Path(rec["path"]))
    assert 6.0 <= audio.duration <= 7.1  # the whole conversation, in real time
    assert dtmf_keys(audio) == []
    # absorbDTMF: the keys cut no hole in the recording. The caller talks all along and
    # is heard all along; the agent is silent only while each digit is sent (100 ms,
    # five digits): each gap is judged alone, so that a loaded machine's jitter does not
    # add up across them as a total would.
    assert tone_seconds(audio, CALLER_VOICE) > 0.97 * audio.duration
    spans = tone_spans(audio, AGENT_VOICE)
    gaps = [round(b[0] - a[1], 2) for a, b in itertools.pairwise(spans)]
    assert all(gap <= 0.3 for gap in gaps), (spans, gaps)
    assert spans[0][0] < 1.5 and spans[-1][1] > audio.duration - 0.5, spans
