"""The inbound call flow as a pure state machine.

announcement (C1) -> agent dialled -> caller and agent bridged -> decision (P1-P4, A1,
A3) -> recording, only after the announcement -> hang-up and clean finish. While
bridged, the agent's keys start (A4), pause and resume (A5) the recording, make the
call private (A2) or send the caller to the payment IVR (M1).

This class coordinates the dialling, the bridge and the hang-ups. What the caller
hears first belongs to an :class:`~controller.calls.announcement.Announcement`, the
recording and its pauses to a :class:`~controller.calls.recording.RecordingControl`,
the agent's keys and the payment hand-off to a
:class:`~controller.calls.conversation.Conversation`.

Nothing here does I/O. :meth:`InboundCall.handle` takes a message and the time and
returns the commands to carry out, in order. Protective commands (discarding or
pausing a recording) always come first in their batch.
"""

from __future__ import annotations

import datetime as dt
import random
from enum import StrEnum

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.announcement import Announcement, Stage
from controller.calls.conversation import CallSettings, Conversation
from controller.calls.deciding import decide_and_start
from controller.calls.payment import PaymentLeg
from controller.calls.payment import Stage as PaymentStage
from controller.calls.recording import Recording, RecordingControl, RecordingSnapshot
from controller.config.model import Agent, Service
from controller.policy import Verdict
from controller.store.records import CallStart

__all__ = ["AGENT_TIMER", "ENDING_TIMER", "CallSettings", "InboundCall", "Phase"]

AGENT_TIMER = "agent-answer"
ENDING_TIMER = "ending"
# How long to wait for Asterisk's last events (RecordingFinished, StasisEnd) once a
# call is over, before finishing anyway.
ENDING_GRACE_SECONDS = 10.0
# Extra time over the service's answer timeout, in case the originated channel's own
# timeout event is lost.
AGENT_TIMER_SLACK_SECONDS = 5.0


class Phase(StrEnum):
    ANNOUNCING = "announcing"
    FULL_NOTICE = "full_notice"
    DIALING = "dialing"
    NO_AGENT = "no_agent"
    CONNECTED = "connected"
    ENDING = "ending"
    ENDED = "ended"


