"""New calls, from the channel that entered the application: a caller's (inbound) or
an agent's phone that dialled a customer (C6); and the private calls that never become
calls (A2)."""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls.call import Call
from controller.calls.call_settings import CallSettings
from controller.calls.inbound import inbound_cast
from controller.calls.outbound import NUMBER, outbound_cast
from controller.calls.parties import Phase
from controller.config.model import Agent, Config, Service
from controller.privacy import caller_hash, earlier_caller_hash

log = logging.getLogger("reccontrol.calls")


@dataclass(frozen=True)
class OutboundRequest:
    """What an agent's channel asked for, entering the application with
    ``outbound,<service>,<number>``."""

    service: Service
    number: str | None
    """None: what was dialled is not a phone number. Never logged."""
    customer_hash: str | None
    agent: Agent | None

    @classmethod
    def read(cls, config: Config, channel: Channel, args: tuple[str, ...]) -> OutboundRequest | str:
        """The request, or why it cannot be handled (the channel then goes back to the
        dialplan, whose fallback dials the number unrecorded)."""
        service_name = args[0] if args else ""
        number = args[1] if len(args) > 1 else ""
        service = config.services.get(service_name)
        if service is None:
            return f"unknown service {service_name[:40]!r} in the outbound Stasis arguments"
        if service.outbound is None:
            return f"service {service_name!r} has no outbound section"
        valid = NUMBER.fullmatch(number) is not None
        privacy = config.privacy
        # Only a valid number is hashed: anything else never reaches the ledger.
        hashed = (
            caller_hash(privacy.caller_hmac_key, number, privacy.default_region) if valid else None
        )
        return cls(
            service=service,
            number=number if valid else None,
            customer_hash=hashed,
            agent=config.agent_for_channel(channel.name),
        )


def inbound_call(
    call_id: str,
    config: Config,
    caller: Channel,
    service_name: str,
    *,
    settings: CallSettings,
    rng: random.Random,
) -> Call | str:
    """The call for a caller's channel that entered the application with
    ``inbound,<service>``, or why it cannot be handled."""
    service = config.services.get(service_name)
    if service is None:
        return f"unknown service {service_name[:40]!r} in the Stasis arguments"
    privacy = config.privacy
    hashed = caller_hash(privacy.caller_hmac_key, caller.caller.number, privacy.default_region)
    cast = inbound_cast(call_id=call_id, service=service, caller=caller, caller_hash=hashed)
    return Call(cast=cast, settings=settings, rng=rng)


def outbound_call(
    call_id: str,
    config: Config,
    channel: Channel,
    args: tuple[str, ...],
    *,
    settings: CallSettings,
    rng: random.Random,
) -> Call | str:
    """The call for an agent's channel that entered the application with
    ``outbound,<service>,<number>``, or why it cannot be handled (the channel then goes
    back to the dialplan, whose fallback dials the number unrecorded)."""
    request = OutboundRequest.read(config, channel, args)
    if isinstance(request, str):
        return request
    cast = outbound_cast(
        call_id=call_id,
        service=request.service,
        agent_channel=channel,
        number=request.number,
        customer_hash=request.customer_hash,
    )
    return Call(cast=cast, settings=settings, rng=rng, phase=Phase.DIALING, agent=request.agent)


def earlier_objection(config: Config, number: str, hashed: str | None) -> c.CarryObjection | None:
    """An objection stored under the HMAC an older rule gave this number's form moves to
    the current HMAC (C4)."""
    privacy = config.privacy
    earlier = earlier_caller_hash(privacy.caller_hmac_key, number, privacy.default_region)
    if earlier is None or hashed is None or earlier == hashed:
        return None
    return c.CarryObjection(earlier, hashed)


def private_call_count(
    config: Config, channel: Channel, role: str, line: str, now: dt.datetime
) -> c.CountPrivateCall:
    """A private call (A2), counted for its agent and day: the line's agent, or the
    agent on the calling channel."""
    if role == "private-line":
        agent = config.agent_for_private_line(line)
    else:
        agent = config.agent_for_channel(channel.name)
        prefix = config.private_calls.dial_prefix
        if not channel.dialplan_exten.startswith(prefix):
            log.warning(
                "a private outbound call did not start with the configured prefix %r: "
                "check private_calls.dial_prefix against the dialplan",
                prefix,
            )
    if agent is None:
        log.warning("a %s call came from or to an agent the config does not know", role)
    day = now.astimezone(config.timezone).date().isoformat()
    return c.CountPrivateCall(agent.id if agent is not None else None, day)
