"""Live listening (S8) against the real Asterisk: a supervisor's phone (a Local channel
that records what it hears) listens to a call through the daemon's API; the agent's
pause or private key cuts it at once, the pause key also on a call not recorded. The
audio is the evidence."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.access.credentials import hash_token
from controller.calls.ids import listener_leg, snoop_channel
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.audio import read_wav, tone_seconds
from tests.integration.flow import (
    AGENT_VOICE,
    CALLER_VOICE,
    Flow,
    running_flow,
    service,
)
from tests.integration.listening import (
    MARKER,
    agent_presses,
    agent_waiting_for_keys,
    cut_after_key,
    gone,
    heard_by,
    heard_for,
    supervisor_phone,
)
from tests.waiting import eventually, until

CALLER_NUMBER = "+33611117777"


def listening_access(
    site: SandboxSite, tag: str, other: str = "support"
) -> tuple[dict[str, Any], dict[str, str]]:
    """The access section (a supervisor with a phone, a quality analyst, a supervisor of
    the ``other`` service) and each person's token."""
    folder = site.workdir / "access"
    folder.mkdir(parents=True, exist_ok=True)
    people = {
        "anne": ("supervisor", ["sales"], supervisor_phone(tag)),
        "quentin": ("quality", ["sales"], None),
        "rita": ("supervisor", [other], supervisor_phone(f"{tag}x")),
    }
    persons: dict[str, Any] = {}
    tokens: dict[str, str] = {}
    for pid, (role, scope, phone) in people.items():
        tokens[pid] = secrets.token_urlsafe(32)
        hashed = folder / f"{pid}.token-hash"
        hashed.write_text(hash_token(tokens[pid]) + "\n")
        persons[pid] = {"name": pid.capitalize(), "role": role, "services": scope}
        persons[pid] |= {"token_hash_file": str(hashed)} | ({"phone": phone} if phone else {})
    return {"persons": persons}, tokens


async def listen(
    flow: Flow, http: aiohttp.ClientSession, token: str, person: str, call_id: str
) -> tuple[int, dict[str, Any]]:
    config = flow.daemon.config
    url = f"http://{config.web.host}:{config.web.port}/api/calls/{call_id}/listen"
    headers = {"Authorization": f"Bearer {token}", "X-Reccontrol-Person": person}
    async with http.post(url, json={"purpose": "coaching a new agent"}, headers=headers) as r:
        return r.status, await r.json()


async def recorded_call(flow: Flow) -> str:
    """Waits until Alice talks on a call whose recording runs; returns the call id."""

    async def probe() -> str | None:
        call_id = flow.daemon.calls.find_call(agent_id="alice")
        if call_id is None:
            return None
        summary = await flow.daemon.query(lambda s: s.call_summary(call_id))
        return call_id if any(r["state"] == "live" for r in summary["recordings"]) else None

    return await eventually(probe, "a recorded call answered by alice")


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


