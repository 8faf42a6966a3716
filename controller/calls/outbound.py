"""How an outbound call opens (C6), pure: an agent's phone dials a customer through the
``reccontrol-outbound`` context and enters the application; the customer is dialled,
answers and hears the announcement (C1-C4) while the agent hears a waiting tone; then
the :class:`~controller.calls.call.Call` bridges them and carries on as any call. A
service announced by its agents skips the announcement: nothing is recorded until the
agent presses the notice-given key, which is stored with the call.
"""

from __future__ import annotations

import re

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.announcement import Announcement
from controller.calls.ids import customer_leg, tone_playback
from controller.calls.parties import Cast, Leg, Next, Outcome, Phase, Step, View, hung_up
from controller.config.service_model import Outbound, Service

__all__ = ["CUSTOMER_TIMER", "NUMBER", "OutboundOpening", "not_reached", "outbound_cast"]

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
    17: Outcome.BUSY,
    18: Outcome.NO_ANSWER,
    19: Outcome.NO_ANSWER,
    21: Outcome.REJECTED,
    1: Outcome.INVALID_NUMBER,
    3: Outcome.INVALID_NUMBER,
    22: Outcome.INVALID_NUMBER,
    28: Outcome.INVALID_NUMBER,
}
# Outcome -> what the agent's phone is told when its leg is hung up.
_AGENT_HANGUP = {
    Outcome.BUSY: "busy",
    Outcome.NO_ANSWER: "no_answer",
    Outcome.REJECTED: "rejected",
    Outcome.INVALID_NUMBER: "unallocated",
    Outcome.FAILED: "congestion",
}


def not_reached(cause: int) -> Outcome:
    """The outcome of a customer leg that ended before answering."""
    return _NOT_REACHED.get(cause, Outcome.FAILED)


