"""The services' ``hold`` setting (A9): what an agent's hold does to the recording."""

from __future__ import annotations

import pytest

from tests.unit.test_config import Loader, load, mutate, problems_of  # noqa: F401


def test_a9_hold_is_pause_unless_the_service_says_record(load: Loader) -> None:  # noqa: F811
    assert load(mutate(lambda d: None)).services["sales"].hold == "pause"
    data = mutate(lambda d: d["services"]["sales"].update(hold="record"))
    assert load(data).services["sales"].hold == "record"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("mute", "must be one of pause, record; got 'mute'"),
        (True, "must be a string, not a boolean"),
        ("", "must not be empty"),
    ],
)
def test_a9_a_bad_hold_value_names_its_key_path(
    load: Loader,  # noqa: F811
    value: object,
    problem: str,
) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(hold=value))
    assert problems_of(load, data) == [f"services.sales.hold: {problem}"]
