"""The proportionality policy, with a fixed clock and a seeded random source."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.config.service_model import Campaign, Exemption, Service
from controller.config.windows import WeeklyWindow
from controller.policy import Reason, Verdict, decide, on_demand_refusal
from tests.factories import OFFICE, STAFF_INFORMED, make_agent, make_service

PARIS = ZoneInfo("Europe/Paris")
# Wednesday 2026-12-02, 10:00 in Paris (09:00 UTC).
WEDNESDAY_10H = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def run(**kwargs: Any) -> Verdict:
    params: dict[str, Any] = {
        "objected_now": False,
        "remembered_objection": False,
        "now": WEDNESDAY_10H,
        "timezone": PARIS,
        "rng": random.Random(1),
        "staff_informed": STAFF_INFORMED,
    }
    service = kwargs.pop("service", make_service())
    agent = kwargs.pop("agent", make_agent())
    params.update(kwargs)
    return decide(service, agent, **params)


def test_sampled_when_draw_below_rate() -> None:
    """The service's rate decides, and the decision keeps rate and draw (P1, P3)."""
    rng = random.Random(3)
    expected_draw = random.Random(3).random()
    verdict = decide(
        make_service(sampling_rate=0.9),
        make_agent(),
        objected_now=False,
        remembered_objection=False,
        now=WEDNESDAY_10H,
        timezone=PARIS,
        rng=rng,
        staff_informed=STAFF_INFORMED,
    )
    assert expected_draw < 0.9
    assert verdict.record and verdict.reason is Reason.SAMPLED
    assert verdict.draw == expected_draw and verdict.rate == 0.9
    assert verdict.in_window and verdict.window == "alice mon, tue, wed, thu, fri 09:00-18:00"


def test_not_sampled_when_draw_above_rate() -> None:
    verdict = decide(
        make_service(sampling_rate=0.01),
        make_agent(),
        objected_now=False,
        remembered_objection=False,
        now=WEDNESDAY_10H,
        timezone=PARIS,
        rng=random.Random(3),
        staff_informed=STAFF_INFORMED,
    )
    assert not verdict.record and verdict.reason is Reason.NOT_SAMPLED
    assert verdict.draw is not None and verdict.draw >= 0.01


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"objected_now": True}, Reason.CALLER_OBJECTED),
        ({"remembered_objection": True}, Reason.REMEMBERED_OBJECTION),
        (
            {"service": make_service(campaign=Campaign(dt.date(2027, 1, 1), None))},
            Reason.OUTSIDE_CAMPAIGN,
        ),
        (
            {"service": make_service(campaign=Campaign(None, dt.date(2026, 12, 1)))},
            Reason.OUTSIDE_CAMPAIGN,
        ),
        (
            {
                "service": make_service(
                    windows=(WeeklyWindow(frozenset({5, 6}), dt.time(9), dt.time(12)),)
                )
            },
            Reason.OUTSIDE_SERVICE_WINDOW,
        ),
        ({"agent": None}, Reason.UNKNOWN_AGENT),
        (
            {"agent": make_agent(protected=True, protection_reason="staff representative")},
            Reason.PROTECTED_AGENT,
        ),
        ({"now": dt.datetime(2026, 12, 2, 18, 30, tzinfo=dt.UTC)}, Reason.OUTSIDE_AGENT_WINDOW),
        ({"now": dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)}, Reason.OUTSIDE_AGENT_WINDOW),
    ],
)
def test_refusals_make_no_draw(kwargs: dict[str, Any], reason: Reason) -> None:
    verdict = run(**kwargs)
    assert not verdict.record
    assert verdict.reason is reason
    assert verdict.draw is None


def test_windows_use_the_site_time_zone() -> None:
    # 08:30 UTC is 09:30 in Paris in winter: inside 09:00-18:00 local.
    """Service and agent windows are read in the site's time zone (P1, A1)."""
    verdict = run(
        now=dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC),
        service=make_service(sampling_rate=0.999),
    )
    assert verdict.reason is Reason.SAMPLED
    # 17:30 UTC is 18:30 in Paris: outside.
    verdict = run(now=dt.datetime(2026, 12, 2, 17, 30, tzinfo=dt.UTC))
    assert verdict.reason is Reason.OUTSIDE_AGENT_WINDOW


def test_overnight_window_runs_into_the_next_day() -> None:
    night = WeeklyWindow(frozenset({4}), dt.time(22), dt.time(6))  # Friday 22:00 - Sat 06:00
    assert night.contains(dt.datetime(2026, 12, 4, 23, 0))
    assert night.contains(dt.datetime(2026, 12, 5, 5, 59))
    assert not night.contains(dt.datetime(2026, 12, 5, 6, 0))
    assert not night.contains(dt.datetime(2026, 12, 3, 23, 0))  # Thursday night


def test_exemption_records_every_call_without_a_draw() -> None:
    """Only an exempted service records every call (P2)."""
    service = make_service(sampling_rate=1.0, exemption=Exemption("emergency obligation ..."))
    verdict = run(service=service)
    assert verdict.record and verdict.reason is Reason.RECORD_ALL_EXEMPTION
    assert verdict.draw is None


