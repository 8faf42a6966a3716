"""An agent's outbound call over FastAGI (C6): the ``outbound`` and ``answered`` scripts.

The FastAGI counterpart of the ARI path's outbound opening
(:mod:`controller.calls.outbound`), for sites whose own dialplan dials the customer:

* ``agi://HOST:PORT/outbound?service=NAME&number=NUMBER``, on the **agent's** channel
  before the site's ``Dial()`` (the shipped ``reccontrol-agi-outbound`` subroutine):
  the service and the number are checked as on the ARI path, the call row is stored
  (``path: agi``, direction ``outbound``, the number's HMAC), and the call id and the
  agent's channel are set as inherited variables for the called party's channel; the
  shipped hang-up handler is pushed on the agent's channel, whose end closes the row.
* ``agi://HOST:PORT/answered``, on the **called party's** channel when it answers
  (``Dial(…,U(reccontrol-agi-answered))``): the called party hears the service's
  announcement and may press the opt-out and full-notice keys exactly as a caller of
  the ``inbound`` script (C1-C4, the same announcement machine, consent rows and
  objection memory); then the call is decided with the agent named from the calling
  channel (A7) and, when it is to be recorded, MixMonitor starts on the agent's
  channel, where the agent's keys and the hang-up handler find it, as on an inbound
  call (:mod:`controller.agi.hooks`).

A service announced by its agents (``announcement.by: agent``) has no notice-given key
on this path: its calls are decided as not announced, so never recorded.
"""

from __future__ import annotations

import logging
import random

from controller.agi.channel_variables import (
    AGENT_CHANNEL_VARIABLE,
    CALL_ID_VARIABLE,
    ERROR_VARIABLE,
)
from controller.agi.errors import ChannelHungUp, StoreFailed
from controller.agi.hooks import UNKNOWN_CALL
from controller.agi.inbound import (
    HANGUP_HOOK,
    INHERITED,
    PATH,
    Announcing,
    Consent,
)
from controller.agi.protocol import AgiRequest
from controller.agi.recorder import AgiRecorder
from controller.agi.session import AgiSession
from controller.calls import commands as c
from controller.calls.agi_opening import (
    AgiOpening,
    Connected,
    OutboundRefusal,
    outbound_ask,
)
from controller.calls.announcement import Announcement
from controller.calls.call_settings import call_settings
from controller.calls.ids import new_id
from controller.calls.parties import Outcome
from controller.clock import Clock
from controller.config.model import Config
from controller.records import OpenCall
from controller.store import SqliteStore, StoreThread

log = logging.getLogger("reccontrol.agi")



class OutboundScript(Announcing):
    async def __call__(self, session: AgiSession, request: AgiRequest) -> None:
        name = request.argument("service") or ""
        ask = outbound_ask(self._config.services, name, request.argument("number") or "")
        if isinstance(ask, OutboundRefusal):
            # The service name is the dialplan's, bounded and checked by the request
            # parser: it may be logged. The number never is.
            log.warning(
                "AGI outbound (channel %s, service %r): %s; %s=%s, nothing stored",
                request.uniqueid, name[:40], _WHY[ask], ERROR_VARIABLE, ask.value,
            )  # fmt: skip
            await session.set_variable(ERROR_VARIABLE, ask.value)
            return
        agent = self._config.agent_for_channel(request.channel)
        call_id = new_id(self._rng, 64)
        prefix = f"call {call_id} ({ask.service.name}, agi)"
        # As the inbound script: until the channel is handed back, whatever stops the
        # script closes the row, but a refused first write leaves none to close.
        outcome: Outcome | None = Outcome.INTERRUPTED
        try:
            try:
                await self._open(call_id, ask.service, request, "outbound", ask.number)
            except StoreFailed:
                outcome = None
                raise
            await session.set_variable(INHERITED + CALL_ID_VARIABLE, call_id)
            await session.set_variable(INHERITED + AGENT_CHANNEL_VARIABLE, request.channel)
            # From here the row stays open: the agent's hang-up closes it (R1 as inbound).
            await session.set_variable("CHANNEL(hangup_handler_push)", HANGUP_HOOK)
            outcome = None
        except ChannelHungUp:
            outcome = Outcome.AGENT_HUNG_UP
            log.info("%s: the agent hung up before dialling", prefix)
            raise
        finally:
            if outcome is not None:
                await self._write(c.EndCall(call_id, outcome, None, False))
        who = agent.id if agent is not None else "a channel no agent's"
        log.info("%s: handed back to the dialplan to dial the customer (agent: %s)", prefix, who)