@pytest.mark.parametrize("key", ["*2", "*7"], ids=["pause", "private"])
async def test_s8_the_supervisor_hears_the_call_until_the_agent_pauses_or_goes_private(
    site: SandboxSite, key: str
) -> None:
    """S8: the supervisor's phone hears both parties while listening is on; the agent's
    pause (A5) or private (A2) key hangs it up at once: nothing the agent says after the
    key reaches it. A quality analyst (403) and a supervisor of another service (404,
    as for a call that does not exist) are refused."""
    tag = f"lst{secrets.token_hex(4)}"
    services = {
        "sales": service(site, target=agent_waiting_for_keys(tag)),
        "support": service(site),
    }
    access, tokens = listening_access(site, tag)
    heard = heard_by(site.instance, tag)
    async with running_flow(site, services=services, draws=[0.0], access=access) as flow:
        caller = await flow.board.call("sales", "c-talk-90", CALLER_NUMBER)
        call_id = await recorded_call(flow)
        async with aiohttp.ClientSession() as http:
            assert (await listen(flow, http, tokens["quentin"], "quentin", call_id))[0] == 403
            status, body = await listen(flow, http, tokens["rita"], "rita", call_id)
            assert (status, body["error_id"]) == (404, "not-found")
            status, body = await listen(flow, http, tokens["anne"], "anne", call_id)
            assert (status, body) == (202, {"call_id": call_id, "status": "dialling"})
        await heard_for(heard, 3.0)
        await agent_presses(flow.board.client, tag, key)
        await gone(flow.board.client, listener_leg(call_id, 1))
        await gone(flow.board.client, snoop_channel(call_id, 1))
        assert flow.daemon.calls.listener(call_id) is None
        await flow.board.client.hangup(caller.id)
        # A private call leaves no row to wait for (A2): its end is the daemon's.
        await until(lambda: flow.daemon.calls.active_calls == 0, "the call ended")
        entries = await flow.daemon.query(lambda s: list(s.access_entries()))

    audio = read_wav(heard)
    assert tone_seconds(audio, CALLER_VOICE) >= 2.0 and tone_seconds(audio, AGENT_VOICE) >= 2.0
    leaked = tone_seconds(audio, MARKER)
    cut = cut_after_key(audio)
    print(f"measured live_listening_{key} marker_heard_s={leaked:.3f} cut_after_key_s={cut:.3f}")
    assert leaked == 0.0
    listens = [(e.actor, e.action, e.result) for e in entries if e.action == "live_listen"]
    assert listens == [
        ("quentin", "live_listen", "refused"),
        ("rita", "live_listen", "refused"),
        ("anne", "live_listen", "ok"),
    ]


async def unrecorded_call(flow: Flow) -> str:
    """Waits until Alice talks on a call decided not sampled that may be listened to;
    returns the call id."""

    async def probe() -> str | None:
        call_id = flow.daemon.calls.find_call(agent_id="alice")
        if call_id is None or flow.daemon.calls.listen_refusal(call_id) is not None:
            return None
        summary = await flow.daemon.query(lambda s: s.call_summary(call_id))
        decided = summary is not None and summary["decision"] is not None
        return call_id if decided else None

    return await eventually(probe, "an unrecorded call answered by alice")


async def test_s8_the_pause_key_on_an_unrecorded_call_stops_the_listening(
    site: SandboxSite,
) -> None:
    """S8: on a call not sampled, nothing is recorded and nothing paused, yet the
    agent's pause key hangs up the supervisor's phone at once: nothing the agent says
    after the key reaches it, and a new request is refused (409, ``paused``)."""
    tag = f"lsu{secrets.token_hex(4)}"
    services = {
        "sales": service(site, target=agent_waiting_for_keys(tag)),
        "support": service(site),
    }
    access, tokens = listening_access(site, tag)
    heard = heard_by(site.instance, tag)
    # A draw above the sampling rate (0.5): the call is not recorded.
    async with running_flow(site, services=services, draws=[0.99], access=access) as flow:
        caller = await flow.board.call("sales", "c-talk-90", CALLER_NUMBER)
        call_id = await unrecorded_call(flow)
        async with aiohttp.ClientSession() as http:
            status, body = await listen(flow, http, tokens["anne"], "anne", call_id)
            assert (status, body) == (202, {"call_id": call_id, "status": "dialling"})
            await heard_for(heard, 3.0)
            await agent_presses(flow.board.client, tag, "*2")
            await gone(flow.board.client, listener_leg(call_id, 1))
            await gone(flow.board.client, snoop_channel(call_id, 1))
            status, body = await listen(flow, http, tokens["anne"], "anne", call_id)
            assert (status, body["error_id"], body["message"]) == (409, "listen-refused", "paused")
        summary = await flow.daemon.query(lambda s: s.call_summary(call_id))
        await flow.board.client.hangup(caller.id)
        await until(lambda: flow.daemon.calls.active_calls == 0, "the call ended")

    assert summary is not None and summary["decision"]["reason"] == "not_sampled"
    assert summary["recordings"] == [] and summary["pauses"] == []
    audio = read_wav(heard)
    assert tone_seconds(audio, CALLER_VOICE) >= 2.0 and tone_seconds(audio, AGENT_VOICE) >= 2.0
    leaked = tone_seconds(audio, MARKER)
    cut = cut_after_key(audio)
    what = "live_listening_unrecorded_pause"
    print(f"measured {what} marker_heard_s={leaked:.3f} cut_after_key_s={cut:.3f}")
    assert leaked == 0.0
