"""The configured sounds checked against the real Asterisk's sound index at start (C1,
C3), and what a call does when its announcement is missing all the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from controller.store import SqliteStore
from tests.integration.flow import running_flow, service
from tests.waiting import eventually

MISSING = "reccontrol/en/no-such-announcement"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


def sound_alerts(store: SqliteStore) -> list[dict[str, Any]]:
    return list(
        store.db.query(
            "SELECT message, call_id FROM alerts WHERE kind = 'sound_missing' ORDER BY id"
        )
    )


async def test_c1_c3_missing_sounds_are_alerts_at_start_and_the_call_goes_on_unrecorded(
    site: SandboxSite,
) -> None:
    """C1, C3: at start the daemon asks Asterisk for every configured sound. An English
    service whose announcement Asterisk lacks, and a French service whose full notice
    exists only in other languages, give one alert each, naming the key path and the
    sound; the sounds Asterisk has in the right language (``vm-intro`` and ``sorry`` in
    English, the agent tones) give none. A call to the first service then hears no
    announcement: it still reaches its agent, and nothing is recorded, with the reason
    stored."""
    services = {
        "sales": service(
            site,
            language="en",
            announcement={"sound": MISSING, "version": "2026-01"},
            full_notice="vm-intro",
            no_agent_sound="sorry",
        ),
        "ventes": service(site, full_notice="vm-intro"),
    }
    async with running_flow(site, services=services, draws=[0.0]) as flow:

        async def two_alerts() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = await flow.daemon.query(sound_alerts)
            return rows if len(rows) >= 2 else None

        rows = await eventually(two_alerts, "two sound alerts")
        await flow.board.call("sales", "c-talk-8", "+33612345678")
        (call,) = await flow.daemon.wait_for_calls(1)
        assert flow.vault_files() == []
        assert len(await flow.daemon.query(sound_alerts)) == 2

    messages = sorted(row["message"] for row in rows)
    assert all(row["call_id"] is None for row in rows)
    assert messages[0].startswith(
        f"services.sales.announcement.sound: the sound {MISSING!r} does not exist in Asterisk"
    )
    assert messages[1].startswith("services.ventes.full_notice: the sound 'vm-intro' exists")
    assert "not in 'fr'" in messages[1]

    assert call["agent_id"] == "alice" and call["outcome"] == "caller_hung_up"
    assert call["announcement_completed"] == 0
    assert call["decision"]["reason"] == "announcement_not_played"
    assert call["recorded"] == 0 and call["recordings"] == []
