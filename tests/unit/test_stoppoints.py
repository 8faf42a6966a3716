"""Crash tests name the step a daemon stops at (T4): a point by name, or its n-th reach."""

from __future__ import annotations

from collections import Counter

from controller.stoppoints import ENV, point_reached, stop_asked


def test_t4_a_named_point_stops_the_first_time() -> None:
    assert point_reached("did:Play", ["did:Play"], Counter()) == "did:Play"


def test_t4_a_counted_point_stops_only_at_its_nth_reach() -> None:
    reached: Counter[str] = Counter()
    points = ["did:Play@3", "vaulting"]
    hits = [point_reached("did:Play", points, reached) for _ in range(4)]
    assert hits == [None, None, "did:Play@3", None]


def test_t4_other_points_are_not_counted() -> None:
    reached: Counter[str] = Counter()
    assert point_reached("did:Answer", ["did:Play@1"], reached) is None
    assert reached == Counter()


def test_t4_a_point_is_asked_by_name_or_by_count() -> None:
    environ = {ENV: "store:OpenRecording,did:Play@5"}
    assert stop_asked("store:OpenRecording", environ)
    assert stop_asked("did:Play", environ)
    assert not stop_asked("store:BeginCall", environ)
    assert not stop_asked("did:Play", {})
