"""One call, inbound or outbound, as a pure state machine. Its opening brings the two
parties together (:mod:`~controller.calls.inbound`, :mod:`~controller.calls.outbound`);
once bridged, a call is the same whichever way it began: the decision (P1-P4, A1, A3),
the recording, only after the announcement (C1), the agent's keys and the payment
(A2, A4, A5, M1), the opt-out (C2, C4) and failures; how it ends is
:class:`~controller.calls.ending.CallEnding`'s.

Nothing here does I/O: :meth:`Call.handle` takes a message and the time and returns the
commands to carry out, in order, protective ones (discard, pause) first."""

from __future__ import annotations

import datetime as dt
import random

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.call_settings import CallSettings
from controller.calls.call_state import UNANSWERED
from controller.calls.deciding import decide_and_start
from controller.calls.ending import ENDING_TIMER
from controller.calls.keys import ArmedKeys
from controller.calls.parties import OPENING, Next, Outcome, Phase, Step, hung_up
from controller.calls.snapshot import CallSnapshot, carried_on_cast
from controller.calls.transfer import (
    CallTransfers,
    TransferAnnounced,
    TransferAnswered,
    TransferOnward,
    TransferStarted,
)
from controller.config.model import Agent
from controller.records import CallStart, Unkept

__all__ = ["ENDING_TIMER", "Call", "Phase"]

