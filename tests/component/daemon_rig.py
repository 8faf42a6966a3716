"""The real daemon application against a fake ARI server, for the monitoring routes'
tests (/healthz, /readyz, /metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.config import Config, load_config
from controller.daemon import build_app
from tests.component.fake_ari import PASSWORD, FakeAri, ari_section
from tests.sites import ENV, site_config, write_site
from tests.waiting import eventually


@dataclass
class Rig:
    client: TestClient[web.Request, web.Application]
    fake: FakeAri
    config: Config
    root: Path

    @property
    def app(self) -> web.Application:
        return self.client.app

    def token(self, person: str) -> str:
        return (self.root / "access" / f"{person}.token").read_text().strip()

    async def figures(self, person: str = "cdubois") -> dict[str, Any]:
        """/healthz as a person of the access list sees it."""
        response = await self.client.get(
            "/healthz",
            params={"person": person},
            headers={"Authorization": f"Bearer {self.token(person)}"},
        )
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        response = await self.client.get("/readyz")
        body: dict[str, Any] = await response.json()
        return response.status, body

    async def not_ready(self) -> list[str]:
        """The ``error_id``s /readyz names, once it answers 503."""

        async def probe() -> list[str] | None:
            status, body = await self.readiness()
            if status != 503:
                return None
            return [p["error_id"] for p in body["not_ready"]]

        return await eventually(probe, "/readyz answering 503")

    async def ready(self) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            status, body = await self.readiness()
            return body if status == 200 else None

        return await eventually(probe, "/readyz answering 200", every=0.01)


@asynccontextmanager
async def running(
    root: Path,
    *,
    web_extra: dict[str, Any] | None = None,
    audit_extra: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> AsyncIterator[Rig]:
    """The daemon, its fake ARI, and ``web_extra`` and ``audit_extra`` merged into the
    ``web`` and ``audit`` sections."""
    fake = FakeAri()
    ari = TestServer(fake.make_app())
    await ari.start_server()
    data = site_config(root)
    data["ari"] = ari_section(str(ari.make_url("")).rstrip("/"))
    data["web"] |= web_extra or {}
    data["audit"] |= audit_extra or {}
    env = {**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD, **(environ or {})}
    config = load_config(write_site(root, data), environ=env)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(build_app(config)))
    await client.start_server()
    try:
        yield Rig(client, fake, config, root)
    finally:
        await client.close()
        await ari.close()
