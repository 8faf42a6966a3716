"""The outbound call flow as a pure state machine (C6).

An agent's phone dials a customer through the ``reccontrol-outbound`` context and
enters the application: customer dialled -> answered -> announcement to the customer
(C1-C4; the agent hears a waiting tone) -> customer and agent bridged -> the same
decision as an inbound call (P1-P4, A1, A3, C4) -> recording, only after the
announcement. A service announced by its agents skips the announcement: nothing is
recorded until the agent presses the notice-given key, which is stored with the call.

The customer plays the caller's part in the shared machines: the
:class:`~controller.calls.announcement.Announcement` speaks to the customer and takes
the customer's keys, the :class:`~controller.calls.conversation.Conversation` takes the
agent's keys (A2, A4, A5, M1) over the same
:class:`~controller.calls.recording.RecordingControl`.

Nothing here does I/O: :meth:`OutboundCall.handle` takes a message and the time and
returns the commands to carry out, protective ones first.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from enum import StrEnum

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.announcement import Announcement, Stage
from controller.calls.conversation import CallSettings, Conversation
from controller.calls.deciding import decide_and_start
from controller.calls.inbound import ENDING_GRACE_SECONDS, ENDING_TIMER
from controller.calls.payment import PaymentLeg
from controller.calls.payment import Stage as PaymentStage
from controller.calls.recording import Recording, RecordingControl, RecordingSnapshot
from controller.config.model import Agent, Config, Outbound, Service
from controller.policy import Verdict
from controller.privacy import caller_hash
from controller.store.records import CallStart, ConsentEvent

__all__ = ["CUSTOMER_TIMER", "OutboundCall", "Phase", "not_reached", "outbound_call"]

CUSTOMER_TIMER = "customer-answer"
# Asterisk's own ring timeout is a little longer, so that the call's timer decides and
# the outcome is "no_answer" whatever cause Asterisk would have given.
RING_SLACK_SECONDS = 5
# What the agent hears while the customer hears the announcement: a short beep every
# two seconds, so the line is not mistaken for ringing or silence.
AGENT_WAIT_TONE = "tone:425/200,0/1800"
# A dialled number: digits, an optional leading +. Anything else never reaches a dial
# string (it could add a second target or an option).
NUMBER = re.compile(r"\+?[0-9]{2,20}")

# The customer's leg ended before answering: Q.850 cause -> the call's outcome.
_NOT_REACHED = {
    17: "busy",
    18: "no_answer",
    19: "no_answer",
    21: "rejected",
    1: "invalid_number",
    3: "invalid_number",
    22: "invalid_number",
    28: "invalid_number",
}
# Outcome -> what the agent's phone is told when its leg is hung up.
_AGENT_HANGUP = {
    "busy": "busy",
    "no_answer": "no_answer",
    "rejected": "rejected",
    "invalid_number": "unallocated",
    "failed": "congestion",
}


def not_reached(cause: int) -> str:
    """The outcome of a customer leg that ended before answering."""
    return _NOT_REACHED.get(cause, "failed")


class Phase(StrEnum):
    DIALING = "dialing"
    ANNOUNCING = "announcing"
    FULL_NOTICE = "full_notice"
    CONNECTED = "connected"
    ENDING = "ending"
    ENDED = "ended"


def outbound_call(
    call_id: str,
    config: Config,
    channel: Channel,
    args: tuple[str, ...],
    *,
    settings: CallSettings,
    rng: random.Random,
) -> OutboundCall | str:
    """The call for an agent's channel that entered the application with
    ``outbound,<service>,<number>``, or why it cannot be handled (the channel then goes
    back to the dialplan, whose fallback dials the number unrecorded)."""
    service_name = args[0] if args else ""
    number = args[1] if len(args) > 1 else ""
    service = config.services.get(service_name)
    if service is None:
        return f"unknown service {service_name[:40]!r} in the outbound Stasis arguments"
    if service.outbound is None:
        return f"service {service_name!r} has no outbound section"
    valid = NUMBER.fullmatch(number) is not None
    privacy = config.privacy
    return OutboundCall(
        call_id=call_id,
        service=service,
        outbound=service.outbound,
        agent_channel=channel,
        agent=config.agent_for_channel(channel.name),
        number=number if valid else None,
        customer_hash=(
            caller_hash(privacy.caller_hmac_key, number, privacy.default_region) if valid else None
        ),
        settings=settings,
        rng=rng,
    )


class OutboundCall:
    def __init__(
        self,
        *,
        call_id: str,
        service: Service,
        outbound: Outbound,
        agent_channel: Channel,
        agent: Agent | None,
        number: str | None,
        customer_hash: str | None,
        settings: CallSettings,
        rng: random.Random,
        recording: RecordingSnapshot | None = None,
    ) -> None:
        self.call_id = call_id
        self.service = service
        self.outbound = outbound
        self.agent_channel = agent_channel
        self.agent_channel_id = agent_channel.id
        self.customer_channel_id = f"rc-{call_id}-customer"
        self.bridge_id = f"rc-{call_id}"
        self._number = number
        """None: what was dialled is not a phone number. Never logged."""
        self.customer_hash = customer_hash
        self.settings = settings
        self.rng = rng
        self.by_agent = service.announcement.by == "agent"
        self.phase = Phase.DIALING
        self.remembered_objection: bool | None = None if customer_hash else False
        self.verdict: Verdict | None = None
        self.keys_unheard = False
        """The call's keys went unheard before its decision: it is not recorded."""
        self.outcome = ""
        self.customer_up = False
        self.customer_gone = False
        self.agent_gone = False
        self._tone_id = f"rc-{call_id}-t1"
        self._tone_playing = False
        self.notice = Announcement(
            call_id=call_id,
            service=service,
            caller_id=self.customer_channel_id,
            caller_hash=customer_hash,
            log_prefix=self._prefix,
        )
        self.rec = RecordingControl(
            call_id=call_id,
            bridge_id=self.bridge_id,
            fmt=settings.recording_format,
            retention_days=service.retention_days,
            pause_settings=service.pause,
            rng=rng,
            log_prefix=self._prefix,
            snapshot=recording,
        )
        self.talk = Conversation(
            call_id=call_id,
            service=service,
            settings=settings,
            caller_id=self.customer_channel_id,
            agent_channel_id=agent_channel.id,
            bridge_id=self.bridge_id,
            recording=self.rec,
            rng=rng,
            log_prefix=self._prefix,
        )
        self.talk.agent = agent

    # -- helpers ---------------------------------------------------------------------
    @property
    def _prefix(self) -> str:
        return f"call {self.call_id} ({self.service.name}, outbound)"

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.agent_channel_id, self.customer_channel_id)

    @property
    def agent(self) -> Agent | None:
        return self.talk.agent

    @property
    def agent_originated(self) -> bool:
        """The agent placed this call: their leg exists from the start, so a resync may
        judge it (an inbound call's agent leg may not be dialled yet)."""
        return True

    @property
    def _recording_may_restart(self) -> bool:
        """A lost recording may be tried again: both parties still talking, bridged,
        no payment under way (its pause must not be bypassed by a new file)."""
        return (
            self.phase is Phase.CONNECTED
            and self.talk.payment is None
            and not (self.customer_gone or self.agent_gone)
        )

    @property
    def unanswered_leg(self) -> str | None:
        """The leg dialled for this call that has not answered yet, if any."""
        dialling = self.phase is Phase.DIALING and not self.customer_up
        return self.customer_channel_id if dialling else None

    @property
    def awaited_playbacks(self) -> tuple[str, ...]:
        """Playbacks whose end the call waits for to go on."""
        waiting = self.phase in (Phase.ANNOUNCING, Phase.FULL_NOTICE)
        playback = self.notice.playback_id
        return ((playback,) if waiting and playback else ()) + self.talk.awaited_playbacks()

    @property
    def objected(self) -> bool:
        return self.notice.objected

    @property
    def notice_completed(self) -> bool:
        """The customer heard the announcement, or the agent confirmed the notice."""
        return self.notice.completed

    @property
    def recording(self) -> Recording | None:
        return self.rec.recording

    @property
    def payment(self) -> PaymentLeg | None:
        return self.talk.payment

    @property
    def private(self) -> bool:
        return self.talk.private

    def _log(self, message: str, level: str = "info") -> c.Log:
        return c.Log(level, f"{self._prefix}: {message}")

    # -- entry -----------------------------------------------------------------------
    def start(self, now: dt.datetime) -> list[c.Command]:
        commands: list[c.Command] = [
            c.BeginCall(
                CallStart(
                    self.call_id,
                    self.service.name,
                    "outbound",
                    now,
                    self.customer_hash,
                    self.agent_channel_id,
                ),
                self.service.announcement.version,
            )
        ]
        if self._number is None:
            self.outcome = "invalid_number"
            return [
                *commands,
                self._log("the dialled number is not a phone number; nothing dialled", "warning"),
                c.Hangup(self.agent_channel_id, _AGENT_HANGUP["invalid_number"]),
                *self._end(),
            ]
        if self.customer_hash:
            commands.append(c.LookupObjection(self.customer_hash))
        return [
            *commands,
            c.Ring(self.agent_channel_id),
            c.Originate(
                endpoint=self.outbound.endpoint(self._number),
                channel_id=self.customer_channel_id,
                app_args=f"customer,{self.call_id}",
                ring_timeout=self.outbound.ring_timeout + RING_SLACK_SECONDS,
                originator=self.agent_channel_id,
                caller_id=self.outbound.caller_id or None,
            ),
            c.StartTimer(CUSTOMER_TIMER, self.outbound.ring_timeout),
            self._log("dialling the customer"),
        ]

    def handle(self, message: m.Message, now: dt.datetime) -> list[c.Command]:
        if self.phase is Phase.ENDED:
            return []
        match message:
            case m.Dtmf(channel_id=channel_id, digit=digit) if (
                channel_id == self.customer_channel_id
            ):
                if self.payment is not None:
                    # In the payment IVR the customer's keys are card data, nothing else.
                    return self._after_leg(self.payment.key(digit, now))
                return self._customer_key(digit, now)
            case m.Dtmf(channel_id=channel_id, digit=digit, received=received) if (
                channel_id == self.agent_channel_id
            ):
                return self._agent_key(digit, received, now)
            case m.ObjectionKnown(objected=objected):
                self.remembered_objection = objected
                return self.maybe_decide(now)
            case m.CustomerAnswered(channel=channel):
                return self._customer_answered(channel, now)
            case m.PlaybackDone(playback_id=playback_id, failed=failed):
                if playback_id == self.notice.playback_id:
                    return self._playback_done(failed, now)
                if self.payment is not None:
                    if self.payment.is_result(playback_id):
                        return self._return_from_payment(now)
                    return self._after_leg(self.payment.prompt_finished(playback_id, now))
                return []
            case m.PaymentDetails(amount=amount, order_reference=order):
                return self.talk.payment_details(amount, order, now)
            case m.PaymentRequested(amount=amount, order_reference=order):
                if self.payment_refusal() is not None:
                    return []
                started = self.talk.start_payment(now, None, fetch=False)
                return started + self.talk.payment_details(amount, order, now)
            case m.PaymentDone(result=result):
                return self._after_leg(self.talk.payment_done(result, now))
            case m.ChannelGone(channel_id=channel_id, cause=cause, lost=lost, unseen=unseen):
                if (
                    unseen
                    and channel_id == self.customer_channel_id
                    and self.phase is Phase.DIALING
                ):
                    return self._customer_lost_unseen()
                return self._channel_gone(channel_id, cause, now, lost)
            case m.RecordingStarted(name=name):
                self.rec.started(name)
                return []
            case m.RecordingEnded(name=name, failed=failed, cause=cause):
                if not self.rec.owns(name):
                    return []
                ended = self.rec.ended(failed, cause, may_retry=self._recording_may_restart)
                return ended + self._end_if_ending()
            case m.CommandFailed(command=command, error_id=error_id, status=status):
                return self._command_failed(command, error_id, status, now)
            case m.TimerFired(name=name):
                return self._timer(name, now)
            case m.KeysUnheard(since=since):
                return self._keys_unheard(since, now)
        return []

    # -- the customer answers, hears the announcement (C1-C4) ------------------------
    def _customer_answered(self, channel: Channel, now: dt.datetime) -> list[c.Command]:
        if channel.id == self.customer_channel_id and self.customer_up:
            # The same answer told twice (after a reconnect): nothing new.
            return []
        if self.phase is not Phase.DIALING:
            # Answered after the agent gave up or the timer fired: let it go.
            return [c.Hangup(channel.id)]
        self.customer_up = True
        commands: list[c.Command] = [c.CancelTimer(CUSTOMER_TIMER), c.Answer(self.agent_channel_id)]
        if self.by_agent:
            # Nothing announced by the system: the agent speaks, then confirms by key.
            self.notice.stage = Stage.OVER
            return [
                *commands,
                self._log("customer answered; the agent gives the notice"),
                *self._bridge(now),
            ]
        self.phase = Phase.ANNOUNCING
        self._tone_playing = True
        return [
            *commands,
            *self.notice.start(),
            c.Play(self.agent_channel_id, AGENT_WAIT_TONE, self._tone_id),
            self._log("customer answered; announcing"),
        ]

    def _customer_key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        if self.notice.wants_to_object(digit):
            # C2: the live recording is discarded before anything else happens.
            discarded = self.rec.discard("discarded")
            if discarded:
                discarded += self.rec.close_pause("discarded")
            # Bridged and still waiting for the agent's notice: the objection decides.
            return self.notice.object(now, discarded) + self.maybe_decide(now)
        return self.notice.notice_key(digit, now)

    def _playback_done(self, failed: bool, now: dt.datetime) -> list[c.Command]:
        if self.phase not in (Phase.ANNOUNCING, Phase.FULL_NOTICE):
            return []
        commands = self.notice.playback_done(failed)
        if self.notice.stage is Stage.FULL_NOTICE:
            self.phase = Phase.FULL_NOTICE
            return commands
        return commands + self._bridge(now)

    def _bridge(self, now: dt.datetime) -> list[c.Command]:
        self.phase = Phase.CONNECTED
        commands: list[c.Command] = []
        if self._tone_playing:
            self._tone_playing = False
            commands.append(c.StopPlayback(self._tone_id))
        who = self.agent.id if self.agent else "an agent the config does not know"
        return [
            *commands,
            c.CreateBridge(self.bridge_id),
            c.AddToBridge(self.bridge_id, self.customer_channel_id),
            c.AddToBridge(self.bridge_id, self.agent_channel_id),
            self._log("customer and agent connected"),
            self._log(f"agent: {who}", "debug"),
            *self.maybe_decide(now),
        ]

    # -- notice by the agent (C6) ----------------------------------------------------
    def _notice_given(self, key: str, now: dt.datetime) -> list[c.Command]:
        if self.notice.completed or self.objected:
            return [self.talk.feedback(False)]
        self.notice.completed = True
        version = self.service.announcement.version
        event = ConsentEvent(self.call_id, now, "notice_given", key, version, "conversation")
        return [
            c.AddConsent(event),
            self.talk.feedback(True),
            self._log("the agent confirmed the notice to the customer"),
            *self.maybe_decide(now),
        ]

    # -- decision (P1-P4, A1, A3, C4) ------------------------------------------------
    def maybe_decide(self, now: dt.datetime) -> list[c.Command]:
        """Decides once bridged, the objection lookup has answered and, for a service
        announced by its agents, the agent confirmed the notice (or the customer
        objected)."""
        if self.phase is not Phase.CONNECTED or self.verdict is not None:
            return []
        if self.remembered_objection is None:
            return []
        if self.by_agent and not self.notice.completed and not self.objected:
            return []
        self.verdict, commands = decide_and_start(
            self.call_id,
            self.service,
            self.agent,
            self.rec,
            self._log,
            announced=self.notice.completed,
            objected=self.objected,
            remembered_objection=self.remembered_objection,
            now=now,
            timezone=self.settings.timezone,
            rng=self.rng,
            staff_informed=self.settings.staff_informed,
            keys_unheard=self.keys_unheard,
        )
        return commands

    # -- the agent's keys (A2, A4, A5, M1, C6) ---------------------------------------
    def _agent_key(self, digit: str, received: float, now: dt.datetime) -> list[c.Command]:
        waiting_for_notice = self.by_agent and not self.notice.completed
        return self.talk.agent_key(
            digit,
            received,
            now,
            connected=self.phase is Phase.CONNECTED,
            payment_refusal=self.payment_refusal,
            # Until the ledger answers, and until the agent gave the notice, on-demand
            # recording is refused as if the customer objected.
            caller_objected=(
                self.objected or self.remembered_objection is not False or waiting_for_notice
            ),
            notice_given=(lambda key: self._notice_given(key, now)) if self.by_agent else None,
        )

    def _keys_unheard(self, since: dt.datetime, now: dt.datetime) -> list[c.Command]:
        """ARI events were lost from ``since``: a recording that ran meanwhile goes (see
        :meth:`Conversation.keys_unheard`); a call not decided yet is not recorded at
        all, as an opt-out key may have been pressed unheard (C2)."""
        commands = self.talk.keys_unheard(since, now, agent_present=not self.agent_gone)
        if self.verdict is None and not self.keys_unheard:
            self.keys_unheard = True
            commands.append(self._log("keys went unheard before the decision: not recorded"))
        return commands

    def payment_refusal(self) -> str | None:
        """Why this call's customer cannot go to the payment IVR now, or None."""
        with_agent = self.phase is Phase.CONNECTED and not self.customer_gone
        return self.talk.payment_refusal(caller_with_agent=with_agent)

    def _after_leg(self, commands: list[c.Command]) -> list[c.Command]:
        leg = self.payment
        out = commands + self.talk.announce_outcome(
            caller_gone=self.customer_gone, agent_gone=self.agent_gone
        )
        if leg is not None and self.payment is None:
            out += self._end_if_ending()
        return out

    def _return_from_payment(self, now: dt.datetime) -> list[c.Command]:
        if self.agent_gone:
            self.talk.payment = None
            return self._wind_down()
        return self.talk.back_with_agent()

    # -- hang-ups, outcomes and failures ---------------------------------------------
    def _channel_gone(
        self, channel_id: str, cause: int, now: dt.datetime, lost: bool
    ) -> list[c.Command]:
        if channel_id == self.customer_channel_id and not self.customer_gone:
            self.customer_gone = True
            who, other = "customer", self.agent_channel_id
        elif channel_id == self.agent_channel_id and not self.agent_gone:
            self.agent_gone = True
            who, other = "agent", self.customer_channel_id
        else:
            return []

        if self.phase is Phase.DIALING and who == "customer" and not self.customer_up:
            self.outcome = not_reached(cause)
            return [
                c.CancelTimer(CUSTOMER_TIMER),
                self._log(f"customer not reached: {self.outcome} (cause {cause})"),
                c.Hangup(self.agent_channel_id, _AGENT_HANGUP[self.outcome]),
                *self._end(),
            ]
        if self.phase in (Phase.DIALING, Phase.ANNOUNCING, Phase.FULL_NOTICE):
            self.outcome = m.CHANNELS_LOST if lost else f"{who}_hung_up"
            return [
                c.CancelTimer(CUSTOMER_TIMER),
                self._log(f"{m.gone_text(who, lost)} during the {self.phase.value}"),
                c.Hangup(other),
                *self._end(),
            ]
        if self.phase is Phase.CONNECTED:
            self.outcome = m.CHANNELS_LOST if lost else f"{who}_hung_up"
            if self.payment is not None:
                if who == "agent":
                    return [self._log("agent hung up during the payment")]
                return [
                    *self.talk.abandon_payment(now),
                    self._log("customer hung up during the payment"),
                    *self._wind_down(),
                ]
            return [self._log(m.gone_text(who, lost)), *self._wind_down()]
        if self.phase is Phase.ENDING:
            return self._end_if_settled()
        return []

    def _wind_down(self) -> list[c.Command]:
        """Stops the recording, releases both legs and the bridge."""
        self.phase = Phase.ENDING
        commands = self.rec.stop()
        if not self.customer_gone:
            commands.append(c.Hangup(self.customer_channel_id))
        if not self.agent_gone:
            commands.append(c.Hangup(self.agent_channel_id))
        commands += self.talk.stop_hold_music()
        commands.append(c.DestroyBridge(self.bridge_id))
        grace = ENDING_GRACE_SECONDS
        if self.payment is not None:
            grace += self.payment.grace_seconds
        commands.append(c.StartTimer(ENDING_TIMER, grace))
        return commands + self._end_if_settled()

    def _end_if_ending(self) -> list[c.Command]:
        return self._end_if_settled() if self.phase is Phase.ENDING else []

    def _end_if_settled(self) -> list[c.Command]:
        settled = self.customer_gone and self.agent_gone
        if self.rec.settled and settled and self.payment is None:
            return [c.CancelTimer(ENDING_TIMER), *self._end()]
        return []

    def _end(self) -> list[c.Command]:
        self.phase = Phase.ENDED
        if self.private:
            return [c.Finished()]
        agent_id = self.agent.id if self.agent else None
        outcome = self.outcome or "completed"
        return [
            c.EndCall(self.call_id, outcome, agent_id, self.notice.completed),
            c.Finished(),
        ]

    def _customer_lost_unseen(self) -> list[c.Command]:
        """The customer's leg ended while the link to ARI was down (it may have answered
        into an application with no websocket, which Asterisk hangs up): the agent's
        call goes on through the dialplan, whose fallback dials the number unrecorded."""
        self.customer_gone = True
        self.outcome = "handed_back"
        return [
            c.CancelTimer(CUSTOMER_TIMER),
            self._log(
                "the customer's leg ended while the link to ARI was down; the agent's call "
                "goes on through the dialplan, unrecorded",
                "error",
            ),
            c.ContinueInDialplan(self.agent_channel_id),
            *self._end(),
        ]

    def _command_failed(
        self, command: c.Command, error_id: str, status: int | None, now: dt.datetime
    ) -> list[c.Command]:
        match command:
            case c.StartRecording(name=name):
                return self.rec.start_failed(
                    name, error_id, status, may_retry=self._recording_may_restart
                )
            case c.Play(playback_id=playback_id) if playback_id == self.notice.playback_id:
                return self._playback_done(True, now)
            case c.Originate() if self.phase is Phase.DIALING:
                # Reccontrol could not dial: the agent's leg goes back to the dialplan,
                # whose fallback dials the number unrecorded.
                self.customer_gone = True
                self.outcome = "handed_back"
                return [
                    c.CancelTimer(CUSTOMER_TIMER),
                    self._log(
                        f"the customer could not be dialled ({error_id}); the agent's call "
                        "goes on through the dialplan, unrecorded",
                        "error",
                    ),
                    c.ContinueInDialplan(self.agent_channel_id),
                    *self._end(),
                ]
            case c.CreateBridge() | c.AddToBridge() if self.phase is Phase.CONNECTED:
                if self.customer_gone or self.agent_gone:
                    return []
                self.outcome = "bridge_failed"
                return [
                    *self.rec.discard("failed"),
                    *self.rec.close_pause("call_end"),
                    self._log(f"customer and agent could not be bridged ({error_id})", "error"),
                    *self._wind_down(),
                ]
        what = type(command).__name__
        return [self._log(f"{what} failed ({error_id} {status or ''})".strip(), "warning")]

    def _timer(self, name: str, now: dt.datetime) -> list[c.Command]:
        ours = self.talk.timer(name, now)
        if ours is not None:
            return self._after_leg(ours)
        if name == CUSTOMER_TIMER and self.phase is Phase.DIALING:
            self.outcome = "no_answer"
            return [
                self._log(f"the customer did not answer within {self.outbound.ring_timeout} s"),
                c.Hangup(self.customer_channel_id),
                c.Hangup(self.agent_channel_id, _AGENT_HANGUP["no_answer"]),
                *self._end(),
            ]
        if name == ENDING_TIMER and self.phase is Phase.ENDING:
            commands: list[c.Command] = []
            if self.payment is not None and self.payment.stage is PaymentStage.SUBMITTING:
                leg = self.payment.conclude("unknown", "", 0, "no answer before the end", now)
                commands += self._after_leg(leg)
            return [
                *commands,
                *self.rec.give_up_waiting(),
                self._log("finished without Asterisk's last events", "warning"),
                *self._end(),
            ]
        return []
