"""A call transferred live after its keys went unheard (R1, R3, C2), against the fake ARI
server: the caller may have pressed the opt-out key while the events websocket was down,
so once the link is back the call keeps no audio, and the agent who then takes the
transfer is not recorded either; the new segment's decision row says why."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from controller.calls.ids import agent_leg
from tests.component.fake_ari import channel
from tests.component.test_adoption_transfers import CHLOE, LOCAL, NEAR, HeldAri, far_half
from tests.component.test_call_router import (
    CALLER,
    connected_and_recording,
    running_rig,
    send,
)
from tests.component.test_unheard_span import reconnected
from tests.waiting import eventually


def segments(store: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        query = "SELECT segment, agent_id, record, reason FROM segment_decisions"
        return [dict(r) for r in db.execute(query)]


async def test_r1_r3_c2_a_transfer_after_an_ari_cut_records_no_new_segment(
    tmp_path: Path,
) -> None:
    """Recorded before the cut; the link comes back (the recording is cancelled, DELETE),
    then Alice transfers the caller to Chloé, who answers: her segment is decided with
    her id, not recorded, for the reason ``keys_unheard``, and nothing starts recording."""
    fake = HeldAri()
    async with running_rig(tmp_path, fake=fake, more_agents=CHLOE) as rig:
        call_id, _, name = await connected_and_recording(rig)
        alice = channel(agent_leg(call_id), name="PJSIP/alice-00000001")
        near = channel(NEAR, name=f"{LOCAL};1")
        fake.answers[("GET", "/ari/channels")] = (200, [CALLER, alice, near, far_half()])
        # On the far half: the channel Dial() reached is Chloé's phone (A7).
        fake.variables["DIALEDPEERNAME"] = "PJSIP/chloe-00000002"
        await rig.router.handle(reconnected([CALLER["id"], alice["id"]], time.monotonic() - 3.0))
        await fake.seen("DELETE", f"/ari/recordings/live/{name}")
        records = len([r for r in fake.requests if r.path.endswith("/record")])

        await send(rig, "StasisStart", channel=near, args=[], replace_channel=alice)
        await send(rig, "ChannelStateChange", channel={**near, "state": "Up"})

        async def second() -> list[dict[str, Any]] | None:
            found = segments(tmp_path / "store.sqlite3")
            return found or None

        assert await eventually(second, "Chloé's segment decided") == [
            {"segment": 2, "agent_id": "chloe", "record": 0, "reason": "keys_unheard"}
        ]
        assert len([r for r in fake.requests if r.path.endswith("/record")]) == records
        assert call_id in rig.router.calls
