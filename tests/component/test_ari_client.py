"""The ARI client against a fake ARI server: event parsing, error mapping, reconnect
with resync, and the password kept out of logs, URLs and errors."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from controller.ari import (
    AriClient,
    AriConflict,
    AriError,
    AriNotFound,
    AriUnavailable,
    AriUnprocessable,
    EventStream,
    backoff_delays,
)
from controller.ari.errors import AriBadRequest, AriServerError, AriUnauthorized
from controller.ari.events import (
    ChannelDtmfReceived,
    ChannelVarset,
    Event,
    GenericEvent,
    StasisEnd,
    StasisStart,
    StreamConnected,
)
from controller.config.model import AriSettings, ReconnectSettings
from controller.eventlog import redact_event
from controller.secrets import Secret
from tests.component.fake_ari import PASSWORD, USERNAME, FakeAri, channel, event
from tests.waiting import DEFAULT_WITHIN


@dataclass
class Rig:
    fake: FakeAri
    client: AriClient
    session: aiohttp.ClientSession


def settings_for(url: str, password: str = PASSWORD, timeout: float = 10.0) -> AriSettings:
    """A generous request deadline by default: a loaded machine must not turn an answer
    into a timeout. A test of the timeout passes a short one to a fake that never answers."""
    return AriSettings(
        url=url,
        username=USERNAME,
        password=Secret(password, "env:TEST"),
        request_timeout=timeout,
        reconnect=ReconnectSettings(initial_delay=0.01, max_delay=0.05),
    )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    fake = FakeAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        # A generous deadline: a loaded machine must not turn an answer into a timeout.
        client = AriClient(settings_for(str(server.make_url("")).rstrip("/"), timeout=10), session)
        yield Rig(fake, client, session)
    await server.close()


async def next_event(iterator: AsyncIterator[Event]) -> Event:
    return await asyncio.wait_for(anext(iterator), timeout=DEFAULT_WITHIN)


# -- REST ----------------------------------------------------------------------------
async def test_rest_result_is_typed(rig: Rig) -> None:
    rig.fake.answers[("POST", "/ari/channels")] = (200, channel("c1"))
    result = await rig.client.originate("Local/s@sim-caller", app_args="inbound,sales")
    assert result.id == "c1" and result.dialplan_exten == "sales"
    seen = rig.fake.requests[-1]
    assert seen.query == {
        "endpoint": "Local/s@sim-caller",
        "app": "reccontrol",
        "appArgs": "inbound,sales",
    }


async def test_absorb_dtmf_is_sent_when_adding_to_a_bridge(rig: Rig) -> None:
    await rig.client.add_channel("b1", "c1")
    assert rig.fake.requests[-1].query == {"channel": "c1", "absorbDTMF": "true"}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, AriBadRequest),
        (401, AriUnauthorized),
        (404, AriNotFound),
        (409, AriConflict),
        (422, AriUnprocessable),
        (500, AriServerError),
        (503, AriServerError),
    ],
)
async def test_rest_errors_become_typed_exceptions(
    rig: Rig, status: int, error: type[AriError]
) -> None:
    rig.fake.answers[("POST", "/ari/bridges/b1/record")] = (
        status,
        {"message": "Recording with that name already exists"},
    )
    with pytest.raises(error) as info:
        await rig.client.record_bridge("b1", "secret-name")
    assert info.value.status == status
    assert info.value.message == "Recording with that name already exists"
    assert str(info.value).startswith(f"POST /bridges/b1/record: {status}")


async def test_error_body_that_is_not_json(rig: Rig) -> None:
    rig.fake.answers[("DELETE", "/ari/recordings/live/r1")] = (404, "Not Found")
    with pytest.raises(AriNotFound) as info:
        await rig.client.cancel_recording("r1")
    assert info.value.message == "Not Found"
    assert info.value.error_id == "ari-not-found"


async def test_timeout_is_unavailable(rig: Rig) -> None:
    rig.fake.stalled = True
    client = AriClient(settings_for(rig.client.settings.url, timeout=0.2), rig.session)
    with pytest.raises(AriUnavailable) as info:
        await client.pause_recording("r1")
    assert info.value.message == "no answer in time"


async def test_connection_refused_is_unavailable() -> None:
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings_for("http://127.0.0.1:9"), session)
        with pytest.raises(AriUnavailable):
            await client.answer("c1")


async def test_wrong_password_is_unauthorized(rig: Rig) -> None:
    client = AriClient(settings_for(rig.client.settings.url, password="wrong"), rig.session)
    with pytest.raises(AriUnauthorized):
        await client.get_application()


# -- events --------------------------------------------------------------------------
async def test_events_are_typed_and_unknown_ones_generic(rig: Rig) -> None:
    raw: list[dict[str, object]] = []
    stream = EventStream(rig.client, on_raw=raw.append)
    events = aiter(stream)
    connected = await next_event(events)
    assert isinstance(connected, StreamConnected) and not connected.reconnect

    await rig.fake.send(
        event("StasisStart", args=["inbound", "sales"], channel=channel("c1", number="0612345678"))
    )
    start = await next_event(events)
    assert isinstance(start, StasisStart)
    assert start.args == ("inbound", "sales")
    assert start.channel.caller.number == "0612345678"
    assert "0612345678" not in repr(start)
    assert start.channel.dialplan_exten == "sales" and "sales" not in repr(start.channel)

    await rig.fake.send(
        event("ChannelDtmfReceived", digit="7", duration_ms=120, channel=channel("c1"))
    )
    dtmf = await next_event(events)
    assert isinstance(dtmf, ChannelDtmfReceived) and dtmf.digit == "7"
    assert "digit='7'" not in repr(dtmf)

    await rig.fake.send(event("ChannelTalkingStarted", channel=channel("c1")))
    await rig.fake.send("this is not json")
    await rig.fake.send("[1, 2]")
    await rig.fake.send(event("StasisEnd", channel=channel("c1")))
    unknown = await next_event(events)
    assert isinstance(unknown, GenericEvent) and unknown.type == "ChannelTalkingStarted"
    end = await next_event(events)
    assert isinstance(end, StasisEnd)
    # Each event reaches the raw hook once it has been handled, i.e. when the next one
    # is asked for: three so far, the fourth after one more step.
    assert [r["type"] for r in raw] == [
        "StasisStart",
        "ChannelDtmfReceived",
        "ChannelTalkingStarted",
    ]
    await stream.close()


async def test_known_event_with_odd_shape_does_not_crash(rig: Rig) -> None:
    stream = EventStream(rig.client)
    events = aiter(stream)
    await next_event(events)
    await rig.fake.send(event("StasisStart", channel=channel("c1"), args="nope"))
    start = await next_event(events)
    assert isinstance(start, StasisStart) and start.channel.id == "c1" and start.args == ()
    await stream.close()


async def test_r2_event_without_the_id_it_is_about_is_dropped_and_counted(rig: Rig) -> None:
    """R2: a StasisStart whose channel id was a number (or absent) was read as channel
    "": the daemon started a phantom call on it, routed later id-less events to it, and
    sent REST calls on ``/channels/``. Such events are dropped and counted."""
    stream = EventStream(rig.client)
    events = aiter(stream)
    await next_event(events)
    await rig.fake.send(event("StasisStart", channel="not-an-object", args=["inbound", "sales"]))
    await rig.fake.send(event("StasisStart", channel={"id": 12345}, args=["inbound", "sales"]))
    await rig.fake.send(event("ChannelDtmfReceived", digit="*", duration_ms=100))
    await rig.fake.send(event("RecordingFinished", recording={"name": 7}))
    await rig.fake.send(event("PlaybackFinished", playback=None))
    await rig.fake.send(event("ChannelVarset", variable="GLOBAL_ONE", value="1"))
    varset = await next_event(events)
    # A global variable's ChannelVarset has no channel, and needs none.
    assert isinstance(varset, ChannelVarset) and varset.channel is None
    assert stream.dropped == 5
    await stream.close()


async def test_r2_frame_over_the_size_limit_is_counted_and_the_stream_reconnects(
    rig: Rig,
) -> None:
    """R2: a frame the websocket layer refuses (over 4 MB) drops the connection; the
    stream counts it, reconnects and resyncs, and the events after it arrive."""
    stream = EventStream(rig.client, rng=random.Random(1))
    events = aiter(stream)
    await next_event(events)
    await rig.fake.send(event("ChannelVarset", variable="X", value="A" * 5_000_000))
    again = await next_event(events)
    assert isinstance(again, StreamConnected) and again.reconnect
    assert stream.dropped == 1
    await rig.fake.send(event("StasisEnd", channel=channel("c1")))
    assert isinstance(await next_event(events), StasisEnd)
    await stream.close()


async def test_websocket_drop_reconnects_and_resyncs(rig: Rig) -> None:
    sleeps: list[float] = []

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)
        await asyncio.sleep(0)

    stream = EventStream(rig.client, rng=random.Random(1), sleep=fake_sleep)
    events = aiter(stream)
    first = await next_event(events)
    assert isinstance(first, StreamConnected) and first.state.channel_ids == ()

    # A call enters while we are connected, then Asterisk drops the socket; during the
    # gap a second call arrives whose StasisStart we never see.
    await rig.fake.send(event("StasisStart", args=["inbound", "sales"], channel=channel("c1")))
    assert isinstance(await next_event(events), StasisStart)
    rig.fake.channel_ids = ["c1", "c2"]
    await rig.fake.drop()

    again = await next_event(events)
    assert isinstance(again, StreamConnected)
    assert again.reconnect
    assert again.state.channel_ids == ("c1", "c2")
    assert rig.fake.connections == 2
    assert len(sleeps) == 1 and 0.005 <= sleeps[0] <= 0.01
    gets = [r for r in rig.fake.requests if r.path == "/ari/applications/reccontrol"]
    assert len(gets) == 2

    await rig.fake.send(event("StasisEnd", channel=channel("c2")))
    assert isinstance(await next_event(events), StasisEnd)
    await stream.close()


async def test_reconnect_retries_while_server_is_down() -> None:
    sleeps: list[float] = []

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) >= 5:
            await stream.close()

    async with aiohttp.ClientSession() as session:
        client = AriClient(settings_for("http://127.0.0.1:9"), session)
        stream = EventStream(client, rng=random.Random(2), sleep=fake_sleep)
        received = [e async for e in stream]
    assert received == []
    assert len(sleeps) == 5
    assert sleeps[0] < sleeps[2]  # grows...
    assert max(sleeps) <= 0.05  # ...up to the cap


async def test_r1_events_handshake_that_never_answers_is_unavailable_in_time() -> None:
    """R1: an Asterisk that takes the connection and never answers the websocket upgrade
    (its HTTP server stuck) costs the events stream one request timeout, then a retry;
    without a deadline the daemon waited for the session's five minutes."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            client = AriClient(settings_for(f"http://127.0.0.1:{port}", timeout=0.2), session)
            with pytest.raises(AriUnavailable) as info:
                await asyncio.wait_for(client.connect_events(), timeout=10.0)
        assert info.value.message == "no answer in time"
        assert accepted, "the handshake never reached the server"
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