class OutboundOpening:
    direction = "outbound"
    role = "customer"
    dials_agent = False
    hands_back_unbridged = False
    """Both parties are reccontrol's to hang up: a failed bridge ends the call."""
    answers: type[m.Message] = m.CustomerAnswered

    def __init__(
        self,
        *,
        call_id: str,
        service: Service,
        agent_channel: Channel,
        number: str | None,
        notice: Announcement,
    ) -> None:
        assert service.outbound is not None, "an outbound call's service has an outbound section"
        self.call_id = call_id
        self.service = service
        self.outbound: Outbound = service.outbound
        self.entry = agent_channel
        self._number = number
        self.notice = notice
        self.notice_by_agent = service.announcement.by == "agent"
        self.dialled = True
        """The customer's leg is dialled as the call starts (or never: then the call
        ends at once)."""
        self.log_prefix = f"call {call_id} ({service.name}, outbound)"
        self._tone_playing = False

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self.log_prefix}: {message}")

    def dial_timer(self) -> str:
        return CUSTOMER_TIMER

    def begin(self, start: c.BeginCall, lookup: list[c.Command]) -> Step:
        agent = self.entry.id
        if self._number is None:
            why = "the dialled number is not a phone number; nothing dialled"
            return Step(
                [
                    start,
                    self._log(why, c.Level.WARNING),
                    c.Hangup(agent, _AGENT_HANGUP[Outcome.INVALID_NUMBER]),
                ],
                Next.END,
                outcome=Outcome.INVALID_NUMBER,
            )
        originate = c.Originate(
            endpoint=self.outbound.endpoint(self._number),
            channel_id=customer_leg(self.call_id),
            app_args=f"customer,{self.call_id}",
            ring_timeout=self.outbound.ring_timeout + RING_SLACK_SECONDS,
            originator=agent,
            caller_id=self.outbound.caller_id or None,
        )
        return Step(
            [
                start,
                *lookup,
                c.Ring(agent),
                originate,
                c.StartTimer(CUSTOMER_TIMER, self.outbound.ring_timeout),
                self._log("dialling the customer"),
            ],
            phase=Phase.DIALING,
        )

    def answered(self) -> Step:
        """The customer answered: the announcement, or straight to the agent when the
        agent gives the notice."""
        commands: list[c.Command] = [c.CancelTimer(CUSTOMER_TIMER), c.Answer(self.entry.id)]
        if self.notice_by_agent:
            # Nothing announced by the system: the agent speaks, then confirms by key.
            self.notice.skip()
            commands.append(self._log("customer answered; the agent gives the notice"))
            return Step(commands, Next.BRIDGE)
        self._tone_playing = True
        return Step(
            [
                *commands,
                *self.notice.start(),
                c.Play(self.entry.id, AGENT_WAIT_TONE, tone_playback(self.call_id)),
                self._log("customer answered; announcing"),
            ],
            phase=Phase.ANNOUNCING,
        )

    def announced(self) -> Step:
        commands: list[c.Command] = []
        if self._tone_playing:
            self._tone_playing = False
            commands.append(c.StopPlayback(tone_playback(self.call_id)))
        return Step(commands, Next.BRIDGE)

    def connected_logs(self, who: str) -> tuple[c.Log, c.Log]:
        return self._log("customer and agent connected"), self._log(f"agent: {who}", c.Level.DEBUG)

    def gone(self, view: View, agent: bool, cause: int, lost: bool, unseen: bool) -> Step:
        dialling = view.phase is Phase.DIALING
        if not agent and dialling and unseen:
            # It may have answered into an application with no websocket, which
            # Asterisk hangs up: the agent's call goes on through the dialplan, whose
            # fallback dials the number unrecorded.
            why = "the customer's leg ended while the link to ARI was down"
            return Step(next=Next.HAND_BACK, why=why)
        if not agent and dialling and not view.caller.up:
            outcome = not_reached(cause)
            return Step(
                [
                    c.CancelTimer(CUSTOMER_TIMER),
                    self._log(f"customer not reached: {outcome} (cause {cause})"),
                    c.Hangup(view.agent.id, _AGENT_HANGUP[outcome]),
                ],
                Next.END,
                outcome=outcome,
            )
        who = "agent" if agent else "customer"
        other = view.caller.id if agent else view.agent.id
        return Step(
            [
                c.CancelTimer(CUSTOMER_TIMER),
                self._log(f"{m.gone_text(who, lost)} during the {view.phase.value}"),
                c.Hangup(other),
            ],
            Next.END,
            outcome=hung_up(who, lost),
        )

    def timer(self, name: str, view: View) -> Step | None:
        if name != CUSTOMER_TIMER or view.phase is not Phase.DIALING:
            return None
        return Step(
            [
                self._log(f"the customer did not answer within {self.outbound.ring_timeout} s"),
                c.Hangup(view.caller.id),
                c.Hangup(view.agent.id, _AGENT_HANGUP[Outcome.NO_ANSWER]),
            ],
            Next.END,
            outcome=Outcome.NO_ANSWER,
        )


def outbound_cast(
    *,
    call_id: str,
    service: Service,
    agent_channel: Channel,
    number: str | None,
    customer_hash: str | None,
    carried_on: bool = False,
) -> Cast:
    """The opening and the parties of an outbound call: the agent's phone, which placed
    it and is up from the start, and the customer's leg, dialled (``carried_on``: and
    answered)."""
    customer = customer_leg(call_id)
    notice = Announcement(
        call_id=call_id,
        service=service,
        caller_id=customer,
        caller_hash=customer_hash,
        log_prefix=f"call {call_id} ({service.name}, outbound)",
    )
    opening = OutboundOpening(
        call_id=call_id, service=service, agent_channel=agent_channel, number=number, notice=notice
    )
    customer_party = Leg(customer, up=carried_on)
    agent = Leg(agent_channel.id, up=True)
    return Cast(call_id, service, customer_hash, opening, notice, customer_party, agent)
