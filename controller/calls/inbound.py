"""How an inbound call opens, pure: the caller is answered and hears the announcement
(C1, and the full notice on request, C3), then an agent is dialled; once the agent
answers, the :class:`~controller.calls.call.Call` bridges them and carries on. No agent
in time: the caller hears the no-agent message and nothing is recorded.
"""

from __future__ import annotations

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.announcement import Announcement
from controller.calls.ids import agent_leg
from controller.calls.parties import Cast, Leg, Next, Outcome, Phase, Step, View, hung_up
from controller.config.model import Service

__all__ = ["AGENT_TIMER", "InboundOpening", "inbound_cast"]

AGENT_TIMER = "agent-answer"
# Extra time over the service's answer timeout, in case the originated channel's own
# timeout event is lost.
AGENT_TIMER_SLACK_SECONDS = 5.0


class InboundOpening:
    direction = "inbound"
    role = "caller"
    dials_agent = True
    notice_by_agent = False
    hands_back_unbridged = True
    """The caller goes back to the dialplan, whose fallback reaches the agents."""
    answers: type[m.Message] = m.AgentAnswered

    def __init__(
        self,
        *,
        call_id: str,
        service: Service,
        caller: Channel,
        notice: Announcement,
        dialled: bool = False,
    ) -> None:
        self.call_id = call_id
        self.service = service
        self.entry = caller
        self.notice = notice
        self.dialled = dialled
        self.log_prefix = f"call {call_id} ({service.name})"

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self.log_prefix}: {message}")

    def dial_timer(self) -> str:
        return AGENT_TIMER

    def begin(self, start: c.BeginCall, lookup: list[c.Command]) -> Step:
        return Step([c.Answer(self.entry.id), start, *lookup, *self.notice.start()])

    def announced(self) -> Step:
        """The caller heard what they had to: an agent is dialled."""
        self.dialled = True
        number = self.entry.caller.number
        return Step(
            [
                c.Ring(self.entry.id),
                c.Originate(
                    endpoint=self.service.target,
                    channel_id=agent_leg(self.call_id),
                    app_args=f"agent,{self.call_id}",
                    ring_timeout=self.service.answer_timeout,
                    originator=self.entry.id,
                    caller_id=number or None,
                ),
                c.StartTimer(AGENT_TIMER, self.service.answer_timeout + AGENT_TIMER_SLACK_SECONDS),
            ],
            phase=Phase.DIALING,
        )

    def answered(self) -> Step:
        return Step([c.CancelTimer(AGENT_TIMER)], Next.BRIDGE)

    def connected_logs(self, who: str) -> tuple[c.Log, c.Log]:
        # Which agent took the call stays out of the normal log: the call may yet turn
        # out to be private (A2).
        return self._log("connected to the agent"), self._log(f"connected to {who}", c.Level.DEBUG)

    def _no_agent(self, why: str, agent: Leg) -> Step:
        commands: list[c.Command] = [c.CancelTimer(AGENT_TIMER)]
        if not agent.gone:
            commands.append(c.Hangup(agent.id))
        commands.append(self._log(f"no agent answered ({why}); nothing recorded", c.Level.WARNING))
        commands.append(self.notice.play(self.service.no_agent_sound))
        return Step(commands, phase=Phase.NO_AGENT, outcome=Outcome.NO_AGENT)

    def gone(self, view: View, agent: bool, cause: int, lost: bool, unseen: bool) -> Step:
        del cause
        if view.phase is Phase.NO_AGENT:
            return Step([], Next.WAIT if agent else Next.END)
        if agent:
            if view.phase is not Phase.DIALING:
                return Step()
            if unseen:
                # It may have answered into an application with no websocket, which
                # Asterisk hangs up: the caller goes on through the dialplan.
                why = "the agent's leg ended while the link to ARI was down"
                return Step(next=Next.HAND_BACK, why=why)
            return self._no_agent("the agent channel ended before answering", view.agent)
        commands: list[c.Command] = [
            self._log(f"{m.gone_text('caller', lost)} during the {view.phase.value}")
        ]
        if view.phase is Phase.DIALING:
            commands[:0] = [c.Hangup(view.agent.id), c.CancelTimer(AGENT_TIMER)]
        return Step(commands, Next.END, outcome=hung_up("caller", lost))

    def timer(self, name: str, view: View) -> Step | None:
        if name == AGENT_TIMER and view.phase is Phase.DIALING:
            return self._no_agent(f"no answer within {self.service.answer_timeout} s", view.agent)
        return None


def inbound_cast(
    *,
    call_id: str,
    service: Service,
    caller: Channel,
    caller_hash: str | None,
    carried_on: bool = False,
) -> Cast:
    """The opening and the parties of a call that entered the application on the
    caller's channel; the agent's leg is dialled later (``carried_on``: it was, and
    answered)."""
    notice = Announcement(
        call_id=call_id,
        service=service,
        caller_id=caller.id,
        caller_hash=caller_hash,
        log_prefix=f"call {call_id} ({service.name})",
    )
    opening = InboundOpening(
        call_id=call_id, service=service, caller=caller, notice=notice, dialled=carried_on
    )
    agent = Leg(agent_leg(call_id), up=carried_on)
    return Cast(call_id, service, caller_hash, opening, notice, Leg(caller.id, up=True), agent)