class InboundCall:
    def __init__(
        self,
        *,
        call_id: str,
        service: Service,
        caller: Channel,
        caller_hash: str | None,
        settings: CallSettings,
        rng: random.Random,
        recording: RecordingSnapshot | None = None,
    ) -> None:
        self.call_id = call_id
        self.service = service
        self.caller = caller
        self.caller_hash = caller_hash
        self._settings = settings
        self.rng = rng
        self.phase = Phase.ANNOUNCING
        self.bridge_id = f"rc-{call_id}"
        self.agent_channel_id = f"rc-{call_id}-agent"
        self.agent_channel_up = False
        self.agent_originated = False
        self.remembered_objection: bool | None = None if caller_hash else False
        self.verdict: Verdict | None = None
        self.keys_unheard = False
        """The call's keys went unheard before its decision: it is not recorded."""
        self.outcome = ""
        self.caller_gone = False
        self.agent_gone = False
        self.notice = Announcement(
            call_id=call_id,
            service=service,
            caller_id=caller.id,
            caller_hash=caller_hash,
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
            caller_id=caller.id,
            agent_channel_id=self.agent_channel_id,
            bridge_id=self.bridge_id,
            recording=self.rec,
            rng=rng,
            log_prefix=self._prefix,
        )

    # -- helpers ---------------------------------------------------------------------
    @property
    def _prefix(self) -> str:
        return f"call {self.call_id} ({self.service.name})"

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.caller.id, self.agent_channel_id)

    @property
    def playback_id(self) -> str:
        """The caller's playback the call waits for."""
        return self.notice.playback_id

    @property
    def unanswered_leg(self) -> str | None:
        """The leg dialled for this call that has not answered yet, if any."""
        return self.agent_channel_id if self.phase is Phase.DIALING else None

    @property
    def awaited_playbacks(self) -> tuple[str, ...]:
        """Playbacks whose end the call waits for to go on."""
        waiting = (Phase.ANNOUNCING, Phase.FULL_NOTICE, Phase.NO_AGENT)
        notice = (self.playback_id,) if self.phase in waiting and self.playback_id else ()
        return notice + self.talk.awaited_playbacks()

    @property
    def objected(self) -> bool:
        return self.notice.objected

    @property
    def announcement_completed(self) -> bool:
        return self.notice.completed

    @property
    def recording(self) -> Recording | None:
        return self.rec.recording

    @property
    def agent(self) -> Agent | None:
        return self.talk.agent

    @property
    def payment(self) -> PaymentLeg | None:
        return self.talk.payment

    @property
    def private(self) -> bool:
        return self.talk.private

    @property
    def settings(self) -> CallSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: CallSettings) -> None:
        self._settings = settings
        self.talk.settings = settings

    def _log(self, message: str, level: str = "info") -> c.Log:
        return c.Log(level, f"{self._prefix}: {message}")

    def _agent_id(self) -> str | None:
        return self.agent.id if self.agent else None

    # -- entry -----------------------------------------------------------------------
    def start(self, now: dt.datetime) -> list[c.Command]:
        commands: list[c.Command] = [
            c.Answer(self.caller.id),
            c.BeginCall(
                CallStart(
                    self.call_id,
                    self.service.name,
                    "inbound",
                    now,
                    self.caller_hash,
                    self.caller.id,
                ),
                self.service.announcement.version,
            ),
        ]
        if self.caller_hash:
            commands.append(c.LookupObjection(self.caller_hash))
        return commands + self.notice.start()

    def handle(self, message: m.Message, now: dt.datetime) -> list[c.Command]:
        if self.phase is Phase.ENDED:
            return []
        match message:
            case m.Dtmf(channel_id=channel_id, digit=digit) if channel_id == self.caller.id:
                if self.payment is not None:
                    # In the payment IVR the caller's keys are card data, nothing else.
                    return self._after_leg(self.payment.key(digit, now))
                return self._caller_key(digit, now)
            case m.Dtmf(channel_id=channel_id, digit=digit, received=received) if (
                channel_id == self.agent_channel_id
            ):
                return self._agent_key(digit, received, now)
            case m.ObjectionKnown(objected=objected):
                self.remembered_objection = objected
                return self.maybe_decide(now)
            case m.PlaybackDone(playback_id=playback_id, failed=failed):
                if playback_id == self.playback_id:
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
            case m.AgentAnswered(channel=channel, agent=agent):
                return self._agent_answered(channel, agent, now)
            case m.ChannelGone(channel_id=channel_id, lost=lost, unseen=unseen):
                return self._channel_gone(channel_id, now, lost, unseen)
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

    # -- announcement and caller keys (C1-C4) ----------------------------------------
    def _caller_key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        if self.notice.wants_to_object(digit):
            # C2: the live recording is discarded before anything else happens.
            discarded = self.rec.discard("discarded")
            if discarded:
                discarded += self.rec.close_pause("discarded")
            return self.notice.object(now, discarded)
        return self.notice.notice_key(digit, now)

    def _playback_done(self, failed: bool, now: dt.datetime) -> list[c.Command]:
        if self.phase in (Phase.ANNOUNCING, Phase.FULL_NOTICE):
            commands = self.notice.playback_done(failed)
            if self.notice.stage is Stage.FULL_NOTICE:
                self.phase = Phase.FULL_NOTICE
                return commands
            return commands + self._dial()
        if self.phase is Phase.NO_AGENT:
            hangup = [] if self.caller_gone else [c.Hangup(self.caller.id)]
            return [*hangup, *self._end()]
        return []

    # -- agent -----------------------------------------------------------------------
    def _dial(self) -> list[c.Command]:
        self.phase = Phase.DIALING
        self.agent_originated = True
        return [
            c.Ring(self.caller.id),
            c.Originate(
                endpoint=self.service.target,
                channel_id=self.agent_channel_id,
                app_args=f"agent,{self.call_id}",
                ring_timeout=self.service.answer_timeout,
                originator=self.caller.id,
                caller_id=self.caller.caller.number or None,
            ),
            c.StartTimer(AGENT_TIMER, self.service.answer_timeout + AGENT_TIMER_SLACK_SECONDS),
        ]

    def _agent_answered(
        self, channel: Channel, agent: Agent | None, now: dt.datetime
    ) -> list[c.Command]:
        if channel.id == self.agent_channel_id and self.agent_channel_up:
            # The same answer told twice (after a reconnect): nothing new.
            return []
        if self.phase is not Phase.DIALING:
            # Answered too late (the caller left or the timer fired): let it go.
            return [c.Hangup(channel.id)]
        self.phase = Phase.CONNECTED
        self.talk.agent = agent
        self.agent_channel_up = True
        # Which agent took the call stays out of the normal log: the call may yet turn
        # out to be private (A2).
        who = agent.id if agent else "an agent the config does not know"
        return [
            c.CancelTimer(AGENT_TIMER),
            c.CreateBridge(self.bridge_id),
            c.AddToBridge(self.bridge_id, self.caller.id),
            c.AddToBridge(self.bridge_id, channel.id),
            self._log("connected to the agent"),
            self._log(f"connected to {who}", "debug"),
            *self.maybe_decide(now),
        ]

    def _no_agent(self, why: str) -> list[c.Command]:
        self.phase = Phase.NO_AGENT
        self.outcome = "no_agent"
        commands: list[c.Command] = [c.CancelTimer(AGENT_TIMER)]
        if not self.agent_gone:
            commands.append(c.Hangup(self.agent_channel_id))
        commands.append(self._log(f"no agent answered ({why}); nothing recorded", "warning"))
        commands.append(self.notice.play(self.service.no_agent_sound))
        return commands

    # -- decision (P1-P4, A1, A3) ----------------------------------------------------
    def maybe_decide(self, now: dt.datetime) -> list[c.Command]:
        """Decides once the agent is bridged and the objection lookup has answered."""
        if self.phase is not Phase.CONNECTED or self.verdict is not None:
            return []
        if self.remembered_objection is None:
            return []
        self.verdict, commands = decide_and_start(
            self.call_id,
            self.service,
            self.agent,
            self.rec,
            self._log,
            announced=self.announcement_completed,
            objected=self.objected,
            remembered_objection=self.remembered_objection,
            now=now,
            timezone=self.settings.timezone,
            rng=self.rng,
            staff_informed=self.settings.staff_informed,
            keys_unheard=self.keys_unheard,
        )
        return commands

    # -- hang-ups and failures -------------------------------------------------------
    def _channel_gone(
        self, channel_id: str, now: dt.datetime, lost: bool = False, unseen: bool = False
    ) -> list[c.Command]:
        if channel_id == self.caller.id and not self.caller_gone:
            self.caller_gone = True
            who = "caller"
        elif channel_id == self.agent_channel_id and not self.agent_gone:
            self.agent_gone = True
            who = "agent"
        else:
            return []

        if self.phase in (Phase.ANNOUNCING, Phase.FULL_NOTICE, Phase.DIALING):
            if who == "agent":
                if self.phase is Phase.DIALING and unseen:
                    # It may have answered into an application with no websocket, which
                    # Asterisk hangs up: the caller goes on through the dialplan.
                    return self._hand_back("the agent's leg ended while the link to ARI was down")
                if self.phase is Phase.DIALING:
                    return self._no_agent("the agent channel ended before answering")
                return []
            self.outcome = m.CHANNELS_LOST if lost else "caller_hung_up"
            commands: list[c.Command] = [
                self._log(f"{m.gone_text('caller', lost)} during the {self.phase.value}")
            ]
            if self.phase is Phase.DIALING:
                commands[:0] = [c.Hangup(self.agent_channel_id), c.CancelTimer(AGENT_TIMER)]
            return commands + self._end()
        if self.phase is Phase.NO_AGENT:
            return self._end() if who == "caller" else []
        if self.phase is Phase.CONNECTED:
            self.outcome = m.CHANNELS_LOST if lost else f"{who}_hung_up"
            if self.payment is not None:
                if who == "agent":
                    # The caller is in the payment IVR: let them finish, then end.
                    return [self._log("agent hung up during the payment")]
                return [
                    *self.talk.abandon_payment(now),
                    self._log("caller hung up during the payment"),
                    *self._wind_down(now),
                ]
            return [self._log(m.gone_text(who, lost)), *self._wind_down(now)]
        if self.phase is Phase.ENDING:
            return self._end_if_settled()
        return []

    def _wind_down(self, now: dt.datetime) -> list[c.Command]:
        """Stops the recording, releases both channels and the bridge."""
        del now
        self.phase = Phase.ENDING
        commands = self.rec.stop()
        if not self.caller_gone:
            commands.append(c.Hangup(self.caller.id))
        if self.agent_channel_up and not self.agent_gone:
            commands.append(c.Hangup(self.agent_channel_id))
        # Seen on Asterisk 22: a recorded bridge still playing hold music outlives
        # DELETE /bridges. Stopping the music first lets it go.
        commands += self.talk.stop_hold_music()
        commands.append(c.DestroyBridge(self.bridge_id))
        grace = ENDING_GRACE_SECONDS
        if self.payment is not None:
            # A payment already sent: wait for the API's answer so it reaches the store.
            grace += self.payment.grace_seconds
        commands.append(c.StartTimer(ENDING_TIMER, grace))
        return commands + self._end_if_settled()

    def _end_if_ending(self) -> list[c.Command]:
        return self._end_if_settled() if self.phase is Phase.ENDING else []

    def _end_if_settled(self) -> list[c.Command]:
        channels_settled = self.caller_gone and (self.agent_gone or not self.agent_channel_up)
        if self.rec.settled and channels_settled and self.payment is None:
            return [c.CancelTimer(ENDING_TIMER), *self._end()]
        return []

    def _end(self) -> list[c.Command]:
        self.phase = Phase.ENDED
        if self.private:
            # The call's rows are gone; only the count remains (A2).
            return [c.Finished()]
        outcome = self.outcome or "completed"
        end = c.EndCall(self.call_id, outcome, self._agent_id(), self.announcement_completed)
        return [end, c.Finished()]

    @property
    def _recording_may_restart(self) -> bool:
        """A lost recording may be tried again: both parties still talking, bridged,
        no payment under way (its pause must not be bypassed by a new file)."""
        return (
            self.phase is Phase.CONNECTED
            and self.payment is None
            and not (self.caller_gone or self.agent_gone)
        )

    def _command_failed(
        self, command: c.Command, error_id: str, status: int | None, now: dt.datetime
    ) -> list[c.Command]:
        match command:
            case c.StartRecording(name=name):
                return self.rec.start_failed(
                    name, error_id, status, may_retry=self._recording_may_restart
                )
            case c.Play(playback_id=playback_id) if playback_id == self.playback_id:
                return self._playback_done(True, now)
            case c.Originate():
                if self.phase is not Phase.DIALING:
                    return []
                self.agent_gone = True
                return self._hand_back(f"the agent could not be dialled ({error_id})")
            case c.CreateBridge() | c.AddToBridge() if self.phase is Phase.CONNECTED:
                if isinstance(command, c.AddToBridge) and command.channel_id == self.caller.id:
                    if self.caller_gone:
                        return []
                return self._hand_back(f"caller and agent could not be bridged ({error_id})")
            case c.Answer() if self.phase is Phase.ANNOUNCING:
                self.outcome = "answer_failed"
                self.caller_gone = True
                return [self._log(f"could not answer ({error_id})", "error"), *self._end()]
        what = type(command).__name__
        return [self._log(f"{what} failed ({error_id} {status or ''})".strip(), "warning")]

    def _hand_back(self, why: str) -> list[c.Command]:
        """Something on reccontrol's side failed: the caller goes back to the dialplan
        (its fallback reaches the agents, unrecorded) rather than being hung up. A call
        may be lost from the recording, never from the telephony."""
        commands: list[c.Command] = [
            self._log(f"{why}; the caller goes on through the dialplan, unrecorded", "error"),
            *self.rec.discard("failed"),
            *self.rec.close_pause("call_end"),
            c.CancelTimer(AGENT_TIMER),
        ]
        if self.agent_originated and not self.agent_gone:
            commands.append(c.Hangup(self.agent_channel_id))
        commands += self.talk.stop_hold_music()
        if self.phase is Phase.CONNECTED:
            commands.append(c.DestroyBridge(self.bridge_id))
        if not self.caller_gone:
            commands.append(c.ContinueInDialplan(self.caller.id))
        self.outcome = "handed_back"
        return commands + self._end()

    def _timer(self, name: str, now: dt.datetime) -> list[c.Command]:
        ours = self.talk.timer(name, now)
        if ours is not None:
            return self._after_leg(ours)
        if name == AGENT_TIMER and self.phase is Phase.DIALING:
            return self._no_agent(f"no answer within {self.service.answer_timeout} s")
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

    # -- the agent's side (A2, A4, A5, M1, M2) --------------------------------------
    def _agent_key(self, digit: str, received: float, now: dt.datetime) -> list[c.Command]:
        return self.talk.agent_key(
            digit,
            received,
            now,
            connected=self.phase is Phase.CONNECTED,
            payment_refusal=self.payment_refusal,
            # Until the objection ledger has answered, assume the caller objected.
            caller_objected=self.objected or self.remembered_objection is not False,
        )

    def _keys_unheard(self, since: dt.datetime, now: dt.datetime) -> list[c.Command]:
        """ARI events were lost from ``since``: a recording that ran meanwhile goes (see
        :meth:`Conversation.keys_unheard`); a call not decided yet is not recorded at
        all, as an opt-out key may have been pressed unheard (C2)."""
        commands = self.talk.keys_unheard(
            since, now, agent_present=self.agent_channel_up and not self.agent_gone
        )
        if self.verdict is None and not self.keys_unheard:
            self.keys_unheard = True
            commands.append(self._log("keys went unheard before the decision: not recorded"))
        return commands

    def payment_refusal(self) -> str | None:
        """Why this call cannot go to the payment IVR now, or None."""
        with_agent = self.phase is Phase.CONNECTED and not self.caller_gone
        return self.talk.payment_refusal(caller_with_agent=with_agent)

    def _after_leg(self, commands: list[c.Command]) -> list[c.Command]:
        """Once the payment's outcome is known the caller hears it; a caller already
        gone just lets the call end."""
        leg = self.payment
        out = commands + self.talk.announce_outcome(
            caller_gone=self.caller_gone, agent_gone=self.agent_gone
        )
        if leg is not None and self.payment is None:
            out += self._end_if_ending()
        return out

    def _return_from_payment(self, now: dt.datetime) -> list[c.Command]:
        if self.agent_gone:
            self.talk.payment = None
            return self._wind_down(now)
        return self.talk.back_with_agent()
