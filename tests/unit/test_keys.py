"""Agent key sequences: only whole sequences, typed in time, do anything."""

from __future__ import annotations

from controller.calls.keys import KeyMatcher

SEQUENCES = {"start": "*1", "pause": "*2", "resume": "*3", "private": "*7", "payment": "*8"}


def matcher() -> KeyMatcher:
    return KeyMatcher(dict(SEQUENCES), inter_digit_timeout=2.0)


def press(m: KeyMatcher, keys: str, start: float = 0.0, gap: float = 0.3) -> list[str | None]:
    return [m.feed(k, start + i * gap) for i, k in enumerate(keys)]


def test_each_sequence_is_recognised() -> None:
    for action, keys in SEQUENCES.items():
        assert press(matcher(), keys)[-1] == action


def test_random_digits_change_nothing() -> None:
    m = matcher()
    assert press(m, "5#4**9#0") == [None] * 8
    assert m.pending == ""


def test_star_star_then_digit_still_matches() -> None:
    # "**2": the second star restarts the sequence.
    assert press(matcher(), "**2") == [None, None, "pause"]


def test_inter_digit_timeout_drops_a_stale_prefix() -> None:
    m = matcher()
    assert m.feed("*", 0.0) is None
    assert m.feed("2", 2.5) is None
    assert m.pending == ""


def test_sequences_in_a_row() -> None:
    assert press(matcher(), "*2*3") == [None, "pause", None, "resume"]


def test_noise_before_a_sequence() -> None:
    assert press(matcher(), "45*7") == [None, None, None, "private"]
