"""The agent's side of a bridged call, pure: the agent's keys (A2, A4, A5, M2) and the
payment hand-off (M1, :class:`~controller.calls.payment_handoff.PaymentHandOff`), over
the call's :class:`~controller.calls.recording.RecordingControl`.

The :class:`~controller.calls.call.Call` that owns it says when the
agent is connected and whether each party is still there; the conversation answers
with commands, the protective one first.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable

from controller.calls import commands as c
from controller.calls.announcement import Announcement
from controller.calls.call_settings import CallSettings
from controller.calls.commands import PauseReason
from controller.calls.ids import feedback_playback
from controller.calls.keys import ArmedKeys, KeyMatcher
from controller.calls.payment import IVR_TIMER, PaymentLeg
from controller.calls.payment_handoff import PaymentHandOff
from controller.calls.recording import PAUSE_TIMER, RecordingControl
from controller.calls.whisper import Whisper
from controller.config.model import Agent
from controller.config.service_model import Service
from controller.policy import on_demand_refusal
from controller.records import ConsentEvent, Unkept

PAUSE_KEYS = ("pause", "card")
"""The agent keys whose action starts with the recording's pause (A5, M2)."""


class Conversation(PaymentHandOff):
    def __init__(
        self,
        *,
        call_id: str,
        service: Service,
        settings: CallSettings,
        caller_id: str,
        agent_channel_id: str,
        bridge_id: str,
        recording: RecordingControl,
        rng: random.Random,
        log_prefix: str,
    ) -> None:
        self.call_id = call_id
        self.service = service
        self.settings = settings
        self.caller_id = caller_id
        self.agent_channel_id = agent_channel_id
        self.bridge_id = bridge_id
        self.rec = recording
        self.rng = rng
        self._log_prefix = log_prefix
        self.agent: Agent | None = None
        self.keys = KeyMatcher(
            settings.agent_keys.sequences(), settings.agent_keys.inter_digit_timeout
        )
        self.private = False
        pause = recording.pause
        self.held: str | None = pause.reason if pause is not None else None
        """The agent's pause or card key in force (its reason), whether a recording runs
        or not: nobody listens live until it ends (S8)."""
        self.payment: PaymentLeg | None = None
        self.hold_music = False
        self._feedbacks = itertools.count(1)
        self.whisper = Whisper(call_id=call_id, log_prefix=log_prefix)
        """Carries the agent's tones to the agent's phone alone (A10)."""
        self._ivr_playbacks = itertools.count(1)

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self._log_prefix}: {message}")

    def meet(self, agent: Agent | None) -> None:
        """The agent on the call is known (answered, placed the call, carried on, or
        took a transfer): their recordings carry their id (R3)."""
        self.agent = agent
        self.rec.agent_id = agent.id if agent else None

    def drop_payment(self) -> None:
        """The payment is over with nobody to hear its outcome."""
        self.payment = None

    def _paused_by(self) -> str:
        return self.agent.id if self.agent else "unknown"

    def feedback(self, ok: bool) -> c.Play:
        """A short sound to the agent only, whispered over the call (A10): the caller
        and the recording, which hear the bridge, do not hear it, and still hear the
        agent while it plays."""
        keys = self.settings.agent_keys
        return self.to_agent(keys.ok_sound if ok else keys.refused_sound)

    def to_agent(self, sound: str) -> c.Play:
        playback_id = feedback_playback(self.call_id, next(self._feedbacks))
        return self.whisper.play(self.agent_channel_id, f"sound:{sound}", playback_id)

    # -- agent keys ------------------------------------------------------------------
    def agent_key(
        self,
        digit: str,
        received: float,
        now: dt.datetime,
        *,
        connected: bool,
        payment_refusal: Callable[[], str | None],
        caller_objected: bool,
        notice_given: Callable[[str], list[c.Command]] | None = None,
    ) -> list[c.Command]:
        """``payment_refusal`` is asked only if the key sequence asks for a payment;
        ``notice_given`` (outbound calls announced by the agent, C6) gets the keys."""
        action = self.keys.feed(digit, received)
        if action is None or not connected:
            return []
        held = self._hold(action)
        if held is not None:
            return held
        return self.action(
            action,
            now,
            payment_refusal=payment_refusal,
            caller_objected=caller_objected,
            notice_given=notice_given,
        )

    def protective_key(self, digit: str, received: float) -> c.PauseRecording | None:
        """The pause :meth:`agent_key` would start with for this digit on a connected
        call, changing nothing; None if it would start with anything else. What is
        true here is what :meth:`action` checks on its way to :meth:`_pause`."""
        if self.payment is not None or self.keys.completes(digit, received) not in PAUSE_KEYS:
            return None
        return self.rec.pause_command()

    def armed(self, channel_id: str, since: float) -> ArmedKeys[c.PauseRecording] | None:
        """After a key pressed at ``since`` that left keys pending: the digits that would
        then pause, each with its pause (see :meth:`protective_key`)."""
        if not self.keys.pending:
            return None
        digits = {d for action in PAUSE_KEYS for d in self.keys.sequences.get(action, "")}
        requests = {d: p for d in digits if (p := self.protective_key(d, since)) is not None}
        timeout = self.keys.inter_digit_timeout
        return ArmedKeys(channel_id, since, timeout, requests)

    def action(
        self,
        action: str,
        now: dt.datetime,
        *,
        payment_refusal: Callable[[], str | None],
        caller_objected: bool,
        notice_given: Callable[[str], list[c.Command]] | None = None,
    ) -> list[c.Command]:
        """A completed key sequence (an ``agent_keys`` name): recognised from the digits
        here on the ARI path, named by Asterisk's feature map on the FastAGI path."""
        if self.payment is not None and action != "private":
            # While the caller is in the payment IVR the recording stays paused.
            return [self.feedback(False)]
        match action:
            case "payment":
                return self.start_payment(now, payment_refusal())
            case "pause":
                return self._pause(PauseReason.AGENT_KEY, now)
            case "card":
                return self._pause(PauseReason.CARD, now)
            case "resume":
                refusal = self.rec.resume_refusal()
                if refusal is None:
                    return self.resume(c.PauseEnd.AGENT)
                if self.rec.pause is None:
                    return [self.feedback(False)]
                return [self.feedback(False), self._log(refusal)]
            case "private":
                return self._make_private(now)
            case "start":
                return self._start_on_demand(now, caller_objected)
            case "notice_given" if notice_given is not None:
                return notice_given(self.settings.agent_keys.notice_given)
        return [
            self.feedback(False),
            self._log(f"agent key '{action}' is not available", c.Level.WARNING),
        ]

    def _hold(self, action: str) -> list[c.Command] | None:
        """The ARI path, where a supervisor may listen: the pause and card keys keep
        listeners out even with nothing recorded to pause, until the resume key (S8).
        None: the recording's pause decides, in :meth:`action`."""
        if self.payment is not None or self.private or self.rec.pause is not None:
            return None
        if action in ("pause", "card") and not self.rec.live:
            if self.held is not None:
                return [self.feedback(False)]
            self.held = PauseReason.CARD if action == "card" else PauseReason.AGENT_KEY
            why = f"paused ({self.held}) with nothing recorded: live listening refused"
            return [self.feedback(True), self._log(why)]
        if action == "resume" and self.held == PauseReason.HOLD:
            return [self.feedback(False)]  # the phone's unhold resumes a hold (A9)
        if action == "resume" and self.held is not None:
            # Also a pause whose recording was lost meanwhile: the agent lets listeners in.
            self.held = None
            return [self.feedback(True), self._log("resumed: live listening allowed again")]
        return None

    def _pause(self, reason: str, now: dt.datetime) -> list[c.Command]:
        if not self.rec.can_pause():
            return [self.feedback(False)]
        self.held = reason
        return [
            # First: nothing the agent says after the key may reach the file.
            *self.rec.pause_for(reason, self._paused_by(), now),
            self.feedback(True),
            self._log(f"recording paused ({reason})"),
        ]

    def resume(self, by: c.PauseEnd, feedback: bool = True) -> list[c.Command]:
        if self.rec.pause is None:
            return []
        self.held = None
        commands = self.rec.resume(by)
        if feedback:
            commands.append(self.feedback(True))
        commands.append(self._log(f"recording resumed ({by})"))
        return commands

    def _make_private(self, now: dt.datetime) -> list[c.Command]:
        if self.private:
            return [self.feedback(True)]
        self.private = True
        day = now.astimezone(self.settings.timezone).date().isoformat()
        live = self.rec.recording
        cancelled = (live.recording_id,) if live is not None and live.live else ()
        agent = self.agent.id if self.agent else None
        return [
            # First: the live recording goes, before anything else happens. Its rows
            # go with the call's.
            *self.rec.discard(None),
            *self.rec.drop_pause(),
            c.MakePrivate(self.call_id, agent, day, cancelled),
            # Then what of the call is already in the vault (an earlier segment, an
            # on-demand recording that ended), behind the store write of the key.
            c.DeleteUnkeptAudio(self.call_id, Unkept.PRIVATE),
            self.feedback(True),
            self._log("declared private by the agent: nothing of it is kept but a count"),
        ]

    def notice_given(self, notice: Announcement, key: str, now: dt.datetime) -> list[c.Command]:
        """The agent's notice-given key (C6): stored with the call, as consent events
        are, unless it came too late to count."""
        if not notice.given_by_agent():
            return [self.feedback(False)]
        version = self.service.announcement.version
        event = ConsentEvent(self.call_id, now, "notice_given", key, version, "conversation")
        return [
            c.AddConsent(event),
            self.feedback(True),
            self._log("the agent confirmed the notice to the customer"),
        ]

    def _start_on_demand(self, now: dt.datetime, caller_objected: bool) -> list[c.Command]:
        if self.private or self.rec.live:
            return [self.feedback(False)]
        refusal = on_demand_refusal(
            self.agent,
            caller_objected=caller_objected,
            now=now,
            timezone=self.settings.timezone,
            staff_informed=self.settings.staff_informed,
        )
        if refusal is not None:
            return [
                self.feedback(False),
                self._log(f"on-demand recording refused: {refusal.value}"),
            ]
        return [
            *self.rec.start(("mediation",)),
            self.feedback(True),
            self._log("recording for mediation, at the agent's request"),
        ]

    def keys_unheard(
        self, since: dt.datetime, now: dt.datetime, *, agent_present: bool, caller_unheard: bool
    ) -> list[c.Command]:
        """The call's keys went unheard from ``since`` to ``now`` (ARI events lost): a
        recording that ran meanwhile is discarded, on the safe side, and so is one paused
        throughout when the caller's opt-out key may have gone unheard (``caller_unheard``,
        C2); the agent hears the refused sound so they know the call is no longer
        recorded."""
        # A sequence begun before the gap must not be completed by a key after it.
        self.keys.reset()
        commands = self.rec.discard_unheard(since, now, caller_unheard=caller_unheard)
        if commands and agent_present:
            commands.append(self.feedback(False))
        return commands

    def awaited_playbacks(self) -> tuple[str, ...]:
        """The payment IVR's prompt or result the call waits to hear finish, if any."""
        leg = self.payment
        if leg is None:
            return ()
        return tuple(i for i in (leg.prompt_id, leg.result_id) if i)

    # -- timers ----------------------------------------------------------------------
    def timer(self, name: str, now: dt.datetime) -> list[c.Command] | None:
        """The pause and payment-entry timers; None for a timer that is not ours."""
        if name == PAUSE_TIMER:
            if self.rec.pause is None or self.payment is not None:
                return []
            alert = self.rec.timeout_alert()
            return [*self.resume(c.PauseEnd.TIMEOUT), *alert]
        if name == IVR_TIMER:
            return self.payment.timed_out(now) if self.payment is not None else []
        return None
