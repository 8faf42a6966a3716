"""The restart bench's pure parts (R1, C2): Asterisk's timestamps, key -> answer delays,
which feedback sound answers a probe's key, and the figures' names; no timing is
asserted here (speed lives in the bench)."""

from __future__ import annotations

import datetime as dt

from bench.restart import Observer, ari_time, delays_ms, figures

AT = dt.datetime(2026, 12, 7, 18, 40, tzinfo=dt.UTC)


def test_r1_asterisks_event_time_is_read_with_its_offset() -> None:
    assert ari_time("2026-12-07T18:40:00.123+0000") == AT + dt.timedelta(milliseconds=123)
    assert ari_time("2026-12-07T19:40:00.000+0100") == AT
    assert ari_time("2026-12-07T18:40:00.000+00:00") == AT


def test_r1_delays_pair_each_probes_key_with_its_pause() -> None:
    keys = {"p0": AT, "p1": AT, "p2": AT}
    done = {"p0": AT + dt.timedelta(milliseconds=3), "p1": AT - dt.timedelta(milliseconds=1)}
    # p2's pause never came: no figure for it; a pause stamped before its key (the
    # two clocks round to the millisecond) counts as 0.
    assert delays_ms(keys, done) == [3.0, 0.0]


def test_r1_figures_are_flat_keys_named_after_the_calls() -> None:
    found = figures(
        200,
        ready_s=1.5,
        adopted_s=2.25,
        key_ms=[2.0, 4.0, 9.0],
        anchor_ms=[2.0],
        during_adoption=2,
        lost_calls=0,
        lost_recordings=1,
        discarded_safe_side=202,
    )
    assert found == {
        "restart_200.ready_s": 1.5,
        "restart_200.adopted_s": 2.25,
        "restart_200.key_ms": 4.0,
        "restart_200.key_max_ms": 9.0,
        "restart_200.key_anchor_ms": 2.0,
        "restart_200.key_ratio": 2.0,
        "restart_200.keys_during_adoption": 2.0,
        "restart_200.lost_calls": 0.0,
        "restart_200.lost_recordings": 1.0,
        "restart_200.discarded_safe_side": 202.0,
    }


def test_r1_figures_not_measured_are_none() -> None:
    found = figures(
        10, ready_s=1.0, adopted_s=None, key_ms=[], anchor_ms=[], during_adoption=0,
        lost_calls=10, lost_recordings=10, discarded_safe_side=0,
    )  # fmt: skip
    assert found["restart_10.adopted_s"] is None and found["restart_10.key_ms"] is None
    assert found["restart_10.key_ratio"] is None and found["restart_10.key_max_ms"] is None


def test_r1_c2_a_probes_key_is_answered_by_its_calls_first_feedback_after_it() -> None:
    observer = Observer(calls={"rsp0": "c0ffee", "rsp1": "beef"})
    for playback, ms in (("rc-c0ffee-f1", -5), ("rc-c0ffee-f2", 7), ("rc-c0ffee-f3", 9)):
        stamp = (AT + dt.timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        observer.playback_started({"playback": {"id": playback}, "timestamp": f"{stamp}+0000"})
    # The caller's announcement is no feedback sound; the other probe had none yet.
    observer.playback_started(
        {"playback": {"id": "rc-beef-announce"}, "timestamp": "2026-12-07T18:40:00.001+0000"}
    )
    answered = observer.answered({"rsp0": AT, "rsp1": AT})
    assert answered == {"rsp0": AT + dt.timedelta(milliseconds=7)}
