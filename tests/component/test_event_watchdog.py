"""The ARI event path never dies silently (R2, R1): a hostile or
broken frame is dropped and counted, a handler error is logged and counted, and a dead
consumer, a deaf websocket or a displaced application is replaced by a fresh
connection with an alert."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from controller.ari import AriClient, EventStream
from controller.ari.events import ChannelDtmfReceived, Event, StreamConnected
from controller.ari.watchdog import EventPump, Verdict, Watchdog
from tests.component.fake_ari import FakeAri, channel, event
from tests.component.test_ari_client import settings_for
from tests.waiting import DEFAULT_WITHIN

NESTED = "[" * 5000 + "]" * 5000


@dataclass
class Recorder:
    """A handler that keeps what it is given and can be told to fail on one digit."""

    events: list[Event] = field(default_factory=list)
    fail_on_digit: str | None = None
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, event: Event) -> None:
        async with self.arrived:
            self.events.append(event)
            self.arrived.notify_all()
        if isinstance(event, ChannelDtmfReceived) and event.digit == self.fail_on_digit:
            raise RuntimeError("handler bug")

    def digits(self) -> list[str]:
        return [e.digit for e in self.events if isinstance(e, ChannelDtmfReceived)]

    def connects(self) -> int:
        return sum(isinstance(e, StreamConnected) for e in self.events)


@dataclass
class Rig:
    fake: FakeAri
    client: AriClient
    alerts: list[tuple[str, str]]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    fake = FakeAri()
    server = TestServer(fake.make_app())
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = AriClient(settings_for(str(server.make_url("")).rstrip("/"), timeout=10), session)
        yield Rig(fake, client, [])
    await server.close()


def key(digit: str) -> dict[str, object]:
    return event("ChannelDtmfReceived", digit=digit, duration_ms=100, channel=channel("c1"))


async def until(predicate: Callable[[Recorder], bool], recorder: Recorder) -> None:
    async with recorder.arrived:
        arrived = recorder.arrived.wait_for(lambda: predicate(recorder))
        await asyncio.wait_for(arrived, timeout=DEFAULT_WITHIN)


async def start_pump(
    rig: Rig, recorder: Recorder, *, interval: float = 3600.0, probe_timeout: float = 1.0
) -> tuple[EventPump, EventStream, asyncio.Task[None]]:
    stream = EventStream(rig.client)
    pump = EventPump(
        stream,
        recorder,
        Watchdog(rig.client, probe_timeout),
        interval=interval,
        alert=lambda kind, message: rig.alerts.append((kind, message)),
    )
    task = asyncio.create_task(pump.run())
    await until(lambda r: r.connects() == 1, recorder)
    return pump, stream, task


async def stop_pump(stream: EventStream, task: asyncio.Task[None]) -> None:
    await stream.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_r2_nested_frame_is_dropped_and_keys_still_arrive(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """5,000 nested '[' raised RecursionError in the consumer, which died silently."""
    stream = EventStream(rig.client)
    events = aiter(stream)
    assert isinstance(await asyncio.wait_for(anext(events), DEFAULT_WITHIN), StreamConnected)
    with caplog.at_level(logging.WARNING, logger="reccontrol.ari"):
        await rig.fake.send(NESTED)
        await rig.fake.send("{" * 3000)
        await rig.fake.send(key("2"))
        dtmf = await asyncio.wait_for(anext(events), DEFAULT_WITHIN)
    assert isinstance(dtmf, ChannelDtmfReceived) and dtmf.digit == "2"
    assert stream.dropped == 2
    assert "RecursionError" in caplog.text
    await stream.close()


async def test_r2_failing_event_log_does_not_stop_the_stream(rig: Rig) -> None:
    def broken_log(raw: dict[str, object]) -> None:
        raise OSError("disk full")

    stream = EventStream(rig.client, on_raw=broken_log)
    events = aiter(stream)
    await asyncio.wait_for(anext(events), DEFAULT_WITHIN)
    await rig.fake.send(key("1"))
    await rig.fake.send(key("2"))
    first = await asyncio.wait_for(anext(events), DEFAULT_WITHIN)
    second = await asyncio.wait_for(anext(events), DEFAULT_WITHIN)
    assert isinstance(first, ChannelDtmfReceived) and isinstance(second, ChannelDtmfReceived)
    assert (first.digit, second.digit) == ("1", "2")
    await stream.close()


async def test_r2_handler_error_is_counted_and_the_loop_goes_on(rig: Rig) -> None:
    recorder = Recorder(fail_on_digit="1")
    pump, stream, task = await start_pump(rig, recorder)
    await rig.fake.send(key("1"))
    await rig.fake.send(NESTED)
    await rig.fake.send(key("2"))
    await until(lambda r: r.digits() == ["1", "2"], recorder)
    assert pump.counters.handler_errors == 1
    assert stream.dropped == 1
    assert pump.counters.consumer_restarts == 0 and rig.fake.connections == 1
    await stop_pump(stream, task)


async def test_r1_dead_consumer_is_replaced_and_keys_work_again(rig: Rig) -> None:
    recorder = Recorder()
    pump, stream, task = await start_pump(rig, recorder)
    assert pump.consumer is not None
    pump.consumer.cancel()
    await until(lambda r: r.connects() == 2, recorder)
    reconnected = recorder.events[-1]
    assert isinstance(reconnected, StreamConnected) and reconnected.reconnect
    await rig.fake.send(key("3"))
    await until(lambda r: r.digits() == ["3"], recorder)
    assert pump.counters.consumer_restarts == 1
    assert [kind for kind, _ in rig.alerts] == ["ari_consumer_stopped"]
    await stop_pump(stream, task)


async def test_r1_consumer_killed_by_an_exception_is_replaced(rig: Rig) -> None:
    recorder = Recorder()
    pump, stream, task = await start_pump(rig, recorder)

    observe = pump.watchdog.observe

    def explode(event: Event) -> bool:
        if isinstance(event, ChannelDtmfReceived) and event.digit == "1":
            raise RecursionError("maximum recursion depth exceeded")
        return observe(event)

    # A failure outside the per-event guard, as the old decoder's RecursionError was.
    pump.watchdog.observe = explode  # type: ignore[method-assign]
    await rig.fake.send(key("1"))
    await until(lambda r: r.connects() == 2, recorder)
    assert pump.counters.consumer_restarts == 1
    assert "RecursionError" in rig.alerts[0][1]
    await rig.fake.send(key("2"))
    await until(lambda r: r.digits() == ["2"], recorder)
    await stop_pump(stream, task)


async def test_r1_probe_alive_on_a_healthy_connection(rig: Rig) -> None:
    recorder = Recorder()
    pump, stream, task = await start_pump(rig, recorder)
    assert await pump.watchdog.probe() is Verdict.ALIVE
    # Probes are consumed by the pump, never handed to the calls.
    assert all(e.type != "ChannelUserevent" for e in recorder.events)
    await stop_pump(stream, task)


async def test_r1_displaced_application_reconnects_with_an_alert(rig: Rig) -> None:
    """Item 6: another client took the application; GET /applications/{app} says 404."""
    recorder = Recorder()
    # Probes often, and each waits for its echo as long as it takes: the displacement is
    # seen in the application's listing, and a healthy probe slowed down by a loaded
    # machine must not be taken for a silent socket (one more reconnect, one more alert).
    pump, stream, task = await start_pump(
        rig, recorder, interval=0.02, probe_timeout=DEFAULT_WITHIN
    )
    rig.fake.registered = False
    await until(lambda r: r.connects() == 2, recorder)
    assert rig.fake.registered
    assert pump.counters.forced_reconnects >= 1
    assert rig.alerts[0][0] == "ari_displaced"
    assert "no longer registered" in rig.alerts[0][1]
    await rig.fake.send(key("4"))
    await until(lambda r: r.digits() == ["4"], recorder)
    await stop_pump(stream, task)


async def test_r1_silent_websocket_reconnects_with_an_alert(rig: Rig) -> None:
    """The socket is up and Asterisk answers REST, but nothing comes back on it."""
    recorder = Recorder()
    # The probe waits its default second: a loaded machine must not pass for a silent socket.
    _, stream, task = await start_pump(rig, recorder, interval=0.02)
    rig.fake.echo_user_events = False
    await until(lambda r: r.connects() == 2, recorder)
    rig.fake.echo_user_events = True
    assert rig.alerts[0][0] == "ari_silent"
    await rig.fake.send(key("5"))
    await until(lambda r: r.digits() == ["5"], recorder)
    await stop_pump(stream, task)


async def test_r1_huge_frame_costs_a_reconnect_not_the_loop(rig: Rig) -> None:
    """A frame past the websocket's size limit closes that connection; the stream
    reconnects and resyncs, and later keys still arrive."""
    recorder = Recorder()
    _, stream, task = await start_pump(rig, recorder)
    huge = '{"type": "ChannelVarset", "value": "' + "x" * (5 << 20) + '"}'
    with contextlib.suppress(ConnectionError):
        # The client drops the connection while the frame is still being sent.
        await rig.fake.send(huge)
    await until(lambda r: r.connects() == 2, recorder)
    await rig.fake.send(key("6"))
    await until(lambda r: r.digits() == ["6"], recorder)
    await stop_pump(stream, task)


async def test_r1_unknown_events_and_missing_fields_are_handled(rig: Rig) -> None:
    recorder = Recorder()
    pump, stream, task = await start_pump(rig, recorder)
    await rig.fake.send(event("SomethingNew", weird={"a": [1, 2]}))
    await rig.fake.send({"no": "type"})
    await rig.fake.send(event("ChannelDtmfReceived"))
    await rig.fake.send(event("RecordingFailed", recording=None))
    await rig.fake.send(key("7"))
    await until(lambda r: r.digits()[-1:] == ["7"], recorder)
    assert pump.counters.handler_errors == 0 and rig.fake.connections == 1
    await stop_pump(stream, task)
