"""R3: the console shows a transferred call as one call in segments: its page and
``GET /api/calls/{id}`` list each agent who took it, in order, with times, the decision
taken for that agent and that segment's recordings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.store.records import Decision
from tests.component.console_rig import Console, console_rig
from tests.component.test_console_calls import with_documents
from tests.openapi import assert_matches_openapi
from tests.sites import add_recording, open_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
ANSWERED = T0 + dt.timedelta(minutes=1)  # Chloé answered the transfer
BACK = T0 + dt.timedelta(minutes=2)  # Chloé transferred it on to Bruno; it ends at 3


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for rig in console_rig(tmp_path, with_documents):
        yield rig


def seed_transferred_call(console: Console) -> tuple[str, str, str]:
    """Alice took the call (recorded), transferred it to Chloé (recorded in segment 2),
    who transferred it to Bruno (protected: not recorded). Returns (call, Alice's
    recording, Chloé's recording)."""
    store, vault = open_site(console.config)
    try:
        config = console.config
        call_id, first = add_recording(
            store, vault, config, service="sales", created_at=T0, agent_id="alice"
        )
        _, second = add_recording(
            store, vault, config, service="sales", created_at=ANSWERED, call_id=call_id,
            segment=2, agent_id="chloe",
        )  # fmt: skip
        store.record_decision(
            Decision(call_id, T0, True, "sampled", 0.5, 0.1, True, "office", "alice")
        )
        store.record_decision(
            Decision(call_id, ANSWERED, True, "sampled", 0.5, 0.1, True, "office", "chloe", 2)
        )
        store.record_decision(
            Decision(call_id, BACK, False, "protected_agent", 0.5, 0.1, True, "office", "bruno", 3)
        )
    finally:
        store.close()
    return call_id, first, second


def rows_of(html: str) -> list[str]:
    section = html.split('class="call-segments"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<tr data-segment="\d+">.*?</tr>', section, flags=re.S)


async def test_r3_a_transferred_calls_page_lists_its_segments_in_order(console: Console) -> None:
    """R3: the page has one row per segment, in order: Alice with her recording,
    Chloé with hers, Bruno with the decision that kept nothing of him."""
    call_id, first, second = seed_transferred_call(console)
    await console.sign_in("mleroy")
    page = await console.client.get(f"/calls/{call_id}")
    assert page.status == 200
    alice, chloe, bruno = rows_of(await page.text())
    assert 'data-segment="1"' in alice and ">alice<" in alice and first in alice
    assert 'data-segment="2"' in chloe and ">chloe<" in chloe and second in chloe
    assert ">bruno<" in bruno and "protected_agent" in bruno and "data-recording" not in bruno
    assert first not in chloe and second not in alice


async def test_r3_the_call_api_gives_the_segments_with_times_decisions_and_recordings(
    console: Console,
) -> None:
    """R3: ``segments`` in order, each ending when the next begins; each recording says
    its segment and agent; the answer matches the OpenAPI document."""
    call_id, first, second = seed_transferred_call(console)
    await console.sign_in("mleroy")
    answer = await console.client.get(f"/api/calls/{call_id}")
    assert answer.status == 200
    view = await answer.json()
    assert_matches_openapi(view, "GET", f"/api/calls/{call_id}", 200)
    summary = [
        (s["segment"], s["agent"], s["decision"]["reason"], s["recordings"])
        for s in view["segments"]
    ]
    assert summary == [
        (1, "alice", "sampled", [first]),
        (2, "chloe", "sampled", [second]),
        (3, "bruno", "protected_agent", []),
    ]
    assert [s["decision"]["record"] for s in view["segments"]] == [True, True, False]
    starts = [dt.datetime.fromisoformat(s["started_at"]) for s in view["segments"]]
    ends = [s["ended_at"] for s in view["segments"]]
    assert starts == [T0, ANSWERED, BACK]
    assert ends[:2] == [s["started_at"] for s in view["segments"][1:]]
    assert ends[2] == view["ended_at"]
    assert {(r["id"], r["segment"], r["agent"]) for r in view["recordings"]} == {
        (first, 1, "alice"),
        (second, 2, "chloe"),
    }
