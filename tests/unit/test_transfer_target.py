"""Who took a transferred call (R3, A7): read on the far half of the transfer's Local
channel, whatever kind of transfer it was."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import pytest

from controller.ari.client import AriClient
from controller.ari.errors import AriNotFound
from controller.ari.models import CallerId, Channel
from controller.calls.asterisk_view import AsteriskQueries
from controller.config import Config
from tests.sites import load_site, write_site
from tests.unit.test_naming import agent

ATTENDED_FAR = "Local/_attended@transfer-0000000a;2"
QUEUE_FAR = "Local/queue-support@sim-sip-phone-0000000b;2"


class FakeAsterisk:
    """The two ARI reads :meth:`AsteriskQueries.agent_behind` makes: the channels, and a
    channel's variables (an unset one reads "", as Asterisk answers)."""

    def __init__(self, name: str, variables: dict[str, str]) -> None:
        self.far = Channel("far-id", name, "Up", CallerId("", ""), CallerId("", ""), "fr", "", "")
        self.variables = variables

    async def list_channels(self) -> list[Channel]:
        return [self.far]

    async def get_variable(self, channel_id: str, variable: str) -> str:
        if channel_id != self.far.id:
            raise AriNotFound("GET", f"/channels/{channel_id}/variable", 404, "Channel not found")
        return self.variables.get(variable, "")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    site = load_site(write_site(tmp_path))
    agents = (agent("chloe", "PJSIP/chloe"), agent("bruno", "PJSIP/bruno", protected=True))
    return dataclasses.replace(site, agents={a.id: a for a in agents})


async def behind(config: Config, name: str, variables: dict[str, str]) -> str | None:
    queries = AsteriskQueries(cast(AriClient, FakeAsterisk(name, variables)), config)
    found = await queries.agent_behind(name)
    return found.id if found is not None else None


async def test_r3_an_attended_transfer_names_the_colleague_the_far_half_is_bridged_with(
    config: Config,
) -> None:
    """R3, A7: after an attended transfer the far half of Asterisk's Local link dialled
    nobody (no DIALEDPEERNAME): it took the consultation's place beside Chloé, whom
    BRIDGEPEER names. A protected colleague is found as himself, for the decision to
    refuse him."""
    assert await behind(config, ATTENDED_FAR, {"BRIDGEPEER": "PJSIP/chloe-00000003"}) == "chloe"
    assert await behind(config, ATTENDED_FAR, {"BRIDGEPEER": "PJSIP/bruno-00000004"}) == "bruno"


async def test_r3_a7_the_queue_member_or_dialled_phone_comes_before_the_bridge_peer(
    config: Config,
) -> None:
    """A7: a queue's member (MEMBERINTERFACE) and the phone Dial() reached win over the
    peer; nobody known behind the far half, or a peer that is no agent: nobody."""
    member = {"MEMBERINTERFACE": "PJSIP/chloe", "BRIDGEPEER": "PJSIP/bruno-00000004"}
    assert await behind(config, QUEUE_FAR, member) == "chloe"
    dialled = {"DIALEDPEERNAME": "PJSIP/bruno-00000004", "BRIDGEPEER": "PJSIP/chloe-00000003"}
    assert await behind(config, QUEUE_FAR, dialled) == "bruno"
    assert await behind(config, ATTENDED_FAR, {}) is None
    assert await behind(config, ATTENDED_FAR, {"BRIDGEPEER": "PJSIP/trunk-00000001"}) is None
