"""A dialling Asterisk carries out but does not answer in time (R2), on the real
Asterisk: under load ``POST /channels`` was seen to take over the ARI request timeout
while Asterisk still dialled the agent, whose leg then answered into the application.
The call must not be given up for it: it is bridged and recorded as any other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.ari.errors import AriUnavailable
from controller.ari.models import Channel
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from controller.web.keys import ARI
from tests.integration.flow import running_flow, service

CALLER_NUMBER = "+33611114444"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def test_r2_an_agent_dialled_whose_answer_was_lost_is_bridged_and_recorded(
    site: SandboxSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = {"sales": service(site, target="Local/alice-talk@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        client = flow.daemon.app[ARI]
        originate = client.originate
        dialled: list[str] = []

        async def answer_lost(endpoint: str, **options: Any) -> Channel:
            # Asterisk dials for real; the daemon is told what a timed-out request tells.
            await originate(endpoint, **options)
            dialled.append(str(options.get("channel_id")))
            raise AriUnavailable("POST", "/channels", None, "no answer in time")

        monkeypatch.setattr(client, "originate", answer_lost)
        await flow.board.call("sales", "c-talk-9", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)
        vaulted = flow.vault_files()

    assert dialled == [f"rc-{call['id']}-agent"]
    assert call["outcome"] == "caller_hung_up" and call["agent_id"] == "alice"
    (rec,) = call["recordings"]
    assert rec["state"] == "stored" and vaulted == [Path(rec["path"])]
