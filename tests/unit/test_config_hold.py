"""The services' ``hold`` setting (A9): what an agent's hold does to the recording."""

from __future__ import annotations

import dataclasses

import pytest

from controller.config import load_config
from controller.documents import build_agent_notice, render
from tests.unit.test_config import Loader, load, mutate, problems_of  # noqa: F401
from tests.unit.test_documents import ENV, GOLDEN


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


def test_a9_a6_the_agent_notice_says_what_the_hold_key_does_service_by_service() -> None:
    """A9, A6: agents are told, per service, whether their hold pauses the recording or
    not, and that the caller's music on hold is never recorded."""
    site = load_config(GOLDEN / "site.yaml", environ=ENV)
    first, *others = site.services.values()
    recorded = dataclasses.replace(first, hold="record")
    site = dataclasses.replace(site, services={first.name: recorded, **{s.name: s for s in others}})
    text = render(build_agent_notice(site), "md")
    assert "musique d'attente, qui n'est jamais enregistrée" in text
    assert f"{first.label} : l'enregistrement continue pendant l'attente." in text
    assert others, "the golden site has a second service, left with the default"
    paused = ", ".join(s.label for s in others)
    assert f"{paused} : l'enregistrement est mis en pause jusqu'à ce que" in text