class Call(CallTransfers):
    # -- carried on after a restart (R1) ---------------------------------------------
    @classmethod
    def resumed(
        cls, snap: CallSnapshot, *, settings: CallSettings, rng: random.Random, now: dt.datetime
    ) -> tuple[Call, list[c.Command]]:
        """The call, bridged again, and what to do first. The restart was a gap in the
        events as an ARI cut is (:meth:`_keys_unheard`, the discard first): its caller
        was in the call, so its recording, live or paused, goes and nothing more of it
        is recorded (C2); then the objection is looked up again, and a call never decided
        is decided (not to record)."""
        call = cls(
            cast=carried_on_cast(snap), settings=settings, rng=rng, recording=snap.recording,
            phase=Phase.CONNECTED, agent=snap.agent, verdict=snap.verdict,
        )  # fmt: skip
        commands = call._keys_unheard(snap.heard_until or now, now)
        call.hold.music_unknown = True  # a hold may be under way: its unhold stops the music
        if snap.caller_hash:
            commands.append(c.LookupObjection(snap.caller_hash))
        commands.append(call._log("carried on after a restart"))
        call.talk.whisper.carried_on(now)
        return call, call._whisper_kept(commands + call.maybe_decide(now))

    # -- entry -----------------------------------------------------------------------
    def start(self, now: dt.datetime) -> list[c.Command]:
        call = (self.call_id, self.service.name, self.direction)
        start = CallStart(*call, now, self.caller_hash, self.opening.entry.id)
        begin = c.BeginCall(start, self.service.announcement.version)
        lookup: list[c.Command] = [c.LookupObjection(self.caller_hash)] if self.caller_hash else []
        return self._apply(self.opening.begin(begin, lookup), now)

    armed: ArmedKeys[c.PauseRecording] | None = None
    """Worked out after each key of the agent, forgotten at any other message: what
    :meth:`protective_key` answers for their next key, read at once."""

    def handle(self, message: m.Message, now: dt.datetime) -> list[c.Command]:
        self.armed = None
        if self.phase is Phase.ENDED:
            return []
        whispered = self.talk.whisper.handle(message)
        commands = self._whisper_kept(
            whispered if whispered is not None else self._heard(message, now)
        )
        if isinstance(message, m.Dtmf) and self._may_pause_first(message.channel_id):
            self.armed = self.talk.armed(message.channel_id, message.received)
        return commands

    def protective_key(
        self, channel_id: str, digit: str, received: float
    ) -> c.PauseRecording | None:
        """The pause :meth:`handle` would return first for the key ``Dtmf(channel_id,
        digit, received)``, changing nothing; None if it would return anything else
        first. The router may send it before the key is handled (the hot path):
        :meth:`handle` then returns it all the same.

        Only the agent's pause and card keys on a bridged call with its recording live,
        and never while a supervisor listens: the listening's cut leaves first (S8)."""
        armed = self.armed
        if armed is not None and armed.holds(channel_id, received):
            return armed.requests.get(digit)
        if not self._may_pause_first(channel_id):
            return None
        return self.talk.protective_key(digit, received)

    def _may_pause_first(self, channel_id: str) -> bool:
        return (
            self.phase is Phase.CONNECTED
            and channel_id == self.agent_leg.id
            and channel_id != self.caller.id
            and self.listening.session is None
        )

    def _whisper_kept(self, commands: list[c.Command]) -> list[c.Command]:
        """A10: the whisper of the agent's tones follows the agent's channel while the
        agent is bridged, and is cut, before the call is finished, once they left."""
        agent = self.agent_leg
        present = self.phase is Phase.CONNECTED and agent.up and not agent.gone
        kept = self.talk.whisper.keep(agent.id if present else None)
        if not kept:
            return commands
        at = next((i for i, x in enumerate(commands) if isinstance(x, c.Finished)), len(commands))
        return [*commands[:at], *kept, *commands[at:]]

    def _heard(self, message: m.Message, now: dt.datetime) -> list[c.Command]:
        own = self.listening.handle(message)
        if own is not None:
            return self._still_listened(own, now)
        if isinstance(message, m.ListenRequested):
            refusal = self.listen_refusal(now)
            why = refusal.value if refusal is not None else None
            return self.listening.start(message.person_id, message.phone, why)
        # A9: whatever the message did, a hold in force keeps its music and pause.
        commands = self._handle(message, now) + self.hold.keep(now, with_caller=self._with_caller)
        return self._still_listened(commands, now)

    def _still_listened(self, commands: list[c.Command], now: dt.datetime) -> list[c.Command]:
        """S8: the listening stops at once when the call turns private, paused or
        payment, or ends: its snoop's cut leaves first, beside the protective commands
        (discard, pause), which it does not hold up; the rest after them."""
        refusal = self.listen_refusal(now) if self.listening.session is not None else None
        if refusal is None:
            return commands
        cut, *rest = self.listening.stop(refusal.value)
        protective = (c.CancelRecording, c.PauseRecording)
        at = next((i for i, x in enumerate(commands) if not isinstance(x, protective)), None)
        at = len(commands) if at is None else at
        return [cut, *commands[:at], *rest, *commands[at:]]

    def _handle(self, message: m.Message, now: dt.datetime) -> list[c.Command]:
        match message:
            case m.Dtmf(channel_id=channel_id, digit=digit) if channel_id == self.caller.id:
                if self.payment is not None:
                    # In the payment IVR the caller's keys are card data, nothing else.
                    return self._after_leg(self.payment.key(digit, now))
                return self._caller_key(digit, now)
            case m.Dtmf(channel_id=channel_id, digit=digit, received=received) if (
                channel_id == self.agent_leg.id
            ):
                return self._agent_key(digit, received, now)
            case m.ObjectionKnown(objected=objected):
                self.remembered_objection = objected
                return self.maybe_decide(now)
            case m.AgentAnswered(channel=channel) | m.CustomerAnswered(channel=channel) if (
                isinstance(message, self.opening.answers)
            ):
                agent = message.agent if isinstance(message, m.AgentAnswered) else self.agent
                return self._answered(channel.id, agent, now)
            case m.PlaybackDone(playback_id=playback_id, failed=failed):
                if playback_id == self.playback_id:
                    return self._playback_done(failed, now)
                if self.payment is not None:
                    if self.payment.is_result(playback_id):
                        return self._return_from_payment()
                    return self._after_leg(self.payment.prompt_finished(playback_id, now))
                return []
            case m.PaymentDetails() | m.PaymentRequested() | m.PaymentDone():
                return self._after_leg(self.talk.on_payment(message, now, self.payment_refusal))
            case m.Hold() if self.phase is Phase.CONNECTED:
                return self.hold.changed(message, now, with_caller=self._with_caller)
            case m.ChannelGone(channel_id=channel_id, cause=cause, lost=lost, unseen=unseen):
                return self._channel_gone(channel_id, cause, lost, unseen, now)
            case m.RecordingStarted(name=name):
                self.rec.started(name)
                return []
            case m.RecordingEnded(name=name, failed=failed, cause=cause):
                if not self.rec.owns(name):
                    return []
                earlier = self.rec.earlier_ended(name, failed)  # a transferred agent's (R3)
                if earlier is not None:
                    return earlier + self._end_if_ending()
                may_retry = self._recording_may_restart
                ended = self.rec.ended(failed, cause, may_retry=may_retry, name=name)
                return ended + self._end_if_ending()
            case m.CommandFailed(command=command, error_id=error_id, status=status):
                return self._command_failed(command, error_id, status, now)
            case m.TimerFired(name=name):
                return self._timer(name, now)
            case m.KeysUnheard(since=since):
                return self._keys_unheard(since, now)
            case TransferAnnounced() | TransferStarted() | TransferAnswered() | TransferOnward():
                return self.transfer_message(message, now)
        return []

    def _apply(self, step: Step, now: dt.datetime) -> list[c.Command]:
        """Carries out what the opening answered."""
        if step.phase is not None:
            self.phase = step.phase
        if step.outcome is not None:
            self.outcome = step.outcome
        match step.next:
            case Next.BRIDGE:
                return step.commands + self._bridge(now)
            case Next.END:
                return step.commands + self._end()
            case Next.HAND_BACK:
                return step.commands + self._hand_back(step.why)
        return step.commands

    # -- the announced party: announcement and keys (C1-C4) --------------------------
    def _caller_key(self, digit: str, now: dt.datetime) -> list[c.Command]:
        if self.notice.wants_to_object(digit):
            # C2: the live recording is discarded before anything else happens.
            discarded = self.rec.discard(c.Closed.DISCARDED)
            if discarded:
                discarded += self.rec.close_pause(c.PauseEnd.DISCARDED)
            # Then, once past the announcement (before its end nothing was recorded, C1),
            # what of the call is already in the vault goes too, behind the ledger's
            # write of the objection: an earlier segment, a recording that ended.
            vaulted = (
                [c.DeleteUnkeptAudio(self.call_id, Unkept.OBJECTED)] if self.notice.over else []
            )
            objected = self.notice.object(now, discarded) + vaulted
            # Bridged and still waiting for the agent's notice: the objection decides.
            return objected + self.maybe_decide(now)
        return self.notice.notice_key(digit, now)

    def _playback_done(self, failed: bool, now: dt.datetime) -> list[c.Command]:
        if self.phase in (Phase.ANNOUNCING, Phase.FULL_NOTICE):
            commands = self.notice.playback_done(failed)
            if self.notice.over:
                return commands + self._apply(self.opening.announced(), now)
            self.phase = Phase.FULL_NOTICE
            return commands
        if self.phase is Phase.NO_AGENT:
            hangup = [] if self.caller.gone else [c.Hangup(self.caller.id)]
            return [*hangup, *self._end()]
        return []

    # -- the parties meet ------------------------------------------------------------
    def _answered(self, leg_id: str, agent: Agent | None, now: dt.datetime) -> list[c.Command]:
        leg = self._dialled_leg
        if leg_id == leg.id and leg.up:
            # The same answer told twice (after a reconnect): nothing new.
            return []
        if self.phase is not Phase.DIALING:
            # Answered too late (the other party left or the timer fired): let it go.
            return [c.Hangup(leg_id)]
        if self.opening.dials_agent:
            self.agent_leg = leg.answered()
            self.talk.meet(agent)
        else:
            self.caller = leg.answered()
        return self._apply(self.opening.answered(), now)

    def _bridge(self, now: dt.datetime) -> list[c.Command]:
        self.phase = Phase.CONNECTED
        who = self.agent.id if self.agent else "an agent the config does not know"
        return [
            c.CreateBridge(self.bridge_id),
            c.AddToBridge(self.bridge_id, self.caller.id),
            c.AddToBridge(self.bridge_id, self.agent_leg.id),
            *self.opening.connected_logs(who),
            *self.maybe_decide(now),
        ]

    # -- decision (P1-P4, A1, A3, C4, C6) --------------------------------------------
    def maybe_decide(self, now: dt.datetime) -> list[c.Command]:
        """Decides once bridged, the objection lookup has answered and, for a service
        announced by its agents, the agent confirmed the notice (or the person
        objected)."""
        if self.phase is not Phase.CONNECTED or self.verdict is not None:
            return []
        notice, remembered = self.notice, self.remembered_objection
        if remembered is None or (self.opening.notice_by_agent and not notice.over_by_agent):
            return []
        self.verdict, commands = decide_and_start(
            self.call_id, self.service, self.agent, self.rec, self._log,
            announced=notice.completed, objected=notice.objected, remembered_objection=remembered,
            now=now, timezone=self.settings.timezone, rng=self.rng, keys_unheard=self.keys_unheard,
            staff_informed=self.settings.staff_informed,
        )  # fmt: skip
        return commands

    # -- the agent's keys (A2, A4, A5, M1, C6) ---------------------------------------
    def _agent_key(self, digit: str, received: float, now: dt.datetime) -> list[c.Command]:
        by_agent = self.opening.notice_by_agent
        return self.talk.agent_key(
            digit,
            received,
            now,
            connected=self.phase is Phase.CONNECTED,
            payment_refusal=self.payment_refusal,
            # Until the ledger answers, and until the agent gave the notice, on-demand
            # recording is refused as if the person objected; and for good once the
            # caller's keys went unheard: an objection may have been lost (C2).
            caller_objected=self.objection_assumed,
            notice_given=(lambda key: self._notice_given(key, now)) if by_agent else None,
        )

    def _notice_given(self, key: str, now: dt.datetime) -> list[c.Command]:
        return self.talk.notice_given(self.notice, key, now) + self.maybe_decide(now)

    def _keys_unheard(self, since: dt.datetime, now: dt.datetime) -> list[c.Command]:
        """Events were lost from ``since`` (an ARI cut, or the daemon down): the caller
        may have pressed the opt-out key unheard. On the safe side of C2, once that
        happened while the caller was in the call, the call keeps no audio: a recording
        live or paused goes (see :meth:`Conversation.keys_unheard`), and nothing is
        recorded afterwards, not on demand, not in a later segment after a transfer
        (R3). A call not decided yet is not recorded at all either, wherever its caller
        was."""
        caller_in_call = self.caller.up and not self.caller.gone
        present = self.agent_leg.up and not self.agent_leg.gone
        commands = self.talk.keys_unheard(
            since, now, agent_present=present, caller_unheard=caller_in_call
        )
        if (caller_in_call or self.verdict is None) and not self.keys_unheard:
            self.keys_unheard = True
            when = "before the decision" if self.verdict is None else "during the call"
            commands.append(self._log(f"keys went unheard {when}: nothing more is recorded"))
        return commands

    # -- payment (M1) ----------------------------------------------------------------
    def payment_refusal(self) -> str | None:
        """Why the announced party cannot go to the payment IVR now, or None."""
        if self.hold.held:
            return "the agent has the call on hold"
        with_agent = self.phase is Phase.CONNECTED and not self.caller.gone
        return self.talk.payment_refusal(caller_with_agent=with_agent)

    def _after_leg(self, commands: list[c.Command]) -> list[c.Command]:
        """The payment's outcome, once known, to the caller; a caller gone ends it."""
        leg = self.payment
        out = commands + self.talk.announce_outcome(
            caller_gone=self.caller.gone, agent_gone=self.agent_leg.gone
        )
        if leg is not None and self.payment is None:
            out += self._end_if_ending()
        return out

    def _return_from_payment(self) -> list[c.Command]:
        if self.agent_leg.gone:
            self.talk.drop_payment()
            return self._wind_down()
        return self.talk.back_with_agent()

    # -- hang-ups and failures -------------------------------------------------------
    def _channel_gone(
        self, channel_id: str, cause: int, lost: bool, unseen: bool, now: dt.datetime
    ) -> list[c.Command]:
        who = self._leg_gone(channel_id)
        if who is None:
            return []
        if self.phase in OPENING:
            step = self.opening.gone(self._view(), who == "agent", cause, lost, unseen)
            return self._apply(step, now)
        if self.phase is Phase.CONNECTED:
            self.outcome = hung_up(who, lost)
            if self.payment is None:
                return [self._log(m.gone_text(who, lost)), *self._wind_down()]
            if who == "agent" and not self.payment.with_agent:
                # The caller is in the payment IVR: let them finish, then end.
                return [self._log("agent hung up during the payment")]
            return [
                *self.talk.abandon_payment(now, who),
                self._log(f"{who} hung up during the payment"),
                *self._wind_down(),
            ]
        return self._end_if_ending()

    @property
    def _recording_may_restart(self) -> bool:
        """Both still talking, bridged, no payment (whose pause a new file would skip)."""
        gone = self.caller.gone or self.agent_leg.gone
        return self.phase is Phase.CONNECTED and self.payment is None and not gone

    def _command_failed(
        self, command: c.Command, error_id: str, status: int | None, now: dt.datetime
    ) -> list[c.Command]:
        match command:
            case c.StartRecording(name=name):
                may_retry = self._recording_may_restart
                return self.rec.start_failed(name, error_id, status, may_retry=may_retry)
            case c.Play(playback_id=playback_id) if playback_id == self.playback_id:
                return self._playback_done(True, now)
            case c.Originate() if self.phase is Phase.DIALING and error_id == UNANSWERED:
                # No refusal: a loaded Asterisk may dial the leg seconds later, and handing
                # back now would ring a phone for a call that is over. The call waits,
                # under the dial timer started with the dialling.
                self.dial_unconfirmed = True
                why = f"dialling the {self.dialled_role} got no answer from Asterisk in time"
                return [self._log(f"{why}; waiting for its leg", c.Level.WARNING)]
            case c.Originate() if self.phase is Phase.DIALING:
                who = self._leg_gone(self._dialled_leg.id)
                return self._hand_back(f"the {who} could not be dialled ({error_id})")
            case c.CreateBridge() | c.AddToBridge() if self.phase is Phase.CONNECTED:
                return self._unbridged(command, error_id)
            case c.Answer(channel_id=channel_id) if (
                self.phase is Phase.ANNOUNCING and self._leg_gone(channel_id) is not None
            ):
                self.outcome = Outcome.ANSWER_FAILED
                return [self._log(f"could not answer ({error_id})", c.Level.ERROR), *self._end()]
        what = type(command).__name__
        return [self._log(f"{what} failed ({error_id} {status or ''})".strip(), c.Level.WARNING)]

    def _unbridged(self, command: c.CreateBridge | c.AddToBridge, error_id: str) -> list[c.Command]:
        why = f"{self.opening.role} and agent could not be bridged ({error_id})"
        if self.opening.hands_back_unbridged:
            added = command.channel_id if isinstance(command, c.AddToBridge) else None
            return [] if added == self.caller.id and self.caller.gone else self._hand_back(why)
        if self.caller.gone or self.agent_leg.gone:
            return []
        self.outcome = Outcome.BRIDGE_FAILED
        return [
            *self.rec.discard(c.Closed.FAILED),
            *self.rec.close_pause(c.PauseEnd.CALL_END),
            self._log(why, c.Level.ERROR),
            *self._wind_down(),
        ]

    def _timer(self, name: str, now: dt.datetime) -> list[c.Command]:
        ours = self.hold.outlasted(name) or self.talk.timer(name, now)
        if ours is not None:
            return self._after_leg(ours)
        transferer = self.transfer_timer(name)
        if transferer is not None:
            return transferer
        if self.dial_unconfirmed and self.phase is Phase.DIALING:
            if name == self.opening.dial_timer():  # the leg never showed: dialling failed
                return self._hand_back(f"the {self.dialled_role} could not be dialled")
        if self.phase in OPENING:
            step = self.opening.timer(name, self._view())
            return self._apply(step, now) if step is not None else []
        if name == ENDING_TIMER and self.phase is Phase.ENDING:
            late = self.talk.unanswered_payment(now)
            return [
                *(self._after_leg(late) if late else []),
                *self.rec.give_up_waiting(),
                self._log("finished without Asterisk's last events", c.Level.WARNING),
                *self._end(),
            ]
        return []
