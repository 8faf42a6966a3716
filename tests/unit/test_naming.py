"""Names that must lead to the right person: which agent a channel or a queue member is
(A3, A7), and which agent a private line belongs to (A2)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.config import Config, ConfigError, load_config
from controller.config.model import Agent
from tests.factories import OFFICE
from tests.sites import ENV, load_site, site_config, write_site


def agent(agent_id: str, *endpoints: str, protected: bool = False) -> Agent:
    return Agent(
        id=agent_id,
        name=agent_id.title(),
        endpoints=endpoints,
        windows=(OFFICE,),
        protected=protected,
        protection_reason="staff representative" if protected else "",
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_site(write_site(tmp_path))


def with_agents(config: Config, *agents: Agent) -> Config:
    """A config holding these agents as given, whatever the loader would say of them."""
    return dataclasses.replace(config, agents={a.id: a for a in agents})


def load_problems(tmp_path: Path, change: Any) -> list[str]:
    data = site_config(tmp_path)
    change(data)
    path = tmp_path / "naming.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV)
    return [str(p) for p in info.value.problems]


# -- which agent a channel is (A3, A7) -----------------------------------------------
def test_a3_protected_alice_rep_is_never_taken_for_alice(config: Config) -> None:
    """A3: the protected ``alice-rep``'s channel is hers, not unprotected Alice's, even
    with Alice listed first; the same for the queue member a Queue() names."""
    sites = with_agents(
        config, agent("alice", "PJSIP/alice"), agent("rep", "PJSIP/alice-rep", protected=True)
    )
    rep = sites.agent_for_channel("PJSIP/alice-rep-0000001a")
    assert rep is not None and rep.id == "rep" and rep.protected
    alice = sites.agent_for_channel("PJSIP/alice-0000001b")
    assert alice is not None and alice.id == "alice"
    member = sites.agent_for_interface("PJSIP/alice-rep")
    assert member is not None and member.id == "rep"


@pytest.mark.parametrize(
    "name",
    [
        "PJSIP/alice-rep-0000001a",  # another phone: alice-rep
        "PJSIP/alice-rep",  # not a channel name: no counter
        "PJSIP/alice-0000001",  # a counter is at least 8 hex digits
        "PJSIP/alice-0000001A",  # ...written in lower case
        "PJSIP/alice;1",
        "PJSIP/alicex-0000001a",
        "SIP/alice-0000001a",  # another technology
        "Local/alice@agents-0000001a",  # a Local channel without its ;1 or ;2
    ],
)
def test_a7_a_channel_near_alice_is_nobody(config: Config, name: str) -> None:
    """A7: only Alice's own channel names are hers; anything else is an unknown agent,
    never recorded, rather than a guess."""
    sites = with_agents(config, agent("alice", "PJSIP/alice"))
    assert sites.agent_for_channel(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "PJSIP/alice-0000001a",
        "PJSIP/alice-ffffffff",
        "PJSIP/alice-100000000",
        "pjsip/alice-0a0b0c0d",
    ],
)
def test_a7_alice_is_found_by_asterisk_counter(config: Config, name: str) -> None:
    """A7: the counter Asterisk appends (``%08x``: 8 hex digits, more past 2^32)."""
    found = with_agents(config, agent("alice", "PJSIP/alice")).agent_for_channel(name)
    assert found is not None and found.id == "alice"


@pytest.mark.parametrize(
    ("endpoint", "name", "fits"),
    [
        ("Local/1001@agents", "Local/1001@agents-0000001a;1", True),
        ("Local/1001@agents", "Local/1001@agents-0000001a;2", True),
        ("Local/1001@agents", "Local/1001@other-0000001a;1", False),
        ("Local/1001@agents", "Local/10011@agents-0000001a;1", False),
        ("Local/1001@agents", "Local/1001-2@agents-0000001a;1", False),
        ("Local/1001", "Local/1001@agents-0000001a;1", True),
        ("Local/1001", "Local/1001@agents-deadbeef-0000001a;2", True),
        ("Local/alice", "Local/alice-talk@sim-agent-0000001a;1", False),
        ("Local/alice-*", "Local/alice-talk@sim-agent-0000001a;1", True),
        ("Local/alice-*", "Local/alice-keys-*1@sim-agent-0000001a;1", True),
        ("Local/alice-*", "Local/alice@sim-agent-0000001a;1", False),
        ("Local/alice-*@sim-agent", "Local/alice-talk@sim-other-0000001a;1", False),
    ],
)
def test_a7_local_channels_match_their_extension_exactly(
    config: Config, endpoint: str, name: str, fits: bool
) -> None:
    """A7: a Local channel is ``Local/<exten>@<context>-<counter>;1`` (or ``;2``); its
    extension matches exactly, or by an explicit ``*``."""
    found = with_agents(config, agent("alice", endpoint)).agent_for_channel(name)
    assert (found is not None) == fits


def test_a7_queue_member_interfaces_match_exactly(config: Config) -> None:
    """A7: ``MEMBERINTERFACE`` names an interface, without a counter: exactly."""
    sites = with_agents(
        config,
        agent("alice", "PJSIP/alice"),
        agent("bruno", "Local/bruno-talk@sim-agent"),
        agent("chloe", "Local/chloe-*"),
    )
    found = {
        interface: (a.id if (a := sites.agent_for_interface(interface)) else None)
        for interface in (
            "PJSIP/alice",
            "PJSIP/alice-rep",
            "PJSIP/alice-0000001a",
            "Local/bruno-talk@sim-agent",
            "Local/bruno-talk@sim-agent/n",
            "Local/bruno-talk-2@sim-agent",
            "Local/chloe-talk@sim-agent",
        )
    }
    assert found == {
        "PJSIP/alice": "alice",
        "PJSIP/alice-rep": None,
        "PJSIP/alice-0000001a": None,
        "Local/bruno-talk@sim-agent": "bruno",
        "Local/bruno-talk@sim-agent/n": "bruno",
        "Local/bruno-talk-2@sim-agent": None,
        "Local/chloe-talk@sim-agent": "chloe",
    }


def test_a7_the_closest_endpoint_wins(config: Config) -> None:
    """A7: an exact endpoint is closer than a ``*`` one, and a longer ``*`` closer than a
    shorter one, whatever the order of the agents."""
    sites = with_agents(
        config,
        agent("team", "Local/alice-*"),
        agent("rep", "Local/alice-rep-*", protected=True),
        agent("desk", "Local/alice-rep-desk@agents"),
    )
    ids = {
        name: (a.id if (a := sites.agent_for_channel(name)) else None)
        for name in (
            "Local/alice-talk@agents-0000001a;1",
            "Local/alice-rep-talk@agents-0000001a;1",
            "Local/alice-rep-desk@agents-0000001a;1",
        )
    }
    assert ids == {
        "Local/alice-talk@agents-0000001a;1": "team",
        "Local/alice-rep-talk@agents-0000001a;1": "rep",
        "Local/alice-rep-desk@agents-0000001a;1": "desk",
    }


def test_a7_two_agents_fitting_alike_is_nobody(config: Config) -> None:
    """A7: the loader refuses it; built anyway, neither agent is guessed."""
    sites = with_agents(config, agent("alice", "PJSIP/alice"), agent("bob", "PJSIP/alice"))
    assert sites.agent_for_channel("PJSIP/alice-0000001a") is None


# -- the loader refuses names that can be taken for one another (A3) -----------------
def _add_agent(data: dict[str, Any], agent_id: str, *endpoints: str) -> None:
    data["agents"][agent_id] = {
        "name": agent_id.title(),
        "endpoints": list(endpoints),
        "windows": [{"days": "mon-fri", "from": "09:00", "to": "17:00"}],
        "protected": True,
        "protection_reason": "staff representative",
    }


def test_a3_endpoints_that_prefix_one_another_are_refused_with_their_key(
    tmp_path: Path,
) -> None:
    """A3: ``PJSIP/alice`` and ``PJSIP/alice-rep`` on two agents are refused at load, the
    error naming both key paths."""
    problems = load_problems(tmp_path, lambda d: _add_agent(d, "rep", "PJSIP/x", "PJSIP/alice-rep"))
    assert problems == [
        "agents.rep.endpoints[1]: 'PJSIP/alice-rep' and agents.alice.endpoints[0] "
        "('PJSIP/alice') could be taken for one another: one name is the other followed by a "
        "dash, the way Asterisk writes a channel's counter: a channel of one could be read as "
        "the other's. Rename one of the phones, or list it under one agent only"
    ]


@pytest.mark.parametrize(
    ("theirs", "why"),
    [
        ("PJSIP/alice", "they name the same phone"),
        ("pjsip/alice", "they name the same phone"),
        ("Local/alice-*", None),
    ],
)
def test_a3_same_phone_on_two_agents_is_refused(
    tmp_path: Path, theirs: str, why: str | None
) -> None:
    def change(data: dict[str, Any]) -> None:
        data["agents"]["alice"]["endpoints"] = ["PJSIP/alice", "Local/alice-talk@sim-agent"]
        _add_agent(data, "rep", theirs)

    problems = load_problems(tmp_path, change)
    expected = why or "one channel name can fit both"
    (problem,) = problems
    assert problem.startswith("agents.rep.endpoints[0]: ") and expected in problem


def test_a3_unrelated_or_separate_context_endpoints_load(tmp_path: Path) -> None:
    data = site_config(tmp_path)
    _add_agent(data, "rep", "PJSIP/alicerep", "Local/alice-rep@desks", "SIP/alice-rep")
    data["agents"]["alice"]["endpoints"] = [
        "PJSIP/alice",
        "Local/alice@phones",
        "Local/alice-*@phones",
    ]
    path = write_site(tmp_path, data)
    config = load_config(path, environ=ENV)
    assert set(config.agents) == {"alice", "rep"}


@pytest.mark.parametrize(
    "endpoint",
    ["alice", "PJSIP/", "PJSIP/alice-*", "PJSIP/al ice", "Local/al*ice", "Local/@ctx", "Local/a@"],
)
def test_a7_endpoint_syntax_is_checked_with_its_key(tmp_path: Path, endpoint: str) -> None:
    problems = load_problems(
        tmp_path, lambda d: d["agents"]["alice"].update(endpoints=["PJSIP/alice", endpoint])
    )
    (problem,) = problems
    assert problem.startswith("agents.alice.endpoints[1]: must be a channel name")
    assert repr(endpoint) in problem


# -- private lines (A2) --------------------------------------------------------------
@pytest.mark.parametrize(
    "dialled", ["0100000101", "01 00 00 01 01", "+33100000101", "0033100000101", "33100000101"]
)
def test_a2_private_line_is_known_in_every_form(tmp_path: Path, dialled: str) -> None:
    """A2: a private line declared ``+33100000101`` is known whichever form the trunk or
    the dialplan passes on, the national ``0100000101`` first."""
    data = site_config(tmp_path)
    data["agents"]["alice"]["private_lines"] = ["+33100000101"]
    config = load_config(write_site(tmp_path, data), environ=ENV)
    owner = config.agent_for_private_line(dialled)
    assert owner is not None and owner.id == "alice"
    assert config.agent_for_private_line("0100000102") is None


def test_a2_private_line_declared_nationally_is_known_internationally(tmp_path: Path) -> None:
    data = site_config(tmp_path)
    data["agents"]["alice"]["private_lines"] = ["01 00 00 01 01"]
    config = load_config(write_site(tmp_path, data), environ=ENV)
    assert config.agents["alice"].private_lines == ("+33100000101",)
    owner = config.agent_for_private_line("+33100000101")
    assert owner is not None and owner.id == "alice"


@pytest.mark.parametrize("line", ["12", "not a number", "+33 1 00 00 01 0x"])
def test_a2_private_line_that_does_not_parse_is_refused_with_its_key(
    tmp_path: Path, line: str
) -> None:
    """A2: a private line that is no phone number would never match a call: refused at
    load, naming its key and not repeating the number."""
    problems = load_problems(
        tmp_path, lambda d: d["agents"]["alice"].update(private_lines=["+33100000101", line])
    )
    (problem,) = problems
    assert problem.startswith("agents.alice.private_lines[1]: is not a ")
    assert "privacy.default_region" in problem and line not in problem
