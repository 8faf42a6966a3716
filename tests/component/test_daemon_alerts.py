"""Alerts the daemon raises about its own deployment (S7): an access log without a key,
and a witness file it cannot write; on the real daemon application against a fake ARI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.config import load_config
from controller.config.model import Config
from controller.daemon import build_app
from controller.store import SqliteStore
from tests.component.fake_ari import PASSWORD, USERNAME, FakeAri
from tests.sites import ENV, site_config, write_site
from tests.waiting import eventually


@dataclass
class Running:
    client: TestClient[web.Request, web.Application]
    config: Config
    root: Path

    def alerts(self) -> list[dict[str, Any]]:
        store = SqliteStore.open(self.config.store.path)
        try:
            return list(store.db.query("SELECT kind, message, call_id FROM alerts ORDER BY id"))
        finally:
            store.close()

    async def figures(self) -> dict[str, Any]:
        token = (self.root / "access" / "cdubois.token").read_text().strip()
        response = await self.client.get(
            "/healthz", params={"person": "cdubois"}, headers={"Authorization": f"Bearer {token}"}
        )
        answer: dict[str, Any] = await response.json()
        return answer


@pytest.fixture
async def fake_ari() -> AsyncIterator[TestServer]:
    server = TestServer(FakeAri().make_app())
    await server.start_server()
    yield server
    await server.close()


async def start(root: Path, ari: TestServer, audit: dict[str, Any]) -> Running:
    data = site_config(root)
    data["ari"] = {
        "url": str(ari.make_url("")).rstrip("/"),
        "username": USERNAME,
        "password_env": "RECCONTROL_ARI_PASSWORD",
    }
    data["audit"] = audit
    config = load_config(
        write_site(root, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(build_app(config)))
    await client.start_server()
    return Running(client, config, root)


async def test_unwritable_witness_file_raises_one_alert_and_a_healthz_figure_S7(
    tmp_path: Path, fake_ari: TestServer
) -> None:
    """S7: a witness file the daemon cannot write (here its folder is a plain file, as
    good as read-only to root too) leaves the log's tail unprotected: an alert row naming
    the key and the file, and /healthz counts the failed publications."""
    blocker = tmp_path / "witness-folder"
    blocker.write_text("not a folder\n")
    witness = blocker / "audit-head.log"
    running = await start(
        tmp_path,
        fake_ari,
        {
            "checkpoint_key_env": "RECCONTROL_AUDIT_KEY",
            "witness_file": str(witness),
            "witness_interval_seconds": 10,
        },
    )
    try:

        async def witness_alert() -> list[dict[str, Any]] | None:
            rows = [r for r in running.alerts() if r["kind"] == "audit_witness_unwritable"]
            return rows or None

        (row,) = await eventually(witness_alert, "the witness alert row")
        assert row["call_id"] is None
        assert "audit.witness_file" in row["message"] and str(witness) in row["message"]
        figures = await running.figures()
        assert figures["witness_failures"] >= 1
    finally:
        await running.client.close()


async def test_writable_witness_reports_no_failure_S7(
    tmp_path: Path, fake_ari: TestServer
) -> None:
    """S7: the same daemon with a witness it can write raises nothing: the figure is 0."""
    witness = tmp_path / "witness" / "audit-head.log"
    witness.parent.mkdir()
    running = await start(
        tmp_path,
        fake_ari,
        {
            "checkpoint_key_env": "RECCONTROL_AUDIT_KEY",
            "witness_file": str(witness),
            "witness_interval_seconds": 3600,
        },
    )
    try:

        async def published() -> bool | None:
            return True if witness.exists() and witness.read_text() else None

        await eventually(published, "the first witness line")
        assert (await running.figures())["witness_failures"] == 0
        assert running.alerts() == []
    finally:
        await running.client.close()


async def test_unkeyed_daemon_raises_an_alert_at_start_S7(
    tmp_path: Path, fake_ari: TestServer
) -> None:
    """S7: a daemon started without the audit key says so in an alert row, naming the key
    to set."""
    running = await start(tmp_path, fake_ari, {"retention_days": 365})
    try:
        kinds = [(r["kind"], r["call_id"]) for r in running.alerts()]
        assert kinds == [("audit_unkeyed", None)]
        assert "audit.checkpoint_key_file" in running.alerts()[0]["message"]
    finally:
        await running.client.close()
