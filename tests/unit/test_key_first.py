"""The pause an agent's key starts with, asked of the call before it hears the key
(:meth:`Call.protective_key`): the router sends it ahead of the machine (A5, M2). What
it names must be exactly what :meth:`Call.handle` then returns first, and asking must
change nothing."""

from __future__ import annotations

import random

import pytest

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.recording import PAUSE_TIMER
from controller.config.service_model import PauseSettings
from tests.factories import make_service
from tests.unit.test_inbound_call import (
    AGENT_CHANNEL,
    CALLER,
    Driver,
    agent_keys,
    paying_driver,
    recording_name,
)


def recorded(d: Driver) -> str:
    d.connect()
    name = recording_name(d)
    d.send(m.RecordingStarted(name))
    return name


def key(digit: str, at: float, channel: str = AGENT_CHANNEL.id) -> m.Dtmf:
    return m.Dtmf(channel, digit, at)


def named(d: Driver, message: m.Dtmf) -> c.PauseRecording | None:
    return d.call.protective_key(message.channel_id, message.digit, message.received)


@pytest.mark.parametrize("keys", ["*2", "*5"])
@pytest.mark.parametrize("mute", [False, True])
def test_a5_m2_the_pause_and_card_keys_name_their_pause_before_the_call_hears_them(
    keys: str, mute: bool
) -> None:
    pause = PauseSettings(mode="silence" if mute else "skip")
    d = Driver(service=make_service(sampling_rate=0.999, pause=pause))
    name = recorded(d)
    agent_keys(d, keys[0], start=100.0)
    second = key(keys[1], 100.2)
    first = named(d, second)
    assert first == c.PauseRecording(name, mute)
    assert named(d, second) == first  # asking twice: the same answer
    # Worked out when the star was heard: both pauses, each of its key.
    assert d.call.armed is not None and set(d.call.armed.requests) == {"2", "5"}
    out = d.send(second)
    assert out[0] == first and isinstance(out[1], c.OpenPause)


def test_a5_m2_keys_that_do_not_start_with_a_pause_name_nothing() -> None:
    d = Driver()
    recorded(d)
    assert named(d, key("2", 100.0)) is None  # no star before it
    agent_keys(d, "*", start=100.0)
    assert named(d, key("3", 100.2)) is None  # resume
    assert named(d, key("7", 100.2)) is None  # private: a discard, not a pause
    assert named(d, key("8", 100.2)) is None  # payment: its own pause
    assert named(d, key("2", 102.3)) is None  # the star timed out
    assert named(d, key("2", 100.2, CALLER.id)) is None  # the caller's key
    agent_keys(d, "2", start=100.2)
    agent_keys(d, "*", start=101.0)
    assert named(d, key("2", 101.2)) is None  # paused already


def test_a5_m2_s8_nothing_while_listened_or_unrecorded_or_in_the_payment() -> None:
    listened = Driver()
    recorded(listened)
    listened.send(m.ListenRequested("anne", "PJSIP/sup-anne"))
    agent_keys(listened, "*", start=100.0)
    # The listening's cut leaves first, beside the pause (S8).
    assert named(listened, key("2", 100.2)) is None
    assert isinstance(listened.send(key("2", 100.2))[0], c.CutSnoop)

    unsampled = Driver(service=make_service(sampling_rate=0.001))
    unsampled.connect()
    agent_keys(unsampled, "*", start=100.0)
    assert named(unsampled, key("2", 100.2)) is None

    paying = paying_driver()
    recorded(paying)
    agent_keys(paying, "*8", start=100.0)
    agent_keys(paying, "*", start=101.0)
    assert named(paying, key("2", 101.2)) is None


def random_message(d: Driver, rng: random.Random, at: float) -> m.Message:
    """A message a bridged call may get, keys most often."""
    roll = rng.random()
    if roll < 0.7:
        channel = AGENT_CHANNEL.id if rng.random() < 0.9 else CALLER.id
        return key(rng.choice("*2*3*5*7*8*1#0"), at, channel)
    rec = d.call.recording
    name = rec.name if rec is not None else "none"
    return rng.choice(
        [
            m.Hold(AGENT_CHANNEL.id, True),
            m.Hold(AGENT_CHANNEL.id, False),
            m.TimerFired(PAUSE_TIMER),
            m.RecordingStarted(name),
            m.RecordingEnded(name, failed=True, cause="disk"),
            m.ListenRequested("anne", "PJSIP/sup-anne"),
            m.ListenStopped("anne"),
            m.PaymentDetails("42.50", "ORDER-7"),
        ]
    )


def test_a5_m2_what_it_names_is_what_the_call_returns_first_and_asking_changes_nothing() -> None:
    """Calls alike get the same messages; one is asked before each key (from what the
    last key armed), one is asked with the arming forgotten, one is never asked. All
    answer alike throughout, and whenever a pause was named it is their first command."""
    pauses_named = 0
    for seed in range(60):
        asked, worked_out, untouched = paying_driver(), paying_driver(), paying_driver()
        for d in (asked, worked_out, untouched):
            recorded(d)
        rng = random.Random(seed)
        at = 100.0
        for _ in range(80):
            at += rng.choice([0.1, 0.2, 0.3, 2.5])
            message = random_message(asked, rng, at)
            first = None
            if isinstance(message, m.Dtmf):
                first = named(asked, message)
                # The same answer worked out from the state alone, without the arming.
                worked_out.call.armed = None
                assert named(worked_out, message) == first
            out = asked.send(message)
            assert untouched.send(message) == out
            assert worked_out.send(message) == out
            if first is not None:
                pauses_named += 1
                assert out[0] == first
            elif out and isinstance(message, m.Dtmf) and isinstance(out[0], c.PauseRecording):
                # A pause it did not name is the payment key's own (M1), never a pause key's.
                assert asked.call.payment is not None
    assert pauses_named > 10  # pauses were named along the way, not only refusals
