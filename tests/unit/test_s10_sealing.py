"""S10: the vault seals what it writes, reads it back seekable, and shreds data keys.

A sealed file is refused, with a typed error, when a chunk is changed, cut off, moved
or swapped in from another file; a shredded file's copies cannot be decrypted.
"""

from __future__ import annotations

import hashlib
import io
import os
import wave
from pathlib import Path

import pytest

from controller.recordings import LocalVault
from controller.recordings.keyring import (
    DataKeyDestroyed,
    FileSiteKeys,
    FixedSiteKeys,
    Keyring,
    SiteKeyMissing,
)
from controller.recordings.sealing import (
    CHUNK,
    HEADER_SIZE,
    TAG,
    SealTampered,
    is_sealed,
    open_sealed,
)

SITE_KEY = bytes(range(32))


def make_wav(path: Path, seconds: float) -> bytes:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        # Not silence: every chunk differs, so a swapped chunk would show.
        frames = int(8000 * seconds)
        out.writeframes(bytes((i * 7 + i // 251) & 0xFF for i in range(2 * frames)))
    return path.read_bytes()


def sealed_vault(tmp_path: Path, name: str = "vault") -> LocalVault:
    keyring = Keyring(tmp_path / f"{name}-keyring", FixedSiteKeys((SITE_KEY,)))
    vault = LocalVault(tmp_path / f"{name}-asterisk", tmp_path / name, keyring)
    vault.asterisk_dir.mkdir()
    vault.prepare()
    return vault


@pytest.fixture
def vault(tmp_path: Path) -> LocalVault:
    return sealed_vault(tmp_path)


def adopt(vault: LocalVault, name: str, seconds: float) -> tuple[Path, bytes]:
    plain = make_wav(vault.asterisk_dir / f"{name}.wav", seconds)
    adopted = vault.adopt(name, "wav")
    assert adopted.sha256 == hashlib.sha256(plain).hexdigest()
    assert adopted.size == len(plain)
    return adopted.path, plain


def read_all(vault: LocalVault, path: Path) -> bytes:
    with vault.reader(path) as source:
        return source.read()


def test_s10_adopted_file_is_sealed_and_reads_back_whole(vault: LocalVault) -> None:
    path, plain = adopt(vault, "abc", 10.0)
    raw = path.read_bytes()
    assert is_sealed(raw)
    assert plain[1000:1100] not in raw
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_all(vault, path) == plain
    assert not (vault.asterisk_dir / "abc.wav").exists()


def test_s10_range_reads_across_chunk_boundaries(vault: LocalVault) -> None:
    path, plain = adopt(vault, "abc", 10.0)
    assert len(plain) > 2 * CHUNK
    with vault.reader(path) as source:
        assert source.seekable()
        for start, length in [
            (CHUNK - 10, 20),
            (2 * CHUNK - 1, CHUNK + 2),
            (0, 1),
            (len(plain) - 5, 100),
            (CHUNK, CHUNK),
        ]:
            source.seek(start)
            assert source.read(length) == plain[start : start + length]
        assert source.seek(0, io.SEEK_END) == len(plain)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_s10_every_length_round_trips(vault: LocalVault, size: int) -> None:
    data = os.urandom(size)
    version = vault.write_version(vault.vault_dir / "x.wav", io.BytesIO(data))
    assert version.sha256 == hashlib.sha256(data).hexdigest()
    assert version.size == size
    assert read_all(vault, version.path) == data


def _tampered(vault: LocalVault, path: Path, change: bytes) -> None:
    path.write_bytes(change)
    with pytest.raises(SealTampered) as caught, vault.reader(path) as source:
        source.read()
    assert caught.value.error_id == "vault-tampered"


def test_s10_changed_chunk_is_refused(vault: LocalVault) -> None:
    path, _ = adopt(vault, "abc", 10.0)
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + CHUNK + TAG + 5] ^= 1
    _tampered(vault, path, bytes(raw))


def test_s10_file_cut_at_a_chunk_boundary_is_refused(vault: LocalVault) -> None:
    path, _ = adopt(vault, "abc", 10.0)
    raw = path.read_bytes()
    _tampered(vault, path, raw[: HEADER_SIZE + 2 * (CHUNK + TAG)])


def test_s10_reordered_chunks_are_refused(vault: LocalVault) -> None:
    path, _ = adopt(vault, "abc", 10.0)
    raw = path.read_bytes()
    one = raw[HEADER_SIZE : HEADER_SIZE + CHUNK + TAG]
    two = raw[HEADER_SIZE + CHUNK + TAG : HEADER_SIZE + 2 * (CHUNK + TAG)]
    rest = raw[HEADER_SIZE + 2 * (CHUNK + TAG) :]
    _tampered(vault, path, raw[:HEADER_SIZE] + two + one + rest)


def test_s10_chunk_swapped_in_from_another_file_is_refused(vault: LocalVault) -> None:
    path, _ = adopt(vault, "abc", 10.0)
    other, _ = adopt(vault, "def", 10.0)
    raw, foreign = path.read_bytes(), other.read_bytes()
    start, end = HEADER_SIZE + CHUNK + TAG, HEADER_SIZE + 2 * (CHUNK + TAG)
    _tampered(vault, path, raw[:start] + foreign[start:end] + raw[end:])
    # The other file's header (its key id) on this file's chunks fails too.
    _tampered(vault, other, raw[:HEADER_SIZE] + foreign[HEADER_SIZE:])


def test_s10_shred_destroys_the_key_first_and_copies_become_unreadable(
    vault: LocalVault, tmp_path: Path
) -> None:
    path, _ = adopt(vault, "abc", 2.0)
    copy = vault.vault_dir / "copy.wav"
    copy.write_bytes(path.read_bytes())
    copy.chmod(0o600)
    assert vault.shred(path) is True
    assert not path.exists()
    with pytest.raises(DataKeyDestroyed) as caught, vault.reader(copy):
        pass
    assert caught.value.error_id == "vault-key-destroyed"
    # The keyring holds nothing of it either.
    assert vault.keyring is not None and vault.keyring.ids() == []


def test_s10_write_version_is_a_new_file_with_a_new_key(vault: LocalVault) -> None:
    path, plain = adopt(vault, "abc", 2.0)
    before = path.read_bytes()
    silenced = plain[:44] + bytes(len(plain) - 44)
    version = vault.write_version(path, io.BytesIO(silenced))
    assert version.path != path and version.path.parent == vault.vault_dir
    assert version.path.name.startswith("abc.") and version.path.suffix == ".wav"
    assert path.read_bytes() == before
    assert read_all(vault, version.path) == silenced
    assert version.duration_seconds == pytest.approx(2.0)
    assert before[8:HEADER_SIZE] != version.path.read_bytes()[8:HEADER_SIZE]  # its key id
    assert vault.shred(path) is True
    assert read_all(vault, version.path) == silenced


def test_s10_sealed_file_without_the_site_key_is_a_clear_error(
    vault: LocalVault, tmp_path: Path
) -> None:
    path, _ = adopt(vault, "abc", 1.0)
    assert vault.keyring is not None
    wrong = Keyring(vault.keyring.folder, FixedSiteKeys((bytes(32),)))
    for other in (LocalVault(vault.asterisk_dir, vault.vault_dir, wrong), LocalVault(
        vault.asterisk_dir, vault.vault_dir
    )):
        with pytest.raises(SiteKeyMissing) as caught, other.reader(path):
            pass
        assert caught.value.error_id == "vault-site-key-missing"
    assert path.exists()


def test_s10_plaintext_files_still_read_in_a_sealing_vault(vault: LocalVault) -> None:
    plain = make_wav(vault.vault_dir / "old.wav", 1.0)
    (vault.vault_dir / "old.wav").chmod(0o600)
    assert read_all(vault, vault.vault_dir / "old.wav") == plain
    assert vault.shred_file(vault.vault_dir / "old.wav").key_destroyed is False


def test_s10_memory_stays_at_one_chunk(vault: LocalVault) -> None:
    """Reading never holds more than one decrypted chunk (a seek costs one chunk)."""
    path, _ = adopt(vault, "abc", 10.0)
    assert vault.keyring is not None
    with path.open("rb") as raw, open_sealed(raw, vault.keyring.unwrap) as plain:
        plain.seek(2 * CHUNK + 7)
        assert len(plain.read(10)) == 10
        assert raw.tell() <= HEADER_SIZE + 3 * (CHUNK + TAG)


def test_s10_stereo_joins_are_sealed_and_a_join_already_there_is_kept(
    vault: LocalVault, tmp_path: Path
) -> None:
    """A two-channel recording's halves are joined straight into a sealed file; a join
    killed before it deleted its halves is found (through the keyring) and kept."""
    from controller.recordings import stereo
    from tests.unit.test_two_channels import LEFT, NAME, RIGHT, half

    half(vault, LEFT, [1, 2, 3])
    half(vault, RIGHT, [-1, -2])
    whole = stereo.adopt(vault, NAME, "wav")
    stored = whole.path.read_bytes()
    assert is_sealed(stored)
    with wave.open(io.BytesIO(read_all(vault, whole.path))) as wav:
        assert (wav.getnchannels(), wav.getnframes()) == (2, 3)
        frames = wav.readframes(3)
    assert [int.from_bytes(frames[i : i + 2], "little", signed=True) for i in range(0, 12, 2)] == [
        1, -1, 2, -2, 3, 0,
    ]  # fmt: skip
    assert whole.sha256 == hashlib.sha256(read_all(vault, whole.path)).hexdigest()
    half(vault, RIGHT, [-1, -2])  # what a kill left: one half not yet deleted
    again = stereo.take_incoming(vault, f"{NAME}.wav", keep=True)
    assert (again.path, again.sha256) == (whole.path, whole.sha256)
    assert whole.path.read_bytes() == stored
    assert again.duration_seconds == pytest.approx(3 / 8000)


def test_s10_root_writes_keep_the_daemons_ownership(vault: LocalVault) -> None:
    """An admin's rotation or migration runs as root: what it writes in the keyring and
    the vault belongs to their folders' owner (the daemon's user), who must read it."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root to act as the admin")
    from controller.recordings.rotation import migrate, rotate

    assert vault.keyring is not None
    for folder in (vault.vault_dir, vault.keyring.folder):
        os.chown(folder, 12345, 12345)
    plain = make_wav(vault.vault_dir / "old.wav", 1.0)
    os.chown(vault.vault_dir / "old.wav", 12345, 12345)
    assert migrate(vault).sealed == 1
    sealed = vault.vault_dir / "old.wav"
    assert sealed.stat().st_uid == 12345 and vault.is_sealed(sealed)
    key_file = vault.keyring.folder.parent / "site.key"
    key_file.write_text(SITE_KEY.hex() + "\n")
    vault.keyring.site_keys = FileSiteKeys(key_file)
    rotate(vault.keyring, key_file)
    entries = [vault.keyring.path_of(k) for k in vault.keyring.ids()]
    assert entries and all(e.stat().st_uid == 12345 for e in entries)
    assert (vault.keyring.folder / ".lock").stat().st_mode & 0o777 == 0o644
    assert read_all(vault, sealed) == plain
