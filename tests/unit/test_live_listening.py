"""Live listening (S8) and the live board, pure: the rule clause by clause, a call's
listening from its start to each way it stops, and the board's states and subscribers."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.call import Call
from controller.calls.ids import (
    is_leg_of,
    is_our_leg,
    listener_leg,
    listening_args,
    listening_bridge,
    listening_of,
    snoop_channel,
)
from controller.calls.listening import CHECK_SECONDS, CHECK_TIMER
from controller.calls.live import RESYNC, LiveBoard, LiveState, TooManySubscribers, live_state
from controller.calls.recording import PAUSE_TIMER
from controller.policy import ListenFacts, ListenRefusal, listen_refusal
from tests.factories import STAFF_INFORMED, make_agent, make_service
from tests.unit.test_inbound_call import (
    AGENT_CHANNEL,
    CALLER,
    NOW,
    SETTINGS,
    Driver,
    agent_keys,
    kinds,
    of,
    paying_driver,
    recording_name,
)

PARIS = ZoneInfo("Europe/Paris")
PHONE = "PJSIP/sup-anne"
SNOOP = snoop_channel("c0ffee", 1)
LISTENER = listener_leg("c0ffee", 1)
BRIDGE = listening_bridge("c0ffee", 1)
ALLOWED = ListenFacts(
    agent=make_agent(),
    talking=True,
    caller_objected=False,
    private=False,
    paused=False,
    in_payment=False,
)


def refusal(facts: ListenFacts, now: dt.datetime = NOW) -> ListenRefusal | None:
    return listen_refusal(facts, now=now, timezone=PARIS, staff_informed=STAFF_INFORMED)


# -- the rule ------------------------------------------------------------------------
def test_s8_listening_is_allowed_where_the_call_could_be_recorded_now() -> None:
    assert refusal(ALLOWED) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"talking": False}, ListenRefusal.NOT_TALKING),
        ({"caller_objected": True}, ListenRefusal.CALLER_OBJECTED),
        ({"agent": None}, ListenRefusal.UNKNOWN_AGENT),
        ({"agent": make_agent(protected=True)}, ListenRefusal.PROTECTED_AGENT),
        ({"agent": make_agent(windows=())}, ListenRefusal.OUTSIDE_AGENT_WINDOW),
        ({"private": True}, ListenRefusal.PRIVATE),
        ({"paused": True}, ListenRefusal.PAUSED),
        ({"in_payment": True}, ListenRefusal.PAYMENT),
    ],
)
def test_s8_each_clause_refuses_listening(change: dict[str, object], expected: str) -> None:
    """S8: not talking, objection, unknown or protected agent, outside the agent's
    published periods, private, paused, payment: each alone refuses."""
    assert refusal(dataclasses.replace(ALLOWED, **change)) == expected  # type: ignore[arg-type]


def test_s8_outside_the_published_period_by_the_clock() -> None:
    """S8: the same agent at 20:00 Paris time is outside the office window."""
    evening = dt.datetime(2026, 12, 2, 19, 0, tzinfo=dt.UTC)
    assert refusal(ALLOWED, evening) == ListenRefusal.OUTSIDE_AGENT_WINDOW


def test_s8_before_the_staff_representatives_were_informed() -> None:
    """S8 with A8: nothing may be recorded, so nothing may be listened to."""
    got = listen_refusal(ALLOWED, now=NOW, timezone=PARIS, staff_informed=None)
    assert got == ListenRefusal.STAFF_NOT_INFORMED


# -- a call's listening --------------------------------------------------------------
def listened(d: Driver) -> list[c.Command]:
    """Connects and records the call, then starts a listening on it."""
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    return d.send(m.ListenRequested("anne", PHONE))


def test_s8_listening_snoops_the_agent_and_dials_the_supervisor() -> None:
    d = Driver()
    out = listened(d)
    assert kinds(out) == ["CreateBridge", "Snoop", "Originate", "StartTimer", "Log"]
    assert of(out, c.CreateBridge) == [c.CreateBridge(BRIDGE)]
    assert of(out, c.Snoop) == [c.Snoop(AGENT_CHANNEL.id, SNOOP)]
    assert listening_args(SNOOP) == "listening,c0ffee,snoop"
    (dial,) = of(out, c.Originate)
    assert (dial.endpoint, dial.channel_id, dial.app_args) == (
        PHONE,
        LISTENER,
        "listening,c0ffee,listener",
    )
    # Each leg joins the listening's own bridge as it enters the application.
    assert d.send(m.ListenLegUp(SNOOP)) == [c.AddToBridge(BRIDGE, SNOOP)]
    assert of(d.send(m.ListenLegUp(LISTENER)), c.AddToBridge) == [c.AddToBridge(BRIDGE, LISTENER)]
    assert d.call.listening.person_id == "anne"


def stop_commands() -> list[c.Command]:
    return [c.Hangup(LISTENER), c.DestroyBridge(BRIDGE), c.CancelTimer(CHECK_TIMER)]


def cut_first(out: list[c.Command], protective: type[c.Command] | None) -> bool:
    """The snoop's cut first (not awaited), then the protective command it does not
    hold up, then the rest of the listening's end."""
    at = 1 if protective is None else 2
    if protective is not None and not isinstance(out[1], protective):
        return False
    return out[0] == c.CutSnoop(SNOOP) and out[at : at + 3] == stop_commands()


