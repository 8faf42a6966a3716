"""S11 on a real recording: a call through the sandbox Asterisk in which the caller says
three marker tones, recorded by the daemon, then redacted through the audited door in a
sealed vault. The marker inside the span is gone, the two outside are where they were,
to the sample; the old version's copy cannot be decrypted; the entry is in the log."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from controller.access.service import AccessService
from controller.clock import FixedClock
from controller.demo.site import SandboxSite
from controller.recordings import LocalVault
from controller.recordings.keyring import DataKeyDestroyed, FixedSiteKeys, Keyring
from controller.recordings.wavfile import layout_of
from controller.sandbox import SandboxInstance
from controller.store import SqliteStore
from tests.audio import plaintext, read_wav, tone_seconds, tone_spans
from tests.integration.flow import AGENT_VOICE, running_flow, service
from tests.sites import add_recording, load_site, write_site

MARKERS = (1400.0, 1700.0, 2300.0)
"""What the caller says, in this order, a second each with a second between."""
LEAD_IN = 6.0
"""Silence before the first marker: the announcement and the agent's answer come first."""
CALLER_NUMBER = "+33611113333"
SITE_KEY = bytes(range(32))
PURPOSE = "the caller read a card number aloud"


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def recorded_call(site: SandboxSite) -> bytes:
    """The WAV the daemon kept of a call where the caller says the three markers."""
    site.instance.sounds_dir.mkdir(parents=True, exist_ok=True)
    parts = [(0.0, LEAD_IN)]
    for marker in MARKERS:
        parts += [(marker, 1.0), (0.0, 1.0)]
    site.tone_sound("s11-markers", parts)
    services = {"sales": service(site, target="Local/alice-hangup-14@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        await flow.board.call("sales", "play-s11-markers", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1, within=60.0)
    (recording,) = call["recordings"]
    assert recording["state"] == "stored"
    # Read as the audited download serves it: the daemon's vault seals (S10).
    return plaintext(Path(recording["path"]))


def spans(path: Path, freq: float) -> list[tuple[float, float]]:
    """Where the tone is, as the detector sees it (a frame or two may drop out)."""
    return tone_spans(read_wav(path), freq)


def extent(found: list[tuple[float, float]]) -> tuple[float, float]:
    """From the first sign of a marker to its last."""
    return found[0][0], found[-1][1]


async def test_s11_a_real_recording_loses_the_marker_in_the_span_and_keeps_the_others(
    site: SandboxSite, tmp_path: Path
) -> None:
    audio = await recorded_call(site)
    before_wav = tmp_path / "before.wav"
    before_wav.write_bytes(audio)
    before = {marker: spans(before_wav, marker) for marker in MARKERS}
    for marker, found in before.items():
        assert found, marker
        first_seen, last_seen = extent(found)
        assert 0.8 <= last_seen - first_seen <= 1.2, (marker, found)

    # The recording into an office's sealed vault, redacted there by the DPO.
    office = load_site(write_site(tmp_path / "office"))
    store = SqliteStore.open(office.store.path, audit_key=office.audit.checkpoint_key)
    keyring = Keyring(tmp_path / "office-keyring", FixedSiteKeys((SITE_KEY,)))
    vault = LocalVault(office.recordings.asterisk_dir, office.recordings.vault_dir, keyring)
    office.recordings.asterisk_dir.mkdir(parents=True, exist_ok=True)
    vault.prepare()
    try:
        created = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        call_id, recording_id = add_recording(
            store, vault, office, service="sales", created_at=created, audio=audio
        )
        old = store.recording(recording_id)
        assert old is not None and old.path is not None
        backup = tmp_path / "backup"
        backup.mkdir()
        shutil.copy2(old.path, backup / Path(old.path).name)
        start, end = extent(before[MARKERS[1]])
        first, last = f"{start - 0.4:.3f}", f"{end + 0.4:.3f}"
        door = AccessService(office, store, vault, FixedClock(dt.datetime.now(dt.UTC)))
        done = door.redact(office.access.persons["cdubois"], PURPOSE, call_id, None, first, last)

        new = store.recording(recording_id)
        assert new is not None and new.path is not None and new.sha256 == done.new_sha256
        with vault.reader(Path(new.path)) as source:
            redacted = source.read()
        after_wav = tmp_path / "after.wav"
        after_wav.write_bytes(redacted)
        # The marker inside the span is gone, and everything else in the span.
        after = read_wav(after_wav)
        assert tone_seconds(after, MARKERS[1]) == 0.0
        span_audio = after.slice(*done.silence.seconds)
        assert not span_audio.samples.any()
        # The markers outside are where they were, to the sample: the bytes outside the
        # span are the old version's, byte for byte, and the length is the same.
        layout = layout_of(audio, len(audio))
        frame = layout.block_align
        cut_from = layout.audio_start + done.silence.first_frame * frame
        cut_to = layout.audio_start + done.silence.end_frame * frame
        assert len(redacted) == len(audio)
        assert redacted[:cut_from] == audio[:cut_from]
        assert redacted[cut_to:] == audio[cut_to:]
        for marker in (MARKERS[0], MARKERS[2]):
            assert spans(after_wav, marker) == before[marker]
        # The agent's voice is there on both sides of the span.
        assert tone_seconds(after.slice(0, done.silence.seconds[0]), AGENT_VOICE) > 1.0
        rest = after.slice(done.silence.seconds[1], after.duration)
        assert tone_seconds(rest, AGENT_VOICE) > 1.0

        # The old version cannot be decrypted any more, not even from a backup.
        assert not Path(old.path).exists()
        copy = LocalVault(vault.asterisk_dir, backup, keyring)
        with pytest.raises(DataKeyDestroyed), copy.reader(backup / Path(old.path).name) as raw:
            raw.read()
        # Who, why, the span and both hashes; the chain verifies.
        (entry,) = [e for e in store.access_entries() if e.action == "redact"]
        assert (entry.actor, entry.result, entry.purpose) == ("cdubois", "ok", PURPOSE)
        span = [float(t) for t in str(entry.details["span"]).split("-")]
        assert span == [float(first), float(last)]
        assert entry.details["old_sha256"] == old.sha256
        assert entry.details["new_sha256"] == new.sha256
        assert store.verify_access_log(office.audit.checkpoint_key).ok
    finally:
        store.close()
