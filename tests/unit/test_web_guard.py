"""The sign-in failure limit of the web API, on its own (S1, R2): counted per claimed
person, with a global cap that holds off those who failed and never those who did not."""

from __future__ import annotations

from controller.web.guard import FailureLimiter

PERSONS = ("crm", "mleroy", "rlambert", "snguyen")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, global_max: int = 50) -> FailureLimiter:
    return FailureLimiter(PERSONS, max_failures=5, window=60.0, global_max=global_max, clock=clock)


def test_s1_failures_count_per_person_and_made_up_names_share_one_count() -> None:
    clock = Clock()
    limits = limiter(clock)
    for _ in range(5):
        limits.failed("mleroy")
    assert limits.blocked("mleroy") and not limits.blocked("crm")
    for name in ("x1", "x2", "x3", "x4", "x5"):
        limits.failed(name)
    # A new name is no fresh start: every name outside the access list is one count.
    assert limits.blocked("x6") and not limits.blocked("crm")
    clock.now += 60.0
    assert not limits.blocked("mleroy") and not limits.blocked("x6")


def test_s1_global_cap_holds_off_those_who_failed_never_a_clean_person() -> None:
    """R2: past the global cap an identity with a failure in the window is refused at
    once, so spreading failures over many names cannot flood the access log; a person
    with no failure (the CRM with its right token) still gets through."""
    clock = Clock()
    limits = limiter(clock, global_max=8)
    for _ in range(4):
        limits.failed("mleroy")
        limits.failed("rlambert")
    assert limits.blocked("mleroy") and limits.blocked("rlambert")
    assert not limits.blocked("crm") and not limits.blocked("snguyen")
    limits.failed("snguyen")
    assert limits.blocked("snguyen") and not limits.blocked("crm")
    clock.now += 60.0
    assert not any(limits.blocked(person) for person in PERSONS)
