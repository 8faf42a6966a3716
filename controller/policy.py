"""Whether a call may be recorded: proportionality rules, pure.

Takes the service, the agent, what is known of the caller, the time and a random
source; returns a :class:`Verdict` holding every input, so each decision can be
audited later (P3).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from controller.config.model import Agent, Service
from controller.config.windows import WeeklyWindow


class Reason(StrEnum):
    SAMPLED = "sampled"
    NOT_SAMPLED = "not_sampled"
    RECORD_ALL_EXEMPTION = "record_all_exemption"
    CALLER_OBJECTED = "caller_objected"
    REMEMBERED_OBJECTION = "remembered_objection"
    OUTSIDE_CAMPAIGN = "outside_campaign"
    OUTSIDE_SERVICE_WINDOW = "outside_service_window"
    UNKNOWN_AGENT = "unknown_agent"
    PROTECTED_AGENT = "protected_agent"
    OUTSIDE_AGENT_WINDOW = "outside_agent_window"
    ANNOUNCEMENT_NOT_PLAYED = "announcement_not_played"
    KEYS_UNHEARD = "keys_unheard"
    """The person's keys went unheard before the decision (ARI events lost): an
    objection may have been keyed, so nothing is recorded."""
    STAFF_NOT_INFORMED = "staff_not_informed"
    """The staff representatives were not yet informed of the system on the call's day
    (``legal.staff_representatives_informed``): nothing is recorded (A8)."""
    PRIVATE_LINE = "private_line"
    """The call was transferred to an agent's private line: never recorded (A2, R3)."""


@dataclass(frozen=True)
class Verdict:
    record: bool
    reason: Reason
    rate: float
    draw: float | None
    """The random draw in [0, 1), or None when no draw was needed."""
    in_window: bool
    window: str
    """The window that allowed the call, or why none did."""


def _first_match(windows: tuple[WeeklyWindow, ...], local: dt.datetime) -> WeeklyWindow | None:
    for window in windows:
        if window.contains(local):
            return window
    return None


def staff_not_informed(staff_informed: dt.date | None, day: dt.date) -> bool:
    """A8: whether ``day`` (the site's local date) comes before the staff
    representatives were told about the system. Without a date they were not."""
    return staff_informed is None or day < staff_informed


def decide(
    service: Service,
    agent: Agent | None,
    *,
    objected_now: bool,
    remembered_objection: bool,
    now: dt.datetime,
    timezone: ZoneInfo,
    rng: random.Random,
    staff_informed: dt.date | None,
) -> Verdict:
    """Applies, in order: the caller's objection (C2, C4), the staff representatives'
    prior information (A8), the campaign dates and service windows (P1), the agent's
    protection and published periods (A1, A3), then the sampling draw (P1, P4). The draw
    happens last, only for calls that could be recorded, so the achieved rate can be
    compared with the configured one. Services recording every call under an exemption
    (P2) pass the same checks: the exemption lifts the sampling, nothing else."""
    rate = service.sampling_rate
    local = now.astimezone(timezone)

    def refuse(reason: Reason, in_window: bool, window: str) -> Verdict:
        return Verdict(False, reason, rate, None, in_window, window)

    if objected_now:
        return refuse(Reason.CALLER_OBJECTED, False, "")
    if remembered_objection:
        return refuse(Reason.REMEMBERED_OBJECTION, False, "")
    if staff_not_informed(staff_informed, local.date()):
        informed = str(staff_informed) if staff_informed else "no date given"
        window = f"{local.date()} before the staff representatives were informed ({informed})"
        return refuse(Reason.STAFF_NOT_INFORMED, False, window)
    if not service.campaign.contains(local.date()):
        return refuse(Reason.OUTSIDE_CAMPAIGN, False, f"outside campaign on {local.date()}")
    service_window = ""
    if service.windows:
        match = _first_match(service.windows, local)
        if match is None:
            return refuse(
                Reason.OUTSIDE_SERVICE_WINDOW, False, f"service closed at {local:%a %H:%M}"
            )
        service_window = f"service {match.describe()}"
    if agent is None:
        return refuse(Reason.UNKNOWN_AGENT, False, service_window)
    if agent.protected:
        return refuse(Reason.PROTECTED_AGENT, False, service_window)
    agent_window = _first_match(agent.windows, local)
    if agent_window is None:
        return refuse(
            Reason.OUTSIDE_AGENT_WINDOW, False, f"{agent.id} not published at {local:%a %H:%M}"
        )
    window = f"{agent.id} {agent_window.describe()}"
    if service_window:
        window = f"{service_window}; {window}"
    if rate >= 1.0:
        return Verdict(True, Reason.RECORD_ALL_EXEMPTION, rate, None, True, window)
    draw = rng.random()
    if draw < rate:
        return Verdict(True, Reason.SAMPLED, rate, draw, True, window)
    return Verdict(False, Reason.NOT_SAMPLED, rate, draw, True, window)