def test_s8_the_pause_key_stops_listening_right_after_the_pause() -> None:
    """S8: paused: the snoop's cut and the recording's pause leave together, first."""
    d = Driver()
    listened(d)
    out = agent_keys(d, "*2")
    assert cut_first(out, c.PauseRecording)
    assert d.call.listening.session is None


def test_s8_the_private_key_stops_listening_right_after_the_discard() -> None:
    d = Driver()
    listened(d)
    out = agent_keys(d, "*7")
    assert cut_first(out, c.CancelRecording)


def test_s8_the_card_key_stops_listening() -> None:
    d = Driver()
    listened(d)
    out = agent_keys(d, "*5")
    assert cut_first(out, c.PauseRecording)


def unrecorded_listened() -> Driver:
    """A call not sampled (nothing recorded, nothing to pause) being listened to."""
    d = Driver(service=make_service(sampling_rate=0.001))
    d.connect()
    assert of(d.log, c.StartRecording) == []
    d.send(m.ListenRequested("anne", PHONE))
    assert d.call.listening.session is not None
    return d


@pytest.mark.parametrize("key", ["*2", "*5"], ids=["pause", "card"])
def test_s8_the_pause_or_card_key_stops_listening_on_an_unrecorded_call(key: str) -> None:
    """S8: the agent's pause or card key protects what follows from a listener even
    when nothing is recorded: the snoop's cut goes first, no recording command, the agent
    hears the key taken."""
    d = unrecorded_listened()
    out = agent_keys(d, key)
    assert cut_first(out, None)
    assert d.call.listening.session is None
    assert of(out, c.PauseRecording) == [] and of(out, c.OpenPause) == []
    assert [p.media for p in of(out, c.Play)] == ["sound:beep"]


@pytest.mark.parametrize("key", ["*2", "*5"], ids=["pause", "card"])
def test_s8_after_the_pause_key_on_an_unrecorded_call_listening_waits_for_resume(
    key: str,
) -> None:
    """S8: a later request is refused as ``paused`` (nothing dialled, nothing snooped)
    until the agent's resume key, then allowed again."""
    d = unrecorded_listened()
    agent_keys(d, key)
    assert d.call.listen_refusal(NOW) == ListenRefusal.PAUSED
    refused = d.send(m.ListenRequested("anne", PHONE))
    assert kinds(refused) == ["Log"] and "refused: paused" in of(refused, c.Log)[0].message
    # A second pause key changes nothing: still held, the refused sound.
    again = agent_keys(d, "*2", start=150)
    assert [p.media for p in of(again, c.Play)] == ["sound:beeperr"]
    assert d.call.listen_refusal(NOW) == ListenRefusal.PAUSED
    resumed = agent_keys(d, "*3", start=200)
    assert [p.media for p in of(resumed, c.Play)] == ["sound:beep"]
    assert d.call.listen_refusal(NOW) is None
    assert of(d.send(m.ListenRequested("anne", PHONE)), c.Snoop) != []


def test_s8_a_recording_started_after_the_pause_key_still_waits_for_resume() -> None:
    """S8 with A4: the agent records the call for mediation after pausing an unrecorded
    call; listeners stay out until the resume key, and the pause key now pauses the
    recording."""
    d = unrecorded_listened()
    agent_keys(d, "*2")
    agent_keys(d, "*1", start=150)
    d.send(m.RecordingStarted(recording_name(d)))
    assert d.call.listen_refusal(NOW) == ListenRefusal.PAUSED
    agent_keys(d, "*3", start=200)
    assert d.call.listen_refusal(NOW) is None
    assert of(agent_keys(d, "*2", start=250), c.PauseRecording) != []
    assert d.call.listen_refusal(NOW) == ListenRefusal.PAUSED