def test_backoff_is_capped_exponential_with_jitter() -> None:
    delays = backoff_delays(ReconnectSettings(initial_delay=0.5, max_delay=30), random.Random(7))
    values = [next(delays) for _ in range(12)]
    caps = [min(30, 0.5 * 2**i) for i in range(12)]
    for value, cap in zip(values, caps, strict=True):
        assert cap / 2 <= value <= cap
    assert values[-1] > 15
    # Jitter: two controllers with different random states do not retry in step.
    other = backoff_delays(ReconnectSettings(0.5, 30), random.Random(8))
    assert [next(other) for _ in range(12)] != values


# -- secrets -------------------------------------------------------------------------
async def test_password_never_in_logs_urls_or_errors(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("reccontrol").propagate = True
    stream = EventStream(rig.client)
    events = aiter(stream)
    await next_event(events)
    await rig.fake.drop()
    await next_event(events)
    rig.fake.answers[("POST", "/ari/channels/c1/answer")] = (500, {"message": "boom"})
    with pytest.raises(AriError) as info:
        await rig.client.answer("c1")
    await stream.close()

    assert any("reconnecting" in r.getMessage() for r in caplog.records)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)
    assert PASSWORD not in repr(rig.client.settings)
    for seen in rig.fake.requests:
        assert PASSWORD not in str(seen.query)
        assert seen.authorization.startswith("Basic ")


def test_event_log_redaction() -> None:
    raw = event(
        "ChannelDtmfReceived",
        digit="4",
        channel={
            **channel("c1", name="Local/0612345678@out-00000001;1", number="0612345678"),
            "caller": {"name": "Jean Dupont", "number": "0612345678"},
            "channelvars": {"CARD": "4970101010101010"},
        },
    )
    cleaned = redact_event(raw)
    text = str(cleaned)
    for secret in ("0612345678", "Jean Dupont", "4970101010101010", "'digit': '4'"):
        assert secret not in text
    assert cleaned["channel"]["id"] == "c1"
    assert cleaned["timestamp"] == raw["timestamp"]