def test_exemption_still_respects_objection_and_protection() -> None:
    """An exemption never overrides an objection or a protected agent (A3, C4)."""
    service = make_service(sampling_rate=1.0, exemption=Exemption("emergency obligation ..."))
    assert run(service=service, objected_now=True).reason is Reason.CALLER_OBJECTED
    protected = make_agent(protected=True, protection_reason="x")
    assert run(service=service, agent=protected).reason is Reason.PROTECTED_AGENT


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_achieved_rate_matches_configured_rate_over_200_calls(seed: int, rate: float) -> None:
    """The achieved rate matches the configured one (P3)."""
    rng = random.Random(seed)
    service = make_service(sampling_rate=rate)
    sampled = sum(
        decide(
            service,
            make_agent(),
            objected_now=False,
            remembered_objection=False,
            now=WEDNESDAY_10H,
            timezone=PARIS,
            rng=rng,
            staff_informed=STAFF_INFORMED,
        ).record
        for _ in range(200)
    )
    # Binomial(200, rate): 4 standard deviations either side.
    sd = (200 * rate * (1 - rate)) ** 0.5
    assert abs(sampled - 200 * rate) <= 4 * sd, (sampled, rate)


def test_system_random_draws_are_not_reproducible() -> None:
    # P4: in production the draw comes from the OS CSPRNG.
    """In production the draws come from the OS CSPRNG (P4)."""
    a = random.SystemRandom()
    assert len({a.random() for _ in range(50)}) == 50


def test_on_demand_refusals() -> None:
    assert (
        on_demand_refusal(
            make_agent(),
            caller_objected=True,
            now=WEDNESDAY_10H,
            timezone=PARIS,
            staff_informed=STAFF_INFORMED,
        )
        is Reason.CALLER_OBJECTED
    )
    assert (
        on_demand_refusal(
            make_agent(protected=True, protection_reason="x"),
            caller_objected=False,
            now=WEDNESDAY_10H,
            timezone=PARIS,
            staff_informed=STAFF_INFORMED,
        )
        is Reason.PROTECTED_AGENT
    )
    assert (
        on_demand_refusal(
            make_agent(windows=(OFFICE,)),
            caller_objected=False,
            now=dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC),
            timezone=PARIS,
            staff_informed=STAFF_INFORMED,
        )
        is Reason.OUTSIDE_AGENT_WINDOW
    )
    assert (
        on_demand_refusal(
            make_agent(),
            caller_objected=False,
            now=WEDNESDAY_10H,
            timezone=PARIS,
            staff_informed=STAFF_INFORMED,
        )
        is None
    )


def test_whole_day_window() -> None:
    day = WeeklyWindow(frozenset({2}), dt.time(0), dt.time.max)
    assert day.contains(dt.datetime(2026, 12, 2, 0, 0))
    assert day.contains(dt.datetime(2026, 12, 2, 23, 59, 59))
    assert not day.contains(dt.datetime(2026, 12, 3, 0, 0))
    assert day.describe() == "wed 00:00-24:00"


# -- A8: the staff representatives are informed before anything is recorded ------------
EXEMPT = make_service(sampling_rate=1.0, exemption=Exemption("emergency obligation ..."))
# WEDNESDAY_10H is 2026-12-02 in Paris.
INFORMED_THAT_DAY = dt.date(2026, 12, 2)
INFORMED_NEXT_DAY = dt.date(2026, 12, 3)


@pytest.mark.parametrize(
    "service", [make_service(sampling_rate=0.999), EXEMPT], ids=["sampled", "exempt"]
)
@pytest.mark.parametrize("informed", [INFORMED_NEXT_DAY, None], ids=["later", "absent"])
def test_a8_nothing_recorded_before_the_staff_representatives_are_informed(
    service: Service, informed: dt.date | None
) -> None:
    """A sampled or exempt service records nothing before the day the staff
    representatives were informed, nor at all without that date; the decision says
    why, and no draw is spent (A8, P3)."""
    verdict = run(service=service, staff_informed=informed, rng=random.Random(1))
    assert not verdict.record
    assert verdict.reason is Reason.STAFF_NOT_INFORMED
    assert verdict.reason.value == "staff_not_informed"
    assert verdict.draw is None and not verdict.in_window


@pytest.mark.parametrize(
    ("service", "reason"),
    [(make_service(sampling_rate=0.999), Reason.SAMPLED), (EXEMPT, Reason.RECORD_ALL_EXEMPTION)],
    ids=["sampled", "exempt"],
)
def test_a8_recorded_from_the_day_the_staff_representatives_are_informed(
    service: Service, reason: Reason
) -> None:
    """From the date in the config on (that day included, in the site's time zone) the
    usual rules decide (A8)."""
    assert run(service=service, staff_informed=INFORMED_THAT_DAY).reason is reason
    # 23:30 UTC on 1 December is already 2 December in Paris.
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    night = make_agent(windows=(WeeklyWindow(frozenset({2}), dt.time(0), dt.time(6)),))
    assert run(service=service, agent=night, now=late, staff_informed=INFORMED_THAT_DAY).record


def test_a8_objection_still_comes_first() -> None:
    """A caller's objection is the reason stored even before the date (A8, C2)."""
    verdict = run(objected_now=True, staff_informed=None)
    assert verdict.reason is Reason.CALLER_OBJECTED


@pytest.mark.parametrize("informed", [INFORMED_NEXT_DAY, None], ids=["later", "absent"])
def test_a8_a4_on_demand_recording_refused_before_the_staff_representatives_are_informed(
    informed: dt.date | None,
) -> None:
    """An agent's own request to record for mediation is refused too (A8, A4)."""
    refusal = on_demand_refusal(
        make_agent(),
        caller_objected=False,
        now=WEDNESDAY_10H,
        timezone=PARIS,
        staff_informed=informed,
    )
    assert refusal is Reason.STAFF_NOT_INFORMED
    allowed = on_demand_refusal(
        make_agent(),
        caller_objected=False,
        now=WEDNESDAY_10H,
        timezone=PARIS,
        staff_informed=INFORMED_THAT_DAY,
    )
    assert allowed is None
