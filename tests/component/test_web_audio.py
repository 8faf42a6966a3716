"""Recordings served over HTTP (S4, S2): through the vault with byte ranges, a file
swapped in the vault refused, one access-log entry per listen however many ranges the
player asks for, and a recording outside the person's scope answered like one that does
not exist (and logged). On a real store thread, access service and vault; the person is
named by a header here, the console's sign-in being tested with the console."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.access.service import AccessService
from controller.clock import FixedClock
from controller.config import Config
from controller.config.encryption import site_vault
from controller.store import SqliteStore, StoreThread
from controller.web.audio import AudioGrants, Door, serve_grant, serve_recording
from tests.sites import add_recording, load_site, open_site, wav_bytes, write_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
PURPOSE = "coaching session prep"
AUDIO = wav_bytes(seconds=2.0)  # 32,044 bytes: several chunks of the player's ranges


@dataclass
class Site:
    client: TestClient[web.Request, web.Application]
    config: Config
    store: StoreThread[SqliteStore]
    grants: AudioGrants
    sales: str
    """A recording of the sales service."""

    async def vault_file(self, recording_id: str) -> Path:
        row = await self.store.run(lambda s: s.recording(recording_id))
        assert row is not None and row.path
        return Path(row.path)

    async def log(self) -> list[tuple[str, str, str, str]]:
        entries = await self.store.run(lambda s: list(s.access_entries()))
        return [(e.actor, e.action, e.target, e.result) for e in entries]

    async def get(
        self,
        person: str,
        recording: str,
        *,
        purpose: str = PURPOSE,
        action: str = "listen",
        range_: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"X-Person": person}
        if range_ is not None:
            headers["Range"] = range_
        params = {"purpose": purpose, "action": action}
        async with self.client.get(f"/r/{recording}", params=params, headers=headers) as answer:
            return answer.status, dict(answer.headers), await answer.read()


def door_app(
    config: Config, store: StoreThread[SqliteStore], grants: AudioGrants
) -> web.Application:
    """The audio routes as the console mounts them, with the person named by a header."""
    vault = site_vault(config.recordings).vault  # opens sealed files too (S10)
    app = web.Application()
    doors: list[Door] = []

    async def start(app: web.Application) -> None:
        service = await store.run(lambda db: AccessService(config, db, vault, FixedClock(T0)))
        doors.append(Door(store, service, vault, grants))

    async def recording(request: web.Request) -> web.StreamResponse:
        person = config.access.persons[request.headers["X-Person"]]
        query = request.query
        return await serve_recording(
            request, doors[0], person, query["action"], query["purpose"], request.match_info["id"]
        )

    async def granted(request: web.Request) -> web.StreamResponse:
        person = config.access.persons[request.headers["X-Person"]]
        info = request.match_info
        return await serve_grant(request, doors[0], person, info["id"], info["token"])

    app.on_startup.append(start)
    app.router.add_get("/r/{id}", recording)
    app.router.add_get("/g/{id}/{token}", granted)
    return app


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, audio: bytes, *, sealed: bool) -> AsyncIterator[Site]:
    """The audited door over HTTP on a site holding one sales recording of ``audio``,
    its vault sealed at rest (S10) or plaintext."""
    config = load_site(write_site(tmp_path))
    db, vault = open_site(config)
    if sealed:
        vault = site_vault(config.recordings, create_key=True).vault
    _, sales = add_recording(db, vault, config, service="sales", created_at=T0, audio=audio)
    db.close()
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key),
        SqliteStore.close,
    )
    await store.start()
    grants = AudioGrants()
    client: TestClient[web.Request, web.Application] = TestClient(
        TestServer(door_app(config, store, grants))
    )
    await client.start_server()
    try:
        yield Site(client, config, store, grants, sales)
    finally:
        await client.close()
        await store.stop()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with serving(tmp_path, AUDIO, sealed=False) as served:
        yield served


async def test_the_whole_recording_streams_through_the_vault_S4(site: Site) -> None:
    status, headers, body = await site.get("snguyen", site.sales)
    assert (status, body) == (200, AUDIO)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "audio/wav"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Length"] == str(len(AUDIO))
    assert "Content-Disposition" not in headers


@pytest.mark.parametrize(
    ("asked", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(AUDIO) - 1),
        ("bytes=-500", len(AUDIO) - 500, len(AUDIO) - 1),
        ("bytes=30000-99999999", 30000, len(AUDIO) - 1),
        ("bytes=-99999999", 0, len(AUDIO) - 1),
    ],
)
async def test_one_range_is_a_206_with_its_bytes_S4(
    site: Site, asked: str, start: int, end: int
) -> None:
    status, headers, body = await site.get("mleroy", site.sales, range_=asked)
    assert status == 206
    assert headers["Content-Range"] == f"bytes {start}-{end}/{len(AUDIO)}"
    assert body == AUDIO[start : end + 1]


async def test_a_range_past_the_end_is_a_416_S4(site: Site) -> None:
    status, headers, body = await site.get("mleroy", site.sales, range_=f"bytes={len(AUDIO)}-")
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(AUDIO)}"
    assert b"range-not-satisfiable" in body


async def test_several_ranges_or_a_malformed_one_get_the_whole_file_S4(site: Site) -> None:
    for asked in ("bytes=0-1,5-9", "bytes=9-2", "items=0-1", "bytes=abc"):
        status, _, body = await site.get("mleroy", site.sales, range_=asked)
        assert (status, body) == (200, AUDIO), asked


async def test_a_download_is_an_attachment_and_quality_may_not_download_S1(site: Site) -> None:
    status, headers, body = await site.get("mleroy", site.sales, action="download")
    assert (status, body) == (200, AUDIO)
    assert headers["Content-Disposition"] == f'attachment; filename="{site.sales}.wav"'
    status, _, body = await site.get("snguyen", site.sales, action="download")
    assert status == 403 and b'"forbidden"' in body
    assert (await site.log())[-2:] == [
        ("mleroy", "download", f"recording:{site.sales}", "ok"),
        ("snguyen", "download", f"recording:{site.sales}", "refused"),
    ]


async def test_a_listen_is_one_access_log_entry_however_many_ranges_S2(site: Site) -> None:
    """The player asks for the file many times for one listen: one entry, not one per
    range. A new purpose is a new access, with its own entry."""
    for asked in (None, "bytes=0-", "bytes=20000-", "bytes=100-199", "bytes=-10"):
        status, _, _ = await site.get("snguyen", site.sales, range_=asked)
        assert status in (200, 206)
    listens = [e for e in await site.log() if e[1] == "listen"]
    assert listens == [("snguyen", "listen", f"recording:{site.sales}", "ok")]
    await site.get("snguyen", site.sales, purpose="second review for the team")
    assert len([e for e in await site.log() if e[1] == "listen"]) == 2


async def test_a_grant_serves_its_person_only_and_writes_no_entry_S2(site: Site) -> None:
    await site.get("mleroy", site.sales)
    grant = site.grants.reuse("mleroy", site.sales, "listen", PURPOSE)
    assert grant is not None
    before = await site.log()
    url = f"/g/{site.sales}/{grant.token}"
    async with site.client.get(url, headers={"X-Person": "mleroy", "Range": "bytes=4-7"}) as a:
        assert (a.status, await a.read()) == (206, AUDIO[4:8])
    async with site.client.get(url, headers={"X-Person": "cdubois"}) as other:
        assert other.status == 404 and (await other.json())["error_id"] == "not-found"
    assert await site.log() == before


async def test_out_of_scope_is_answered_like_no_recording_and_logged_S1(site: Site) -> None:
    """rlambert supervises support: a sales recording is a 404 with the very body of a
    recording that does not exist (no existence leak); both refusals are logged."""
    status, _, outside = await site.get("rlambert", site.sales)
    missing_status, _, missing = await site.get("rlambert", "0123456789abcdef")
    assert (status, missing_status) == (404, 404)
    assert outside == missing
    assert b"support" not in outside and b"sales" not in outside
    assert (await site.log())[-2:] == [
        ("rlambert", "listen", f"recording:{site.sales}", "refused"),
        ("rlambert", "listen", "recording:0123456789abcdef", "refused"),
    ]


async def test_a_file_swapped_in_the_vault_is_refused_S4(site: Site) -> None:
    """Another file put in the recording's place (same owner, same name) does not match
    the recorded hash: refused, logged as an error, not a byte served."""
    path = await site.vault_file(site.sales)
    other = path.with_name("other")
    other.write_bytes(wav_bytes(seconds=2.0))
    os.replace(other, path)
    status, _, body = await site.get("mleroy", site.sales)
    assert status == 409 and b'"file-changed"' in body
    assert (await site.log())[-1] == ("mleroy", "listen", f"recording:{site.sales}", "error")


async def test_a_link_planted_in_the_vault_is_refused_S4(site: Site) -> None:
    path = await site.vault_file(site.sales)
    outside = path.parent.parent / "elsewhere.wav"
    outside.write_bytes(AUDIO)
    path.unlink()
    path.symlink_to(outside)
    status, _, body = await site.get("mleroy", site.sales)
    assert status == 409 and b'"vault-file-refused"' in body
    assert AUDIO[:64] not in body
    assert (await site.log())[-1][3] == "error"


async def test_a_file_swapped_after_the_listen_began_is_refused_S4(site: Site) -> None:
    """The grant serves the file whose hash it checked: a file put in its place between
    two ranges of the same listen is refused, even with the very same bytes."""
    status, _, _ = await site.get("mleroy", site.sales, range_="bytes=0-99")
    assert status == 206
    path = await site.vault_file(site.sales)
    copy = path.with_name("copy")
    copy.write_bytes(AUDIO)
    os.replace(copy, path)
    status, _, body = await site.get("mleroy", site.sales, range_="bytes=100-199")
    assert status == 409 and b'"file-changed"' in body


async def test_a_missing_file_is_a_410_logged_as_an_error_S4(site: Site) -> None:
    (await site.vault_file(site.sales)).unlink()
    status, _, body = await site.get("mleroy", site.sales)
    assert status == 410 and b'"file-missing"' in body
    assert (await site.log())[-1] == ("mleroy", "listen", f"recording:{site.sales}", "error")


async def test_ranges_asked_at_once_are_still_one_entry_S2(site: Site) -> None:
    """A player may open several ranges at once before the first is answered: they wait
    for the first one's grant instead of each writing an entry."""
    ranges = [f"bytes={n * 1000}-{n * 1000 + 999}" for n in range(6)]
    answers = await asyncio.gather(*(site.get("snguyen", site.sales, range_=r) for r in ranges))
    assert [status for status, _, _ in answers] == [206] * 6
    assert [body for _, _, body in answers] == [AUDIO[n * 1000 : n * 1000 + 1000] for n in range(6)]
    listens = [e for e in await site.log() if e[1] == "listen"]
    assert listens == [("snguyen", "listen", f"recording:{site.sales}", "ok")]