def test_s8_a_recording_lost_during_the_pause_keeps_listeners_out_until_resume() -> None:
    """S8: the pause's recording failed (its pause row closed with it): the agent's
    pause still holds for listeners until the resume key."""
    d = Driver()
    d.connect()
    name = recording_name(d)
    d.send(m.RecordingStarted(name))
    agent_keys(d, "*2")
    d.send(m.RecordingEnded(name, failed=True, cause="disk full"))
    assert d.call.rec.pause is None
    assert d.call.listen_refusal(NOW) == ListenRefusal.PAUSED
    agent_keys(d, "*3", start=200)
    assert d.call.listen_refusal(NOW) is None


def test_s8_r1_c2_a_call_carried_on_after_a_restart_is_never_listened_to() -> None:
    """S8 with R1 and C2: the caller's keys went unheard while the controller was down,
    so an objection may have been lost: the call carried on is not listened to, paused
    or not, even after the agent's resume key."""
    d = Driver()
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    agent_keys(d, "*2")
    call, _ = Call.resumed(d.call.snapshot(), settings=SETTINGS, rng=random.Random(2), now=NOW)
    call.handle(m.ObjectionKnown(False), NOW)
    assert call.listen_refusal(NOW) == ListenRefusal.CALLER_OBJECTED
    for i, key in enumerate("*3"):
        call.handle(m.Dtmf(AGENT_CHANNEL.id, key, 300 + i * 0.2), NOW)
    assert call.listen_refusal(NOW) == ListenRefusal.CALLER_OBJECTED


def test_s8_the_recorded_pause_ending_by_its_limit_lets_listeners_in_again() -> None:
    """S8 follows the recording: once the pause's limit resumes it (A5), the call could
    be recorded again, so it may be listened to."""
    d = Driver()
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    agent_keys(d, "*2")
    d.send(m.TimerFired(PAUSE_TIMER))
    assert d.call.listen_refusal(NOW) is None


def test_s8_a_payment_stops_listening() -> None:
    d = paying_driver()
    listened(d)
    out = d.send(m.PaymentRequested("12.00", "order-1"))
    assert cut_first(out, c.PauseRecording)


def test_s8_an_objection_mid_call_stops_listening() -> None:
    d = Driver()
    listened(d)
    out = d.send(m.Dtmf(CALLER.id, "9"))
    assert cut_first(out, c.CancelRecording)


def test_s8_the_end_of_the_call_stops_listening() -> None:
    d = Driver()
    listened(d)
    out = d.send(m.ChannelGone(CALLER.id))
    # First, before the recording stops and the agent is hung up.
    assert cut_first(out, None) and of(out, c.StopRecording) != []
    assert d.call.listening.session is None


def test_s8_the_supervisor_hanging_up_ends_the_listening_not_the_call() -> None:
    d = Driver()
    listened(d)
    d.send(m.ListenLegUp(SNOOP))
    out = d.send(m.ChannelGone(LISTENER))
    assert cut_first(out, None)
    assert d.call.phase.value == "connected" and of(out, c.StopRecording) == []
    # Its own StasisEnd, after the hang-up, is no news to the call.
    assert d.send(m.ChannelGone(SNOOP)) == []


def test_s8_a_listening_that_cannot_be_set_up_is_ended_not_the_call() -> None:
    """A failed snoop or bridge is the listening's: the call is not unbridged."""
    d = Driver()
    listened(d)
    out = d.send(m.CommandFailed(c.AddToBridge(BRIDGE, SNOOP), "ari-error", 500))
    assert cut_first(out, None) and of(out, c.DestroyBridge) == [c.DestroyBridge(BRIDGE)]
    assert d.call.phase.value == "connected"


def test_s8_the_end_of_the_agents_published_period_stops_listening() -> None:
    """S8: no event says a period ended; the call checks again on its timer."""
    d = Driver()
    listened(d)
    assert d.send(m.TimerFired(CHECK_TIMER)) == [c.StartTimer(CHECK_TIMER, CHECK_SECONDS)]
    d.now = dt.datetime(2026, 12, 2, 17, 1, tzinfo=dt.UTC)  # 18:01 in Paris
    assert cut_first(d.send(m.TimerFired(CHECK_TIMER)), None)
    assert d.call.listening.session is None