def on_demand_refusal(
    agent: Agent | None,
    *,
    caller_objected: bool,
    now: dt.datetime,
    timezone: ZoneInfo,
    staff_informed: dt.date | None,
) -> Reason | None:
    """Why an agent's own request to record for mediation is refused (A4), or None.

    Sampling does not apply: the agent chose this call. Objection, the staff
    representatives' prior information (A8), protection and the agent's published
    periods still do.
    """
    if caller_objected:
        return Reason.CALLER_OBJECTED
    if staff_not_informed(staff_informed, now.astimezone(timezone).date()):
        return Reason.STAFF_NOT_INFORMED
    if agent is None:
        return Reason.UNKNOWN_AGENT
    if agent.protected:
        return Reason.PROTECTED_AGENT
    if _first_match(agent.windows, now.astimezone(timezone)) is None:
        return Reason.OUTSIDE_AGENT_WINDOW
    return None


class ListenRefusal(StrEnum):
    """Why a supervisor may not listen to a call in progress now (S8)."""

    NOT_TALKING = "not_talking"
    """The parties are not (or no longer) bridged: nothing to listen to."""
    CALLER_OBJECTED = "caller_objected"
    STAFF_NOT_INFORMED = "staff_not_informed"
    UNKNOWN_AGENT = "unknown_agent"
    PROTECTED_AGENT = "protected_agent"
    OUTSIDE_AGENT_WINDOW = "outside_agent_window"
    PRIVATE = "private"
    PAUSED = "paused"
    """The agent's pause or card key is in force, whether or not a recording runs."""
    PAYMENT = "payment"


@dataclass(frozen=True)
class ListenFacts:
    """What S8 needs to know of a call, as its coordinator knows it now."""

    agent: Agent | None
    talking: bool
    """Both parties bridged and still there."""
    caller_objected: bool
    """Objected on this call, remembered from before, or not known yet."""
    private: bool
    paused: bool
    in_payment: bool


def listen_refusal(
    facts: ListenFacts, *, now: dt.datetime, timezone: ZoneInfo, staff_informed: dt.date | None
) -> ListenRefusal | None:
    """S8: listening live is allowed only where the call could be recorded now: the
    same clauses as the agent's on-demand recording (A4: objection, A8, protection,
    published periods), and not while the call is private, paused or in the payment
    IVR. None: allowed."""
    if not facts.talking:
        return ListenRefusal.NOT_TALKING
    recordable = on_demand_refusal(
        facts.agent,
        caller_objected=facts.caller_objected,
        now=now,
        timezone=timezone,
        staff_informed=staff_informed,
    )
    if recordable is not None:
        return ListenRefusal(recordable.value)
    if facts.private:
        return ListenRefusal.PRIVATE
    if facts.in_payment:
        return ListenRefusal.PAYMENT
    if facts.paused:
        return ListenRefusal.PAUSED
    return None
