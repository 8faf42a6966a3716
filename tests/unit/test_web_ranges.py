"""Byte ranges and grants of the recordings' HTTP answers (S4, S2): pure functions and a
clock given by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.access.recordings import RecordingHandle
from controller.web.audio import AudioGrants
from controller.web.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    extension,
    media_type,
    requested_range,
)

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=0-499", ByteRange(0, 499)),
        ("bytes=500-", ByteRange(500, 999)),
        ("bytes=-1", ByteRange(999, 999)),
        ("bytes=-2000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        (" bytes=1-2 ", ByteRange(1, 2)),
        # Ignored: the whole file.
        ("bytes=5-1", None),
        ("bytes=0-1,3-4", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("items=0-1", None),
        ("bytes=٣-", None),  # an Arabic-Indic digit: digits are ASCII only
        ("bytes=0-" + "9" * 5000, ByteRange(0, 999)),
    ],
)
def test_the_range_to_serve_S4(header: str | None, expected: ByteRange | None) -> None:
    assert requested_range(header, SIZE) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=1000-", SIZE), ("bytes=-0", SIZE), ("bytes=0-", 0), ("bytes=-5", 0)],
)
def test_a_range_past_the_end_is_not_satisfiable_S4(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        requested_range(header, size)
    assert raised.value.error_id == "range-not-satisfiable"


def test_a_huge_start_is_not_satisfiable_rather_than_a_crash_S4() -> None:
    with pytest.raises(RangeNotSatisfiable):
        requested_range("bytes=" + "9" * 5000 + "-", SIZE)


def test_content_range_and_length() -> None:
    wanted = ByteRange(10, 19)
    assert (wanted.length, wanted.content_range(SIZE)) == (10, "bytes 10-19/1000")


def test_media_types_and_extensions_by_format() -> None:
    assert media_type("wav") == media_type("wav16") == "audio/wav"
    assert media_type("gsm") == "audio/x-gsm"
    assert media_type("strange") == "application/octet-stream"
    assert (extension("wav16"), extension("../x")) == ("wav16", "bin")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def handle(recording_id: str) -> RecordingHandle:
    return RecordingHandle(recording_id, Path("/vault") / recording_id, "wav", None, None)


def test_a_grant_is_its_persons_for_its_recording_only_S2() -> None:
    grants = AudioGrants(clock=Clock())
    grant = grants.add("mleroy", "listen", "coaching session prep", handle("r1"))
    assert grants.find(grant.token, "mleroy", "r1") is grant
    assert grants.find(grant.token, "snguyen", "r1") is None
    assert grants.find(grant.token, "mleroy", "r2") is None
    assert grants.find("guessed", "mleroy", "r1") is None
    assert grants.reuse("mleroy", "r1", "listen", "coaching session prep") is grant
    assert grants.reuse("mleroy", "r1", "download", "coaching session prep") is None
    assert grants.reuse("mleroy", "r1", "listen", "another purpose") is None


def test_a_grant_lapses_when_idle_and_at_its_lifetime_S2() -> None:
    clock = Clock()
    grants = AudioGrants(idle=10.0, lifetime=25.0, clock=clock)
    grant = grants.add("mleroy", "listen", "coaching session prep", handle("r1"))
    for now in (9.0, 18.0, 24.0):  # each use keeps it alive for another 10 s...
        clock.now = now
        assert grants.find(grant.token, "mleroy", "r1") is grant
    clock.now = 25.0  # ...up to its lifetime
    assert grants.find(grant.token, "mleroy", "r1") is None
    idle = grants.add("mleroy", "listen", "coaching session prep", handle("r2"))
    clock.now = 35.0
    assert grants.find(idle.token, "mleroy", "r2") is None


def test_grants_are_bounded_oldest_first() -> None:
    grants = AudioGrants(limit=2, clock=Clock())
    first, *others = [grants.add("p", "listen", "purpose x", handle(f"r{n}")) for n in range(3)]
    assert grants.find(first.token, "p", "r0") is None
    assert all(grants.find(g.token, "p", g.recording_id) is g for g in others)
