"""The daemon looks its configured sounds up in Asterisk once connected, and again after
each reconnection (C1, C3): an alert row and a /healthz figure for each one missing; on
the real daemon application against a fake ARI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.config import load_config
from controller.daemon import build_app
from controller.store import SqliteStore
from tests.component.fake_ari import PASSWORD, USERNAME, FakeAri
from tests.sites import ENV, site_config, write_site
from tests.waiting import eventually, until

ANNOUNCEMENT = "reccontrol/fr/announce"


@pytest.fixture
async def daemon(
    tmp_path: Path,
) -> AsyncIterator[tuple[FakeAri, TestClient[web.Request, web.Application]]]:
    fake = FakeAri(missing_sounds={ANNOUNCEMENT})
    server = TestServer(fake.make_app())
    await server.start_server()
    data = site_config(tmp_path)
    data["ari"] = {
        "url": str(server.make_url("")).rstrip("/"),
        "username": USERNAME,
        "password_env": "RECCONTROL_ARI_PASSWORD",
    }
    data["services"]["support"]["announcement"]["sound"] = "reccontrol/fr/support"
    config = load_config(
        write_site(tmp_path, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(build_app(config)))
    await client.start_server()
    yield fake, client
    await client.close()
    await server.close()


def sound_alerts(root: Path) -> list[dict[str, Any]]:
    store = SqliteStore.open(root / "store.sqlite3")
    try:
        return list(
            store.db.query(
                "SELECT kind, message, call_id FROM alerts WHERE kind = 'sound_missing' ORDER BY id"
            )
        )
    finally:
        store.close()


async def figures(client: TestClient[web.Request, web.Application], root: Path) -> dict[str, Any]:
    token = (root / "access" / "cdubois.token").read_text().strip()
    response = await client.get(
        "/healthz", params={"person": "cdubois"}, headers={"Authorization": f"Bearer {token}"}
    )
    answer: dict[str, Any] = await response.json()
    return answer


async def checks_done(
    client: TestClient[web.Request, web.Application], root: Path, count: int
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await figures(client, root)
        return answer if answer["sound_checks"] >= count else None

    return await eventually(probe, f"{count} sound check(s)")


async def test_c1_missing_announcement_is_an_alert_at_start_naming_its_key_and_sound(
    tmp_path: Path, daemon: tuple[FakeAri, TestClient[web.Request, web.Application]]
) -> None:
    """C1: Asterisk has no ``reccontrol/fr/announce``: one alert row, not tied to a call,
    names ``services.sales.announcement.sound`` and the sound; /healthz counts it. The
    sounds Asterisk has raise nothing."""
    fake, client = daemon
    answer = await checks_done(client, tmp_path, 1)
    assert answer["sounds_missing"] == 1 and answer["sounds_not_checked"] == 0
    # The alert row goes through the store thread after the check is counted.
    await until(lambda: len(sound_alerts(tmp_path)) >= 1, "the alert row")
    (row,) = sound_alerts(tmp_path)
    assert row["call_id"] is None
    assert row["message"].startswith(
        f"services.sales.announcement.sound: the sound {ANNOUNCEMENT!r} does not exist"
    )
    asked = {seen.path for seen in fake.requests if seen.path.startswith("/ari/sounds/")}
    assert "/ari/sounds/reccontrol/fr/support" in asked and "/ari/sounds/beeperr" in asked


async def test_c1_a_reconnection_checks_again_and_alerts_only_what_is_newly_missing(
    tmp_path: Path, daemon: tuple[FakeAri, TestClient[web.Request, web.Application]]
) -> None:
    """C1, C3: after a reconnection (Asterisk may have restarted with other sounds) the
    sounds are checked again: still missing, no second row; a full notice that went
    missing meanwhile, a new row naming ``services.support.full_notice``."""
    fake, client = daemon
    # Alert rows go through the store thread after the check is counted: wait for them.
    await checks_done(client, tmp_path, 1)
    await until(lambda: len(sound_alerts(tmp_path)) == 1, "the first alert row")

    await fake.drop()
    answer = await checks_done(client, tmp_path, 2)
    assert answer["sounds_missing"] == 1

    fake.missing_sounds.add("reccontrol/fr/notice")
    await fake.drop()
    answer = await checks_done(client, tmp_path, 3)
    # The notice is shared by both services: one row for each key that names it, and
    # none again for the announcement still missing (a second one would make four).
    assert answer["sounds_missing"] == 3
    await until(lambda: len(sound_alerts(tmp_path)) >= 3, "the notice's alert rows")
    keys = sorted(row["message"].split(":")[0] for row in sound_alerts(tmp_path)[1:])
    assert keys == ["services.sales.full_notice", "services.support.full_notice"]
