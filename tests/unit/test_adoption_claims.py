"""R1: while a restarted daemon adopts the calls left open, the events about a call not
yet adopted (its channels, its legs, its playbacks, its recording) are held for it;
events about anything else go on."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, cast

from controller.ari.events import Event, parse_event
from controller.calls.adopting import Adoption, AdoptionHost
from controller.calls.executor import CommandExecutor
from controller.records import LiveRecordingRow, OpenCall
from tests.component.fake_ari import channel, event

CALL = "0a0a0a0a0a0a0a0a"
NAME = "f" * 40


def pending() -> Adoption:
    executor = cast(CommandExecutor, SimpleNamespace(left_open=None))
    adoption = Adoption(cast(AdoptionHost, None), executor, cast(Any, None), cast(Any, None),
                        cast(Any, None), cast(Any, None))  # fmt: skip
    row = LiveRecordingRow("r1", NAME, "wav", ("quality",), None, None, None)
    call = OpenCall(
        CALL, "sales", "inbound", "caller-1", None, True, False, False, None, True, row
    )
    adoption.mark([call])
    return adoption


def parsed(kind: str, **fields: Any) -> Event:
    return parse_event(event(kind, **fields), time.monotonic())


def test_r1_events_about_a_call_being_adopted_are_its_own() -> None:
    adoption = pending()
    caller, leg = channel("caller-1"), channel(f"rc-{CALL}-agent")
    assert adoption.claims(parsed("ChannelDtmfReceived", channel=leg, digit="*", duration_ms=1))
    assert adoption.claims(parsed("ChannelHangupRequest", channel=caller, cause=16, soft=False))
    snoop = channel(f"rc-{CALL}-snoop1")
    assert adoption.claims(parsed("StasisEnd", channel=snoop)) == CALL
    playback = {"id": f"rc-{CALL}-p1", "state": "done"}
    assert adoption.claims(parsed("PlaybackFinished", playback=playback)) == CALL
    recording = {"name": NAME, "state": "done"}
    assert adoption.claims(parsed("RecordingFinished", recording=recording)) == CALL


def test_r1_events_about_anything_else_go_on() -> None:
    adoption = pending()
    other = channel("caller-2")
    assert adoption.claims(parsed("StasisStart", channel=other, args=["inbound", "sales"])) is None
    playback = {"id": "rc-0b0b0b0b0b0b0b0b-p1", "state": "done"}
    assert adoption.claims(parsed("PlaybackFinished", playback=playback)) is None
