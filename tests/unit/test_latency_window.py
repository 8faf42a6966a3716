"""The protective keys' reaction times a daemon keeps for its benches and tests (R4):
the latest ones only, however long it runs, with the count of all."""

from __future__ import annotations

from controller.calls.latency import RecentLatencies


def test_r4_only_the_latest_reaction_times_are_kept_and_all_are_counted() -> None:
    times = RecentLatencies(window=3)
    for ms in (1.0, 2.0, 3.0, 4.0, 5.0):
        times.observe(ms)
    assert times.count == 5
    assert list(times) == [3.0, 4.0, 5.0]
    assert times.since(3) == [4.0, 5.0]
    assert times.since(5) == []
    # Older than the window holds: what it still has.
    assert times.since(0) == [3.0, 4.0, 5.0]
