"""The configurations in force (D3): the daemon records each configuration it loads, by
SHA-256 and date, on the real daemon application against a fake ARI."""

from __future__ import annotations

import hashlib
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


@pytest.fixture
async def fake_ari() -> AsyncIterator[TestServer]:
    server = TestServer(FakeAri().make_app())
    await server.start_server()
    yield server
    await server.close()


async def run_once(root: Path, ari: TestServer, rate: float) -> str:
    """Starts and stops the daemon on a config whose sales rate is ``rate``; returns the
    config's canonical text."""
    data = site_config(root)
    data["ari"] = {
        "url": str(ari.make_url("")).rstrip("/"),
        "username": USERNAME,
        "password_env": "RECCONTROL_ARI_PASSWORD",
    }
    data["services"]["sales"]["sampling"] = {"rate": rate}
    config = load_config(
        write_site(root, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(build_app(config)))
    await client.start_server()
    await client.close()
    return config.canonical_yaml


def loads(root: Path) -> list[dict[str, Any]]:
    store = SqliteStore.open(root / "store.sqlite3")
    try:
        return list(
            store.db.query(
                "SELECT l.loaded_at, l.sha256, t.yaml FROM config_loads l "
                "JOIN config_texts t USING (sha256) ORDER BY l.id"
            )
        )
    finally:
        store.close()


async def test_d3_each_daemon_start_records_the_configuration_in_force(
    tmp_path: Path, fake_ari: TestServer
) -> None:
    """D3: every start stores the loaded configuration's canonical text and SHA-256 with
    the time; a changed config is a new text, the same one again a new load of it."""
    first = await run_once(tmp_path, fake_ari, 0.5)
    second = await run_once(tmp_path, fake_ari, 0.25)
    await run_once(tmp_path, fake_ari, 0.5)
    rows = loads(tmp_path)
    assert [r["sha256"] for r in rows] == [
        hashlib.sha256(text.encode()).hexdigest() for text in (first, second, first)
    ]
    assert [r["yaml"] for r in rows] == [first, second, first]
    assert "rate: 0.25" in second and "rate: 0.5" in first
    assert rows[0]["loaded_at"] <= rows[1]["loaded_at"] <= rows[2]["loaded_at"]
    assert "ari-password" not in "".join(r["yaml"] for r in rows)  # only where it comes from
