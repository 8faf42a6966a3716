"""The event-throughput bench's pure parts: the frames it feeds are Asterisk's, each
request the daemon makes is answered with the events Asterisk sends for it, and the
figures carry the names ``bench/results.json`` keeps (R2: every frame is one the
daemon routes, none is dropped as id-less)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from bench import events
from controller.ari.client import AriClient
from controller.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    missing_id,
    parse_event,
)
from controller.ari.settings import AriConnection
from controller.secrets import Secret


def test_r2_a_frame_is_routable_as_asterisk_sends_it() -> None:
    agent = events.channel("rc-1-agent", "Local/alice-talk@sim-agent-0;1")
    text = events.frame("ChannelDtmfReceived", "reccontrol", digit="2", channel=agent)
    event = parse_event(json.loads(text), 0.0)
    assert isinstance(event, ChannelDtmfReceived)
    assert (event.application, event.channel_id, event.digit) == ("reccontrol", "rc-1-agent", "2")
    assert missing_id(event) == ""


async def test_r2_each_request_is_answered_with_asterisks_events(tmp_path: Path) -> None:
    settings = AriConnection(
        url="http://127.0.0.1:9", username="u", password=Secret("p"), app="reccontrol"
    )
    async with aiohttp.ClientSession() as session:
        ari = events.Asterisk(AriClient(settings, session), tmp_path)
        await ari.answer("c1")
        await ari.play("c1", "sound:x", playback_id="p1", lang="fr")
        await ari.originate(
            "Local/alice-talk@sim-agent", app_args="agent,call1", channel_id="rc-call1-agent"
        )
        await ari.add_channel("b1", "c1")
        await ari.record_bridge("b1", "r1")
        await ari.pause_recording("r1")
        await ari.stop_recording("r1")
        await ari.hangup("c1")
        frames = ari.answers("reccontrol")
    parsed = [parse_event(json.loads(text), 0.0) for text in frames]
    assert [type(e) for e in parsed] == [
        ChannelStateChange,
        PlaybackStarted,
        PlaybackFinished,
        Dial,
        Dial,
        StasisStart,
        ChannelVarset,  # Asterisk's chatter: a variable set on the new channel
        ChannelEnteredBridge,
        RecordingStarted,
        RecordingFinished,
        ChannelHangupRequest,
        StasisEnd,
        ChannelDestroyed,
    ]
    assert all(missing_id(e) == "" for e in parsed)
    started = parsed[5]
    assert isinstance(started, StasisStart) and started.args == ("agent", "call1")
    assert started.channel.id == "rc-call1-agent"
    assert (tmp_path / "r1.wav").is_file()
    assert ari.answers("reccontrol") == []


def test_the_figures_are_named_and_divided_by_the_anchor() -> None:
    run = events.Throughput(
        events=20_000, calls=100, thread_seconds=0.8, wall_seconds=2.0, json_per_s=250_000.0
    )
    assert events.figures(run) == pytest.approx(
        {
            "events_per_s": 25_000.0,
            "events_wall_per_s": 10_000.0,
            "events_json_loads_per_s": 250_000.0,
            "events_vs_json_loads_ratio": 0.1,
        }
    )


def test_the_anchor_decodes_the_frames_for_the_time_asked() -> None:
    frames = [events.frame("StasisEnd", "reccontrol", channel=events.channel("c1", "x"))]
    assert events.json_rate(frames, seconds=0.01) > 0