_WHY = {
    OutboundRefusal.UNKNOWN_SERVICE: "unknown service",
    OutboundRefusal.NOT_OUTBOUND: "the service takes no outbound calls (no outbound section)",
    OutboundRefusal.BAD_NUMBER: "the number argument is missing or not a phone number",
}


class AnsweredScript(Announcing):
    def __init__(
        self,
        config: Config,
        store: StoreThread[SqliteStore],
        clock: Clock,
        rng: random.Random,
        *,
        recorder: AgiRecorder,
    ) -> None:
        super().__init__(config, store, clock, rng)
        self._recorder = recorder
        self._settings = call_settings(config)

    async def __call__(self, session: AgiSession, request: AgiRequest) -> None:
        call = await self._outbound_call(session)
        service = self._config.services.get(call.service) if call is not None else None
        if call is None or service is None:
            log.warning(
                "AGI answered (channel %s): no open outbound FastAGI call on the channel; "
                "%s=%s, not announced nor recorded", request.uniqueid, ERROR_VARIABLE,
                UNKNOWN_CALL,
            )  # fmt: skip
            await session.set_variable(ERROR_VARIABLE, UNKNOWN_CALL)
            return
        prefix = f"call {call.call_id} ({service.name}, agi)"
        notice = Announcement(
            call_id=call.call_id,
            service=service,
            caller_id=request.uniqueid,
            caller_hash=call.caller_hash,
            log_prefix=prefix,
        )
        try:
            if service.announcement.by == "agent":
                log.warning(
                    "%s: the service is announced by its agents, which this path does not "
                    "take: not recorded", prefix,
                )  # fmt: skip
                consent = Consent.UNANNOUNCED
            else:
                consent = await self._announce(session, request, notice)
        except ChannelHungUp:
            log.info("%s: the customer hung up during the announcement", prefix)
            end = c.EndCall(call.call_id, Outcome.CUSTOMER_HUNG_UP, None, notice.completed)
            await self._write(end)
            raise
        remembered = consent is Consent.INFORMED and await self._objected_before(notice)
        await self._decide(session, call.call_id, consent, remembered)

    async def _outbound_call(self, session: AgiSession) -> OpenCall | None:
        """The open, undecided outbound FastAGI call the channel inherited the id of."""
        call_id = await session.get_variable(CALL_ID_VARIABLE)
        if not call_id:
            return None
        call = await self._store.run(lambda s: s.open_call(call_id))
        if call is None or call.path != PATH or call.direction != "outbound":
            return None
        return call if call.decision is None else None

    async def _decide(
        self, session: AgiSession, call_id: str, consent: Consent, remembered: bool
    ) -> None:
        """The decision as on an inbound call's ``connected`` hook, with what the
        announcement just stored; the recording, if any, on the agent's channel."""
        call = await self._store.run(lambda s: s.open_call(call_id))
        service = self._config.services.get(call.service) if call is not None else None
        if call is None or service is None:
            return
        agent_channel = await session.get_variable(AGENT_CHANNEL_VARIABLE) or ""
        opening = AgiOpening(call, service, self._settings, self._rng)
        hook = Connected(
            call=call,
            service=service,
            agent=self._config.agent_for_channel(agent_channel) if agent_channel else None,
            # What this call's announcement gave; an earlier call's objection is its
            # own input, so that the decision says which one stopped the recording.
            consent=consent,
            remembered_objection=remembered,
        )
        if hook.agent is None:
            log.info("%s: the calling channel is not a configured agent's", opening.log_prefix)
        commands = opening.connected(hook, self._clock.now())
        await self._recorder.run(session, opening, commands, record_on=agent_channel)
