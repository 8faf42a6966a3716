"""A key press's frame is read only as far as routing it needs before its pause goes
out (A5, A2): the channel's id and the digit; the rest of the channel is parsed when
asked for, the same as any other event's, and keeps the caller's number out of reprs.
A key about no channel is dropped (R2)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from bench.fixtures import DTMF_EVENT_JSON
from controller.ari.client import _enc
from controller.ari.events import ChannelDtmfReceived, missing_id, parse_event
from controller.ari.models import Channel


def test_a5_a_key_event_carries_its_channel_id_and_digit_and_parses_the_rest_on_demand() -> None:
    data = json.loads(DTMF_EVENT_JSON)
    event = parse_event(data, 12.5)
    assert isinstance(event, ChannelDtmfReceived)
    assert (event.channel_id, event.digit, event.duration_ms) == (
        "rc-9c1f0e6b2d7a4c35-agent",
        "2",
        100,
    )
    assert event.received == 12.5 and event.application == "reccontrol"
    assert event.channel == Channel.parse(data["channel"])
    assert event.channel.caller.number == "+33611112222"
    assert missing_id(event) == ""


def test_a5_a_key_event_keeps_the_digit_and_the_callers_number_out_of_its_repr() -> None:
    event = parse_event(json.loads(DTMF_EVENT_JSON), 0.0)
    text = repr(event)
    assert "+33611112222" not in text and "33611112222" not in text
    assert "digit=" not in text and "rc-9c1f0e6b2d7a4c35-agent" in text


@pytest.mark.parametrize(
    "channel", [None, "not-an-object", {"id": 7}, {"name": "PJSIP/x"}, {"id": ""}]
)
def test_r2_a_key_about_no_channel_is_dropped(channel: object) -> None:
    data: dict[str, object] = {
        "type": "ChannelDtmfReceived",
        "application": "reccontrol",
        "digit": "*",
    }
    if channel is not None:
        data["channel"] = channel
    event = parse_event(data, 0.0)
    assert isinstance(event, ChannelDtmfReceived) and event.channel_id == ""
    assert missing_id(event) == "is a ChannelDtmfReceived without a channel id"
    assert event.channel.id == ""


@pytest.mark.parametrize(
    "segment",
    [
        "0123456789abcdef0123456789abcdef01234567",
        "rc-9c1f0e6b2d7a4c35-agent",
        "1764398403.42",
        "a~b_c",
        "",
        "a/b",
        "a b",
        "../x",
        "caf\u00e9",
        "x?y=1&z#",
        "%2F",
    ],
)
def test_a_path_segment_is_encoded_as_quote_encodes_it(segment: str) -> None:
    """Ids the controller chooses skip the codec; anything else is quoted as before."""
    assert _enc(segment) == quote(segment, safe="")