def test_s8_a_late_failure_of_a_listening_already_over_is_not_the_calls() -> None:
    """A listening's bridge failing after the listening ended (its bridge destroyed) must
    not be taken for the call's own bridge failing: the call goes on."""
    d = Driver()
    listened(d)
    d.send(m.ListenStopped("anne"))
    assert d.send(m.CommandFailed(c.AddToBridge(BRIDGE, SNOOP), "ari-not-found", 404)) == []
    assert d.send(m.CommandFailed(c.Hangup(LISTENER), "ari-error", 500)) == []
    assert d.call.phase.value == "connected"


def test_s8_a_stop_request_ends_the_listening() -> None:
    d = Driver()
    listened(d)
    assert cut_first(d.send(m.ListenStopped("anne")), None)


def test_s8_a_refused_call_is_not_listened_to() -> None:
    """Asked while paused: nothing is dialled, nothing snooped."""
    d = Driver()
    d.connect()
    d.send(m.RecordingStarted(recording_name(d)))
    agent_keys(d, "*2")
    out = d.send(m.ListenRequested("anne", PHONE))
    assert kinds(out) == ["Log"] and d.call.listening.session is None


def test_s8_a_protected_agent_is_never_listened_to() -> None:
    d = Driver()
    d.start()
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent(protected=True)))
    assert d.call.listen_refusal(NOW) == ListenRefusal.PROTECTED_AGENT
    assert kinds(d.send(m.ListenRequested("anne", PHONE))) == ["Log"]


def test_s8_one_listening_at_a_time_and_a_later_one_gets_new_ids() -> None:
    d = Driver()
    listened(d)
    assert kinds(d.send(m.ListenRequested("bob", PHONE))) == ["Log"]
    d.send(m.ListenStopped("anne"))
    again = d.send(m.ListenRequested("bob", PHONE))
    assert of(again, c.Snoop)[0].snoop_id == snoop_channel("c0ffee", 2)
    # A leg of the first listening that shows up late is hung up.
    assert d.send(m.ListenLegUp(LISTENER)) == [c.Hangup(LISTENER)]


def test_listening_ids_are_ours_and_name_their_call() -> None:
    assert is_our_leg(SNOOP) and is_our_leg(LISTENER) and is_our_leg(f"{LISTENER}-far")
    assert listening_of(SNOOP) == ("c0ffee", 1) and listening_of("rc-c0ffee-agent") is None
    assert is_leg_of(LISTENER, "c0ffee", "listening")
    assert not is_leg_of(f"{LISTENER}-far", "c0ffee", "listening")
    assert not is_leg_of(LISTENER, "beef", "listening")


# -- the live board ------------------------------------------------------------------
def test_s8_the_board_follows_the_call_state_by_state() -> None:
    d = Driver()
    d.start()
    assert live_state(d.call) == (LiveState.ANNOUNCEMENT, None)
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    assert live_state(d.call) == (LiveState.WAITING, None)
    d.send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    d.send(m.RecordingStarted(recording_name(d)))
    assert live_state(d.call) == (LiveState.RECORDING, None)
    agent_keys(d, "*5")
    assert live_state(d.call) == (LiveState.PAUSED, "card")
    agent_keys(d, "*7", start=200)
    assert live_state(d.call) == (LiveState.PRIVATE, None)
    d.send(m.ChannelGone(CALLER.id))
    assert live_state(d.call) is None


def test_s8_the_board_shows_the_agents_pause_on_an_unrecorded_call() -> None:
    """S8: paused on the board as for listening, though nothing is recorded; talking
    again once the agent resumes."""
    d = unrecorded_listened()
    assert live_state(d.call) == (LiveState.TALKING, None)
    agent_keys(d, "*2")
    assert live_state(d.call) == (LiveState.PAUSED, "agent_key")
    agent_keys(d, "*3", start=200)
    assert live_state(d.call) == (LiveState.TALKING, None)


