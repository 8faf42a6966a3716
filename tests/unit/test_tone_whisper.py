"""A10: the agent's ok and refused tones go through a snoop that whispers to the agent's
phone alone, made when the agent is bridged and cut when they leave; a snoop that cannot
be made or play leaves the tones on the agent's channel, as before, and never the key's
action without its tone."""

from __future__ import annotations

import datetime as dt

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.ids import (
    is_leg_of,
    is_our_leg,
    snoop_channel,
    snoop_mode,
    whisper_of,
    whisper_snoop,
)
from controller.calls.transfer import TransferAnswered
from controller.calls.whisper import MAX_SNOOPS, Whisper
from tests.unit.test_inbound_call import (
    AGENT_CHANNEL,
    CALLER,
    Driver,
    agent_keys,
    kinds,
    of,
    paying_driver,
    start_ivr,
)
from tests.unit.test_transfer import CHLOE, start, transferred

AGENT = AGENT_CHANNEL.id


def bridged() -> tuple[Driver, str]:
    """A recorded call, its agent bridged: the whisper's id."""
    d = Driver()
    (snoop,) = of(d.connect(), c.Snoop)
    assert snoop.channel_id == AGENT
    return d, snoop.snoop_id


def tone_target(commands: list[c.Command]) -> str:
    (play,) = of(commands, c.Play)
    assert play.media.startswith("sound:"), play
    return play.channel_id


def test_a10_the_snoop_is_made_with_the_bridge_and_whispers_towards_the_agent_only() -> None:
    d, snoop = bridged()
    assert whisper_of(snoop) == "c0ffee" and is_our_leg(snoop)
    assert is_leg_of(snoop, "c0ffee", "whisper") and not is_leg_of(snoop, "beef", "whisper")
    # Hears nothing of the call, speaks to the agent's phone: never to the bridge.
    assert snoop_mode(snoop) == ("whisper,c0ffee", "none", "out")
    # A listening's snoop is unchanged: it hears both ways and says nothing (S8).
    assert snoop_mode(snoop_channel("c0ffee", 1)) == ("listening,c0ffee,snoop", "both", "none")
    assert d.send(m.WhisperUp(snoop)) == []


def test_a10_tones_are_whispered_once_the_snoop_is_up() -> None:
    d, snoop = bridged()
    # A key before the snoop is up: the tone still plays, on the agent's channel.
    assert tone_target(agent_keys(d, "*3", start=100)) == AGENT
    d.send(m.WhisperUp(snoop))
    refused = agent_keys(d, "*3", start=101)
    assert tone_target(refused) == snoop
    paused = agent_keys(d, "*2", start=102)
    assert kinds(paused)[0] == "PauseRecording"  # the protective command still first (A5)
    assert tone_target(paused) == snoop
    assert tone_target(agent_keys(d, "*3", start=103)) == snoop


def test_a10_the_snoop_is_cut_when_the_call_ends() -> None:
    d, snoop = bridged()
    d.send(m.WhisperUp(snoop))
    gone = d.send(m.ChannelGone(CALLER.id))
    assert c.CutSnoop(snoop) in gone
    name = of(d.log, c.StartRecording)[0].name
    d.send(m.RecordingEnded(name))
    end = d.send(m.ChannelGone(AGENT))
    assert kinds(end)[-1] == "Finished" and of(end, c.Snoop) == []
    assert of(d.log, c.CutSnoop) == [c.CutSnoop(snoop)]


def test_a10_the_snoop_is_cut_when_the_agent_leaves_and_the_call_goes_on() -> None:
    """The agent hangs up while the caller is in the payment IVR: the call goes on, its
    whisper does not."""
    d = paying_driver()
    start_ivr(d)
    (snoop,) = [x.snoop_id for x in of(d.log, c.Snoop)]
    d.send(m.WhisperUp(snoop))
    gone = d.send(m.ChannelGone(AGENT))
    assert d.call.payment is not None
    assert gone[-1] == c.CutSnoop(snoop)
    assert of(gone, c.Snoop) == []


