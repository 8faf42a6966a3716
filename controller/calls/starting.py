"""New calls, from the channel that entered the application: a caller's (inbound) or
an agent's phone that dialled a customer (C6)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from controller.ari.models import Channel
from controller.calls.call import Call
from controller.calls.conversation import CallSettings
from controller.calls.inbound import inbound_cast
from controller.calls.outbound import NUMBER, outbound_cast
from controller.calls.parties import Phase
from controller.config.model import Agent, Config, Service
from controller.privacy import caller_hash


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
    service: Service,
    caller: Channel,
    caller_hash: str | None,
    *,
    settings: CallSettings,
    rng: random.Random,
) -> Call:
    cast = inbound_cast(call_id=call_id, service=service, caller=caller, caller_hash=caller_hash)
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
