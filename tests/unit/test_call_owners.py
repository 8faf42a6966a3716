"""Which call owns a channel or a recording (R3): every event finds its call, and a
call's end takes away what it owned and nothing of the others'."""

from __future__ import annotations

from controller.calls.owners import Owners


def test_r3_a_call_end_forgets_its_channels_and_no_other_call_s() -> None:
    owners = Owners()
    owners["rc-a-agent"] = "a"
    owners["caller-a"] = "a"
    owners["caller-b"] = "b"
    owners["rc-b-agent"] = "b"
    owners.forget_call("a")
    assert dict(owners) == {"caller-b": "b", "rc-b-agent": "b"}
    assert owners.get("caller-a") is None and owners.get("caller-a", "") == ""
    owners.forget_call("a")
    owners.forget_call("nobody")
    assert len(owners) == 2


def test_r3_a_channel_that_changes_call_is_forgotten_with_its_new_call_only() -> None:
    """A transfer's channel first seen for one call then taken by another (A7): the
    first call's end leaves it to the second."""
    owners = Owners()
    owners["transfer-chan"] = "a"
    owners["transfer-chan"] = "b"
    owners.forget_call("a")
    assert owners["transfer-chan"] == "b"
    del owners["transfer-chan"]
    owners.forget_call("b")
    assert "transfer-chan" not in owners and len(owners) == 0


def test_r3_reading_back_as_a_mapping() -> None:
    owners = Owners()
    owners.update({"x": "1", "y": "2"})
    assert {**owners} == {"x": "1", "y": "2"}
    assert set(owners) == {"x", "y"} and owners.get("z", "fallback") == "fallback"
