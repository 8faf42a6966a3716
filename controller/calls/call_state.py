"""What a call knows, pure: who it is, its parties and phase, its announcement,
recording and conversation; and what the router, the web API and the gap recovery read
of it. Its behaviour is :class:`~controller.calls.call.Call`'s."""

from __future__ import annotations

import datetime as dt
import random

from controller.ari.errors import AriUnavailable
from controller.calls import commands as c
from controller.calls.call_settings import CallSettings
from controller.calls.conversation import Conversation
from controller.calls.hold import AgentHold
from controller.calls.ids import bridge_id
from controller.calls.listening import Listening
from controller.calls.parties import Cast, Leg, Outcome, Phase, View
from controller.calls.payment import PaymentLeg
from controller.calls.recording import Recording, RecordingControl, RecordingSnapshot
from controller.calls.snapshot import CallSnapshot
from controller.config.model import Agent
from controller.policy import ListenFacts, ListenRefusal, Verdict, listen_refusal

UNANSWERED = AriUnavailable.error_id
"""A REST call Asterisk did not answer (in time): it may still have been carried out."""


class CallState:
    def __init__(
        self,
        *,
        cast: Cast,
        settings: CallSettings,
        rng: random.Random,
        recording: RecordingSnapshot | None = None,
        phase: Phase = Phase.ANNOUNCING,
        agent: Agent | None = None,
        verdict: Verdict | None = None,
    ) -> None:
        call_id = self.call_id = cast.call_id
        service = self.service = cast.service
        self.opening = cast.opening
        self.caller = cast.caller
        self.agent_leg = cast.agent
        caller_hash = self.caller_hash = cast.caller_hash
        self._settings = settings
        self.rng = rng
        self.phase = phase
        self.bridge_id = bridge_id(call_id)
        self.remembered_objection: bool | None = None if caller_hash else False
        self.verdict = verdict
        self.keys_unheard = False
        """The call's keys went unheard before its decision, or while its caller was in
        it: an opt-out key may have been lost, so nothing of the call is recorded from
        then on (C2)."""
        self.outcome: Outcome | None = None
        self.dial_unconfirmed = False
        """The dialling got no answer from Asterisk: whether it dialled is not known
        until the dialled leg shows up or the dial timer fires."""
        prefix = cast.opening.log_prefix
        self.notice = cast.notice
        """What the announced party hears first; the opening plays it, the call takes
        the opt-out key at any time (C2)."""
        self.rec = RecordingControl(
            call_id=call_id,
            bridge_id=self.bridge_id,
            fmt=settings.recording_format,
            retention_days=service.retention_days,
            pause_settings=service.pause,
            rng=rng,
            log_prefix=prefix,
            snapshot=recording,
            sides=self._recording_sides if settings.recording_channels == "stereo" else None,
        )
        self.talk = Conversation(
            call_id=call_id,
            service=service,
            settings=settings,
            caller_id=cast.caller.id,
            agent_channel_id=cast.agent.id,
            bridge_id=self.bridge_id,
            recording=self.rec,
            rng=rng,
            log_prefix=prefix,
        )
        self.talk.meet(agent)
        self.hold = AgentHold(
            mode=service.hold, talk=self.talk, caller_id=cast.caller.id, log_prefix=prefix,
        )  # fmt: skip
        self.listening = Listening(
            call_id=call_id, agent_channel_id=cast.agent.id, log_prefix=prefix
        )
        """A supervisor listening live (S8); never carried over a restart."""

    # -- what the router, the web API and the gap recovery read ---------------------
    @property
    def direction(self) -> str:
        return self.opening.direction

    @property
    def settings(self) -> CallSettings:
        return self._settings

    @property
    def agent_channel_id(self) -> str:
        return self.agent_leg.id

    def _recording_sides(self) -> tuple[str, str]:
        """R5: the caller's (the customer's) voice on the left, the agent's on the right."""
        return (self.caller.id, self.agent_leg.id)

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.caller.id, self.agent_leg.id)

    @property
    def _dialled_leg(self) -> Leg:
        return self.agent_leg if self.opening.dials_agent else self.caller

    @property
    def dialled_role(self) -> str:
        return "agent" if self.opening.dials_agent else self.opening.role

    def _leg_gone(self, channel_id: str) -> str | None:
        """Marks a party's leg gone: who it was (None: no party's, or gone already)."""
        if channel_id == self.caller.id and not self.caller.gone:
            self.caller = self.caller.ended()
            return self.opening.role
        if channel_id == self.agent_leg.id and not self.agent_leg.gone:
            self.agent_leg = self.agent_leg.ended()
            return "agent"
        return None

    def dialled(self, channel_id: str) -> bool:
        """False for the leg the call dials while it is not dialled yet: it cannot be
        gone."""
        return channel_id != self._dialled_leg.id or self.opening.dialled

    @property
    def unanswered_leg(self) -> str | None:
        """The leg dialled for this call that has not answered yet, if any."""
        leg = self._dialled_leg
        return leg.id if self.phase is Phase.DIALING and not leg.up else None

    @property
    def playback_id(self) -> str:
        """The announced party's playback the call waits for."""
        return self.notice.playback_id

    @property
    def awaited_playbacks(self) -> tuple[str, ...]:
        """Playbacks whose end the call waits for to go on."""
        waiting = (Phase.ANNOUNCING, Phase.FULL_NOTICE, Phase.NO_AGENT)
        notice = (self.playback_id,) if self.phase in waiting and self.playback_id else ()
        return notice + self.talk.awaited_playbacks()

    @property
    def awaited_whisper(self) -> str | None:
        """The whisper snoop (A10) made for the agent, its entering not heard yet."""
        return self.talk.whisper.awaited

    @property
    def objected(self) -> bool:
        return self.notice.objected

    @property
    def notice_completed(self) -> bool:
        """The person heard the announcement, or the agent confirmed the notice."""
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
    def _with_caller(self) -> bool:
        """The caller is in the bridge with the agent: bridged, not gone, not paying (A9)."""
        return self.phase is Phase.CONNECTED and not self.caller.gone and self.payment is None

    @property
    def objection_assumed(self) -> bool:
        """The announced party counts as objecting for what is decided now, on-demand
        recording (A4) and live listening (S8): they objected; the ledger has not
        answered; the agent has not given the notice yet (C6); or their keys went
        unheard, so an objection may have been lost (C2)."""
        return (
            self.objected
            or self.keys_unheard
            or self.remembered_objection is not False
            or (self.opening.notice_by_agent and not self.notice.completed)
        )

    def listen_refusal(self, now: dt.datetime) -> ListenRefusal | None:
        """S8: why nobody may listen to the call live now (it could not be recorded
        now), or None; the person counts as objecting as for on-demand recording
        (:attr:`objection_assumed`). Paused: the agent's pause or card key, even with
        nothing recorded (:attr:`Conversation.held`)."""
        agent = self.agent_leg
        facts = ListenFacts(
            agent=self.agent,
            talking=self.phase is Phase.CONNECTED
            and agent.up
            and not agent.gone
            and not self.caller.gone,
            caller_objected=self.objection_assumed,
            private=self.private,
            paused=self.talk.held is not None,
            in_payment=self.payment is not None,
        )
        settings = self.settings
        return listen_refusal(
            facts, now=now, timezone=settings.timezone, staff_informed=settings.staff_informed
        )

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self.opening.log_prefix}: {message}")

    def _view(self) -> View:
        return View(self.phase, self.caller, self.agent_leg)

    def snapshot(self, heard_until: dt.datetime | None = None) -> CallSnapshot:
        if self.phase is not Phase.CONNECTED or self.payment is not None or self.private:
            raise ValueError(
                f"call {self.call_id}: only a bridged call outside the payment IVR can be "
                f"carried on (phase {self.phase.value})"
            )
        return CallSnapshot(
            self.call_id, self.direction, self.service, self.opening.entry, self.caller_hash,
            self.agent, self.notice.completed, self.objected, self.verdict, self.rec.snapshot(),
            heard_until,
        )  # fmt: skip

