"""S10: a recording sealed at rest is served over HTTP as the plaintext: its length,
every byte range (across the 64 KiB chunks of the sealed file), and a changed file
refused before a byte is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.recordings.sealing import CHUNK, HEADER_SIZE, TAG, is_sealed
from tests.component.test_web_audio import Site, serving
from tests.sites import wav_bytes

AUDIO = wav_bytes(seconds=10.0)  # 160,044 bytes: three chunks sealed


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with serving(tmp_path, AUDIO, sealed=True) as served:
        yield served


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
