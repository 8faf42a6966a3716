"""A bridged call as a snapshot: what a restarted controller needs to carry on a call
that was in progress (R1), pure. :meth:`~controller.calls.call.Call.resumed` rebuilds
the call from one, inbound or outbound alike.

Only a bridged call has a snapshot: a call still in its announcement or dialling goes
back to the dialplan instead (:mod:`controller.calls.adoption`). A payment under way is
not part of it: the card data went with the old process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from controller.ari.models import Channel
from controller.calls.inbound import inbound_cast
from controller.calls.outbound import outbound_cast
from controller.calls.parties import Cast
from controller.calls.recording import RecordingSnapshot
from controller.config.model import Agent, Service
from controller.policy import Verdict


@dataclass(frozen=True)
class CallSnapshot:
    """Rebuilt from the store (call, decision, recording and pause rows) once Asterisk
    confirms the channels, the bridge and the live recording."""

    call_id: str
    direction: str
    service: Service
    entry: Channel
    """The channel the call came in on: the caller's, or the agent's phone (C6)."""
    caller_hash: str | None
    agent: Agent | None
    notice_completed: bool
    """The announcement was heard, or the agent confirmed the notice (C6)."""
    objected: bool
    verdict: Verdict | None
    recording: RecordingSnapshot
    heard_until: dt.datetime | None = None
    """The last moment the old process is known to have heard the call's events; from
    then on its keys went unheard. None: as late as the restart."""


def carried_on_cast(snap: CallSnapshot) -> Cast:
    """Both parties up and bridged, the announcement over."""
    if snap.direction == "outbound":
        cast = outbound_cast(
            call_id=snap.call_id,
            service=snap.service,
            agent_channel=snap.entry,
            number=None,
            customer_hash=snap.caller_hash,
            carried_on=True,
        )
    else:
        cast = inbound_cast(
            call_id=snap.call_id,
            service=snap.service,
            caller=snap.entry,
            caller_hash=snap.caller_hash,
            carried_on=True,
        )
    cast.notice.carried_on(completed=snap.notice_completed, objected=snap.objected)
    return cast
