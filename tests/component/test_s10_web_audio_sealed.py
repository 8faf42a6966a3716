"""S10: a recording sealed at rest is served over HTTP as the plaintext: its length,
every byte range (across the 64 KiB chunks of the sealed file), and a changed file
refused before a byte is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.config.encryption import site_vault
from controller.recordings.sealing import CHUNK, HEADER_SIZE, TAG, is_sealed
from controller.store import SqliteStore, StoreThread
from controller.web.audio import AudioGrants
from tests.component.test_web_audio import T0, Site, door_app
from tests.sites import add_recording, load_site, open_site, wav_bytes, write_site

AUDIO = wav_bytes(seconds=10.0)  # 160,044 bytes: three chunks sealed


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    config = load_site(write_site(tmp_path))
    db, _ = open_site(config)
    vault = site_vault(config.recordings, create_key=True).vault
    _, sales = add_recording(db, vault, config, service="sales", created_at=T0, audio=AUDIO)
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
    yield Site(client, config, store, grants, sales)
    await client.close()
    await store.stop()


async def test_s10_a_sealed_recording_streams_as_its_plaintext(site: Site) -> None:
    stored = (await site.vault_file(site.sales)).read_bytes()
    assert is_sealed(stored) and len(stored) > len(AUDIO)
    status, headers, body = await site.get("snguyen", site.sales)
    assert (status, body) == (200, AUDIO)
    assert headers["Content-Length"] == str(len(AUDIO))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (CHUNK - 10, CHUNK + 9),  # across the first boundary
        (CHUNK - 1, 2 * CHUNK),  # a whole chunk and a byte each side
        (2 * CHUNK, len(AUDIO) - 1),  # the last, short chunk
        (5, 5),
    ],
)
async def test_s10_ranges_across_chunk_boundaries(site: Site, start: int, end: int) -> None:
    status, headers, body = await site.get("mleroy", site.sales, range_=f"bytes={start}-{end}")
    assert status == 206
    assert headers["Content-Range"] == f"bytes {start}-{end}/{len(AUDIO)}"
    assert body == AUDIO[start : end + 1]


async def test_s10_a_changed_sealed_file_is_refused(site: Site) -> None:
    path = await site.vault_file(site.sales)
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + CHUNK + TAG + 100] ^= 0xFF
    path.write_bytes(bytes(raw))
    status, _, body = await site.get("mleroy", site.sales)
    assert status == 500 and b'"vault-tampered"' in body
    assert (await site.log())[-1][3] == "error"
