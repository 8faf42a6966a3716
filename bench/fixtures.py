"""Pure objects for the benchmarks that need no Asterisk: a service, an agent, channels,
a call driven to the state where the agent's keys matter, and a real event."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from controller.ari.models import CallerId, Channel
from controller.calls import messages as m
from controller.calls.call import Call
from controller.calls.call_settings import CallSettings
from controller.calls.inbound import inbound_cast
from controller.calls.recording import RecState
from controller.config.service_model import Campaign
from controller.config.windows import WeeklyWindow
from tests.factories import STAFF_INFORMED, make_agent, make_service

PARIS = ZoneInfo("Europe/Paris")
# A Wednesday, 10:00 in Paris: inside every window below.
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
SETTINGS = CallSettings(PARIS, "wav", staff_informed=STAFF_INFORMED)

# The same builders as the unit tests, with a campaign and a service window so the
# policy's every check runs.
SERVICE = make_service(
    target="PJSIP/agents",
    campaign=Campaign(dt.date(2026, 1, 1), dt.date(2027, 12, 31)),
    windows=(WeeklyWindow(frozenset(range(6)), dt.time(8), dt.time(20)),),
)
AGENT = make_agent(endpoints=("PJSIP/alice",))


def caller_channel(index: int) -> Channel:
    return Channel(
        f"1764398403.{index}",
        f"PJSIP/trunk-{index:08x}",
        "Up",
        CallerId("", "+33611112222"),
        CallerId("", ""),
        "fr",
        "reccontrol-inbound",
        "sales",
    )


def agent_channel(call: Call) -> Channel:
    return Channel(
        call.agent_channel_id,
        "PJSIP/alice-0000002a",
        "Up",
        CallerId("", ""),
        CallerId("", ""),
        "fr",
        "",
        "",
    )


def connected_call(index: int, rng: random.Random, call_id: str | None = None) -> Call:
    """A call bridged to Alice, sampled, with its recording live: ready for her keys."""
    call_id = call_id or f"{index:016x}"
    cast = inbound_cast(
        call_id=call_id, service=SERVICE, caller=caller_channel(index), caller_hash="5f" * 32
    )
    call = Call(cast=cast, settings=SETTINGS, rng=rng)
    call.start(NOW)
    call.handle(m.ObjectionKnown(False), NOW)
    call.handle(m.PlaybackDone(call.playback_id), NOW)
    commands = call.handle(m.AgentAnswered(agent_channel(call), AGENT), NOW)
    if call.recording is None:
        raise RuntimeError(f"the benchmark call was not sampled: {commands}")
    call.handle(m.RecordingStarted(call.recording.name), NOW)
    if call.recording.state is not RecState.ACTIVE:
        raise RuntimeError("the benchmark call's recording did not start")
    return call


class AlwaysSampled(random.SystemRandom):
    """The OS CSPRNG, as in production, except that every sampling draw records."""

    def random(self) -> float:
        return 0.0


# A ChannelDtmfReceived frame as Asterisk 22 sends it on the events websocket, for an
# agent's Local channel in the Stasis application (numbers are fictitious).
DTMF_EVENT_JSON = (
    '{"type":"ChannelDtmfReceived","timestamp":"2026-12-02T10:00:02.417+0100",'
    '"digit":"2","duration_ms":100,'
    '"channel":{"id":"rc-9c1f0e6b2d7a4c35-agent",'
    '"name":"Local/alice-keys-*2*3@sim-agent-0000001c;1","state":"Up",'
    '"protocol_id":"","caller":{"name":"","number":"+33611112222"},'
    '"connected":{"name":"","number":""},"accountcode":"",'
    '"dialplan":{"context":"sim-agent","exten":"alice-keys-*2*3","priority":1,'
    '"app_name":"Stasis","app_data":"reccontrol,agent,9c1f0e6b2d7a4c35"},'
    '"creationtime":"2026-12-02T10:00:00.105+0100","language":"fr"},'
    '"asterisk_id":"02:42:ac:11:00:02","application":"reccontrol"}'
)