def test_a10_a_snoop_that_cannot_be_made_leaves_the_tones_on_the_agents_channel() -> None:
    d, snoop = bridged()
    failed = d.send(m.CommandFailed(c.Snoop(AGENT, snoop), "not-found", 404))
    (warning,) = of(failed, c.Log)
    assert warning.level is c.Level.WARNING and "whisper could not be made" in warning.message
    assert of(failed, c.Snoop) == []  # not tried again for this agent's channel
    first = agent_keys(d, "*3", start=100)
    assert tone_target(first) == AGENT
    # Once per call, the warning.
    assert of(d.send(m.CommandFailed(c.Snoop(AGENT, snoop), "not-found", 404)), c.Log) == []
    assert tone_target(agent_keys(d, "*3", start=101)) == AGENT


def test_a10_a_tone_that_cannot_be_whispered_is_played_to_the_agent_instead() -> None:
    d, snoop = bridged()
    d.send(m.WhisperUp(snoop))
    (play,) = of(agent_keys(d, "*3", start=100), c.Play)
    assert play.channel_id == snoop
    out = d.send(m.CommandFailed(play, "unprocessable", 422))
    assert out[0] == c.Play(AGENT, play.media, play.playback_id)
    assert c.CutSnoop(snoop) in out
    assert [x.level for x in of(out, c.Log)] == [c.Level.WARNING]
    assert of(out, c.Snoop) == []
    assert tone_target(agent_keys(d, "*3", start=101)) == AGENT


def test_a10_a_snoop_gone_while_the_agent_talks_is_made_again_a_bounded_number_of_times() -> None:
    """An ARI reconnect releases channels no call owns, the whisper among them."""
    d, snoop = bridged()
    made = [snoop]
    for _ in range(MAX_SNOOPS + 2):
        again = of(d.send(m.ChannelGone(made[-1])), c.Snoop)
        if not again:
            break
        made.append(again[0].snoop_id)
        assert again[0].channel_id == AGENT
    assert len(made) == MAX_SNOOPS == len(set(made))
    # Whatever happens to the snoops, the tone is never lost.
    assert tone_target(agent_keys(d, "*3", start=100)) == AGENT


def test_a10_a_snoop_no_longer_wanted_is_hung_up_when_it_shows_up() -> None:
    d, snoop = bridged()
    stale = whisper_snoop("c0ffee", "99")
    assert d.send(m.WhisperUp(stale)) == [c.Hangup(stale)]
    assert d.send(m.ChannelGone(stale)) == []
    d.send(m.WhisperUp(snoop))
    assert tone_target(agent_keys(d, "*3", start=100)) == snoop


def test_a10_a_call_carried_on_after_a_restart_names_its_snoop_afresh_R1() -> None:
    """The last run's snoop may still be there until the sweep hangs it up."""
    whisper = Whisper(call_id="c0ffee", log_prefix="call")
    (first,) = whisper.keep(AGENT)
    carried = Whisper(call_id="c0ffee", log_prefix="call")
    carried.carried_on(dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC))
    (second,) = carried.keep(AGENT)
    assert isinstance(first, c.Snoop) and isinstance(second, c.Snoop)
    assert first.snoop_id != second.snoop_id
    assert whisper_of(second.snoop_id) == "c0ffee"
    # A new agent channel (a transfer) gets a snoop of its own; the old one is cut.
    cut, made = carried.keep("rc-c0ffee-agent2")
    assert cut == c.CutSnoop(second.snoop_id)
    assert isinstance(made, c.Snoop) and made.channel_id == "rc-c0ffee-agent2"
    assert made.snoop_id not in (first.snoop_id, second.snoop_id)


def test_a10_r3_the_whisper_follows_the_call_to_the_agent_it_is_transferred_to() -> None:
    """The transferring agent's whisper is cut as the transfer starts; the agent who
    answers gets one of their own, on the transfer's channel, and hears their tones."""
    d = transferred()
    (old,) = [x.snoop_id for x in of(d.log, c.Snoop)]
    d.send(m.WhisperUp(old))
    started = start(d)
    assert c.CutSnoop(old) in started and of(started, c.Snoop) == []
    answered = d.send(TransferAnswered("xfer-1", CHLOE))
    (made,) = of(answered, c.Snoop)
    assert made.channel_id == "xfer-1" and made.snoop_id != old
    d.send(m.WhisperUp(made.snoop_id))
    keys = d.send(m.Dtmf("xfer-1", "*", 200.0)) + d.send(m.Dtmf("xfer-1", "3", 200.2))
    assert tone_target(keys) == made.snoop_id
