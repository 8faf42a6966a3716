"""The FastAGI server's pure bounds: how many warnings a flood may log (with a clock in
the test's hands, no sleeps) and how many sessions the open-file limit allows (R2)."""

from __future__ import annotations

import resource

from controller.agi.server import WarningThrottle, session_cap, summary_text


def test_r2_the_first_warnings_are_logged_then_only_counted_until_the_interval_ends() -> None:
    throttle = WarningThrottle(burst=3, interval=60.0)
    logged = [throttle.note("refused at the cap", now=float(i) / 100).log for i in range(1000)]
    assert logged.count(True) == 3 and logged[:3] == [True, True, True]
    assert throttle.due_in(10.0) == 50.0
    assert throttle.tick(59.0) == {}
    assert throttle.tick(60.0) == {"refused at the cap": 997}
    assert throttle.due_in(60.0) is None


def test_r2_the_summary_counts_each_kind_and_comes_with_the_next_warning() -> None:
    throttle = WarningThrottle(burst=1, interval=10.0)
    throttle.note("bad header", 0.0)
    for kind in ["bad header"] * 4 + ["header timeout"] * 2 + ["unknown script"]:
        assert not throttle.note(kind, 1.0).log
    later = throttle.note("bad header", 11.0)
    assert later.log
    assert later.summary == {"bad header": 4, "header timeout": 2, "unknown script": 1}
    text = summary_text(later.summary, 10.0)
    assert "7" in text and "header timeout 2" in text


def test_r2_a_quiet_interval_starts_a_fresh_burst() -> None:
    throttle = WarningThrottle(burst=2, interval=10.0)
    assert [throttle.note("bad header", t).log for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert throttle.tick(20.0) == {"bad header": 1}
    assert [throttle.note("bad header", t).log for t in (21.0, 22.0, 23.0)] == [True, True, False]


def test_r2_sessions_at_once_leave_descriptors_to_the_rest_of_the_daemon() -> None:
    assert session_cap(100, 16384) == 100
    assert session_cap(10000, 1024) == 768  # a quarter kept back
    assert session_cap(10000, 256) == 192  # at least 64 kept back
    assert session_cap(100, 40) == 1
    assert session_cap(10000, resource.RLIM_INFINITY) == 10000
