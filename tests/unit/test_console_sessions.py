"""The console's sessions (S1): idle timeout on the clock given, a bounded number with
the least recently used dropped first, a fresh id and CSRF token at each sign-in."""

from __future__ import annotations

from controller.web.console.sessions import Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_s1_a_session_unused_past_the_idle_time_is_over_and_use_keeps_it() -> None:
    clock = Clock()
    sessions = Sessions(idle=60, clock=clock)
    session = sessions.open("mleroy")
    clock.now += 59
    assert sessions.find(session.id) is session
    clock.now += 59  # used 59 s ago: still live
    assert sessions.find(session.id) is session
    clock.now += 61
    assert sessions.find(session.id) is None
    assert len(sessions) == 0


def test_s1_the_least_recently_used_goes_first_past_the_limit() -> None:
    clock = Clock()
    sessions = Sessions(idle=60, limit=2, clock=clock)
    first, second = sessions.open("a"), sessions.open("b")
    assert sessions.find(first.id) is first  # now second is the least recently used
    third = sessions.open("c")
    assert sessions.find(second.id) is None
    assert sessions.find(first.id) is first and sessions.find(third.id) is third


def test_s1_each_sign_in_gets_a_new_id_and_token_and_sign_out_ends_it() -> None:
    sessions = Sessions(idle=60)
    one, two = sessions.open("mleroy"), sessions.open("mleroy")
    assert one.id != two.id and one.csrf != two.csrf
    assert len(one.id) >= 43  # 256 bits, URL-safe base64
    assert not one.csrf_ok(None) and not one.csrf_ok(two.csrf) and one.csrf_ok(one.csrf)
    sessions.close(one.id)
    assert sessions.find(one.id) is None and sessions.find(two.id) is two
    assert sessions.find("") is None and sessions.find(None) is None