def test_s8_the_board_publishes_changes_and_never_a_number() -> None:
    board = LiveBoard()
    sub = board.subscribe()
    d = Driver()
    d.start()
    board.observe(d.call, NOW)
    board.observe(d.call, NOW)  # nothing changed: nothing published
    d.send(m.ObjectionKnown(False))
    d.finish_announcement()
    board.observe(d.call, NOW)
    (line,) = board.snapshot()
    assert line.as_json() == {
        "call_id": "c0ffee",
        "service": "sales",
        "direction": "inbound",
        "agent_id": None,
        "started_at": NOW.isoformat(),
        "state": "waiting",
        "pause_reason": None,
        "listened": False,
        "payment_progress": None,
    }
    assert CALLER.caller.number not in str(line.as_json())
    board.ended("c0ffee")
    events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert [(e.kind, e.call.state if e.call else None) for e in events] == [
        ("update", LiveState.ANNOUNCEMENT),
        ("update", LiveState.WAITING),
        ("end", LiveState.WAITING),
    ]
    assert board.snapshot() == []


def test_s8_a_board_nobody_follows_shows_what_a_followed_one_does() -> None:
    """S8: while no browser follows the board it builds no line per message; what it
    shows when asked (a snapshot, a browser subscribing) is what a followed board shows,
    started when it was first told of the call, and changes are published from then on."""
    followed, idle = LiveBoard(), LiveBoard()
    followed.subscribe()
    later = dt.timedelta(seconds=30)
    calls = []
    for n in range(3):
        d = Driver()
        d.call.call_id = f"c{n}"
        d.start()
        calls.append(d)
        for board in (followed, idle):
            board.observe(d.call, NOW)
    calls[0].send(m.ObjectionKnown(False))
    calls[0].finish_announcement()
    for d in calls:
        for board in (followed, idle):
            board.observe(d.call, NOW + later)
    assert idle.snapshot() == followed.snapshot()
    assert {line.started_at for line in idle.snapshot()} == {NOW.isoformat()}
    idle.ended("c2")
    followed.ended("c2")
    calls[1].send(m.ObjectionKnown(False))
    calls[1].finish_announcement()
    for board in (followed, idle):
        board.observe(calls[1].call, NOW + later)
    sub = idle.subscribe()
    assert sub.queue.empty()
    assert idle.snapshot() == followed.snapshot()
    assert [(line.call_id, line.state) for line in idle.snapshot()] == [
        ("c0", LiveState.WAITING),
        ("c1", LiveState.WAITING),
    ]
    calls[0].send(m.AgentAnswered(AGENT_CHANNEL, make_agent()))
    idle.observe(calls[0].call, NOW + later)
    idle.observe(calls[1].call, NOW + later)  # nothing changed: nothing published
    (event,) = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    assert event.kind == "update" and event.call is not None
    assert (event.call.call_id, event.call.agent_id) == ("c0", make_agent().id)


def test_s8_a_slow_subscriber_is_resynced_not_waited_for() -> None:
    board = LiveBoard()
    slow, fast = board.subscribe(maxsize=2), board.subscribe()
    for n in range(3):
        d = Driver()
        d.call.call_id = f"c{n}"
        d.start()
        board.observe(d.call, NOW)
    assert fast.queue.qsize() == 3 and fast.resyncs == 0
    # The third change found the slow queue full: its stale changes became one mark.
    assert slow.resyncs == 1 and slow.queue.get_nowait() == RESYNC and slow.queue.empty()
    board.unsubscribe(slow)
    assert board.subscribers == 1


def test_the_board_caps_its_subscribers() -> None:
    board = LiveBoard(max_subscribers=1)
    board.subscribe()
    with pytest.raises(TooManySubscribers):
        board.subscribe()


def test_a_subscription_queue_is_bounded() -> None:
    sub = LiveBoard().subscribe(maxsize=2)
    assert isinstance(sub.queue, asyncio.Queue) and sub.queue.maxsize == 2


def test_s8_c2_no_listening_once_the_callers_keys_went_unheard() -> None:
    """S8, C2: the caller's keys went unheard (an ARI cut): an objection may have been
    lost, so the call could not be recorded, and nobody may listen to it live either: a
    listening in progress stops, a new request is refused as the caller's objection."""
    d = unrecorded_listened()
    assert d.call.listen_refusal(NOW) is None
    d.send(m.KeysUnheard(NOW - dt.timedelta(seconds=3)))
    assert d.call.listening.session is None
    assert d.call.listen_refusal(NOW) == ListenRefusal.CALLER_OBJECTED
    refused = d.send(m.ListenRequested("anne", PHONE))
    assert of(refused, c.Snoop) == [] and of(refused, c.Originate) == []
