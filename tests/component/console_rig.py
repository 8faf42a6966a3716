"""The daemon's application with its console, against a fake ARI, for the console's
component tests: sign a person in and get their session's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.audit.chain import Entry
from controller.config import Config, load_config
from controller.daemon import build_app
from controller.store import SqliteStore
from controller.web.console.render import SESSIONS
from controller.web.console.sessions import Sessions
from tests.component.fake_ari import PASSWORD, FakeAri, ari_section
from tests.sites import ENV, site_config, write_site

Client = TestClient[web.Request, web.Application]
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Console:
    client: Client
    config: Config
    root: Path
    fake_ari: FakeAri

    def token(self, person: str) -> str:
        return (self.root / "access" / f"{person}.token").read_text().strip()

    def access_log(self) -> list[Entry]:
        store = SqliteStore.open(self.config.store.path)
        try:
            return list(store.access_entries())
        finally:
            store.close()

    def with_store(self, fn: Callable[[SqliteStore], Any]) -> Any:
        store = SqliteStore.open(self.config.store.path)
        try:
            return fn(store)
        finally:
            store.close()

    async def form_token(self) -> str:
        """The sign-in form's token (double-submitted with its cookie)."""
        page = await self.client.get("/sign-in")
        found = CSRF_FIELD.search(await page.text())
        assert found is not None
        return found.group(1)

    async def sign_in(self, person: str) -> str:
        """Signs ``person`` in with their token; returns the session's CSRF token."""
        form = {"person": person, "secret": self.token(person), "kind": "token"}
        form |= {"csrf": await self.form_token(), "next": "/"}
        response = await self.client.post("/sign-in", data=form, allow_redirects=False)
        assert response.status == 303, await response.text()
        home = await self.client.get("/")
        assert home.status == 200
        found = CSRF_FIELD.search(await home.text())
        assert found is not None
        return found.group(1)


async def console_rig(
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None] | None = None,
    *,
    sessions_clock: Callable[[], float] | None = None,
) -> AsyncIterator[Console]:
    """Yields a running console; ``change`` edits the site's YAML data first;
    ``sessions_clock``, when given, is the clock its sessions' idle time is read from."""
    fake = FakeAri()
    ari = TestServer(fake.make_app())
    await ari.start_server()
    data = site_config(tmp_path)
    data["ari"] = ari_section(str(ari.make_url("")).rstrip("/"))
    if change is not None:
        change(data)
    config = load_config(
        write_site(tmp_path, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )
    app = build_app(config)
    if sessions_clock is not None:
        app[SESSIONS] = Sessions(config.web.session_idle_seconds, clock=sessions_clock)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Console(client, config, tmp_path, fake)
    finally:
        await client.close()
        await ari.close()
