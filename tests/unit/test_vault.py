"""The vault: adopting Asterisk's files, whoever wrote them."""

from __future__ import annotations

import hashlib
import io
import os
import wave
from pathlib import Path

import pytest

from controller.recordings import (
    LocalVault,
    VaultError,
    VaultFileRefused,
    VaultRefused,
    VaultUnusable,
)


def make_wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(2 * int(8000 * seconds)))


@pytest.fixture
def vault(tmp_path: Path) -> LocalVault:
    vault = LocalVault(tmp_path / "asterisk", tmp_path / "vault")
    vault.asterisk_dir.mkdir()
    vault.prepare()
    return vault


def test_adopt_moves_hashes_and_measures(vault: LocalVault) -> None:
    """Recordings move into a private vault: files 0600, folder 0700 (S4)."""
    make_wav(vault.asterisk_dir / "abc.wav", 2.5)
    adopted = vault.adopt("abc", "wav")
    assert adopted.path == vault.vault_dir / "abc.wav"
    assert adopted.duration_seconds == pytest.approx(2.5)
    assert len(adopted.sha256) == 64
    assert not (vault.asterisk_dir / "abc.wav").exists()
    assert adopted.path.stat().st_mode & 0o777 == 0o600
    assert vault.vault_dir.stat().st_mode & 0o777 == 0o700


def test_adopt_takes_ownership_of_a_file_written_by_another_user(vault: LocalVault) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root to create a file owned by another user")
    # Asterisk (the owner of its recording folder) wrote the file.
    os.chown(vault.asterisk_dir, 12345, 12345)
    source = vault.asterisk_dir / "other.wav"
    make_wav(source, 1.0)
    os.chown(source, 12345, 12345)
    adopted = vault.adopt("other", "wav")
    assert adopted.path.stat().st_uid == os.geteuid()


def test_missing_file(vault: LocalVault) -> None:
    with pytest.raises(VaultError, match=r"recording file nope\.wav is missing"):
        vault.adopt("nope", "wav")


def test_truncated_file_is_a_clear_error_and_stays_out_of_the_vault(vault: LocalVault) -> None:
    (vault.asterisk_dir / "bad.wav").write_bytes(b"RIFF")
    with pytest.raises(VaultUnusable, match=r"cannot adopt recording bad\.wav: not a usable WAV"):
        vault.adopt("bad", "wav")
    # Left for the caller to delete with a receipt; nothing half-adopted in the vault.
    assert (vault.asterisk_dir / "bad.wav").exists() and vault.files() == []


def never_closed(path: Path, seconds: float) -> bytes:
    """What Asterisk leaves when it is killed mid-recording: the header it wrote on
    opening the file (sizes 0), then the audio, the last frame cut in half."""
    make_wav(path, seconds)
    data = bytearray(path.read_bytes())
    data[4:8] = data[40:44] = bytes(4)
    data += b"\x01"
    path.write_bytes(data)
    return bytes(data)


def test_r1_file_of_a_killed_asterisk_is_measured_from_its_data_and_repaired(
    vault: LocalVault,
) -> None:
    """R1: the header of a file Asterisk never closed says it holds no audio. The vault
    keeps it, measures what it holds, and writes the true sizes into the header, so the
    stored hash is of a file every player reads."""
    original = never_closed(vault.asterisk_dir / "killed.wav", 1.5)
    adopted = vault.adopt("killed", "wav")
    assert adopted.duration_seconds == pytest.approx(1.5)
    stored = adopted.path.read_bytes()
    assert stored[44:] == original[44:] and len(stored) == len(original)
    assert adopted.sha256 == hashlib.sha256(stored).hexdigest()
    with wave.open(str(adopted.path), "rb") as wav:
        assert wav.getnframes() == 12000


def test_r1_file_with_a_header_and_no_audio_is_unusable(vault: LocalVault) -> None:
    make_wav(vault.asterisk_dir / "empty.wav", 0.0)
    with pytest.raises(VaultUnusable, match="it holds no audio"):
        vault.adopt("empty", "wav")
    assert (vault.asterisk_dir / "empty.wav").exists() and vault.files() == []


def test_discard_incoming(vault: LocalVault) -> None:
    make_wav(vault.asterisk_dir / "gone.wav", 0.1)
    assert vault.discard_incoming("gone", "wav")
    assert not vault.discard_incoming("gone", "wav")


def test_medium8_planted_symlink_is_refused_and_its_target_untouched(
    vault: LocalVault, tmp_path: Path
) -> None:
    """Medium 8 (S4): a symlink in Asterisk's recording folder pointing at a file
    outside is refused; the target keeps its owner, mode and content, and the vault
    keeps no link."""
    outside = tmp_path / "outside" / "secret.conf"
    outside.parent.mkdir()
    make_wav(outside, 0.5)
    outside.chmod(0o644)
    before = outside.stat()
    content = outside.read_bytes()
    (vault.asterisk_dir / "planted.wav").symlink_to(outside)
    with pytest.raises(VaultRefused, match=r"planted\.wav is a symbolic link; not adopted"):
        vault.adopt("planted", "wav")
    after = outside.stat()
    assert (after.st_mode, after.st_uid, after.st_gid) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
    )
    assert outside.read_bytes() == content
    assert list(vault.vault_dir.iterdir()) == []


def test_medium8_hard_link_and_non_regular_files_are_refused(
    vault: LocalVault, tmp_path: Path
) -> None:
    """Medium 8: a hard link to a file elsewhere, or a FIFO, is not a recording."""
    outside = tmp_path / "elsewhere.wav"
    make_wav(outside, 0.5)
    os.link(outside, vault.asterisk_dir / "linked.wav")
    with pytest.raises(VaultRefused, match=r"linked\.wav has 2 hard links"):
        vault.adopt("linked", "wav")
    assert outside.stat().st_nlink == 2
    os.mkfifo(vault.asterisk_dir / "pipe.wav")
    with pytest.raises(VaultRefused, match=r"pipe\.wav is not a regular file"):
        vault.adopt("pipe", "wav")
    assert list(vault.vault_dir.iterdir()) == []


def test_medium8_file_not_owned_by_asterisk_is_refused(vault: LocalVault) -> None:
    """Medium 8: only files owned by Asterisk (the recording folder's owner) are adopted."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root to create a file owned by another user")
    os.chown(vault.asterisk_dir, 23456, 23456)
    source = vault.asterisk_dir / "foreign.wav"
    make_wav(source, 0.5)
    os.chown(source, 34567, 34567)
    with pytest.raises(VaultRefused, match="belongs to uid 34567, not to Asterisk"):
        vault.adopt("foreign", "wav")
    assert source.exists()


# -- reading vault files for a copy (S4) ---------------------------------------------------
def test_reader_refuses_what_the_vault_never_made_S4(vault: LocalVault, tmp_path: Path) -> None:
    """S4: a vault file is read for a copy only if it is a regular file of the vault's
    owner with one link, directly inside the vault. A link planted in the vault, a hard
    link to a file elsewhere, a FIFO, a stranger's file or a path outside the vault is
    refused with ``vault-file-refused`` before a byte is read."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root to create a file owned by another user")
    make_wav(vault.asterisk_dir / "good.wav", 0.1)
    good = vault.adopt("good", "wav").path
    with vault.reader(good) as source:
        assert source.read() == good.read_bytes()
    secret = tmp_path / "secret.conf"
    secret.write_bytes(b"precious")
    (vault.vault_dir / "planted.wav").symlink_to(secret)
    os.link(secret, vault.vault_dir / "linked.wav")
    os.mkfifo(vault.vault_dir / "pipe.wav")
    stranger = vault.vault_dir / "stranger.wav"
    make_wav(stranger, 0.1)
    os.chown(stranger, 65534, 65534)
    cases = {
        "planted.wav": "is a symbolic link",
        "linked.wav": "has 2 hard links",
        "pipe.wav": "is not a regular file",
        "stranger.wav": "belongs to uid 65534, not to the vault's owner",
    }
    for name, why in cases.items():
        with pytest.raises(VaultFileRefused, match=why) as refused:
            with vault.reader(vault.vault_dir / name):
                pytest.fail(f"{name} was opened")
        assert refused.value.error_id == "vault-file-refused"
        out = io.BytesIO()
        with pytest.raises(VaultFileRefused):
            vault.copy_to(vault.vault_dir / name, out)
        assert out.getvalue() == b""
    with pytest.raises(VaultFileRefused, match="is not directly inside the vault"):
        vault.copy_to(secret, io.BytesIO())


def test_s4_a_vault_folder_swapped_for_a_link_does_not_move_the_vault(
    vault: LocalVault, tmp_path: Path
) -> None:
    """S4: whoever can replace the vault folder with a link to another folder, while the
    daemon runs, cannot have the purge remove (or a download read) that folder's files:
    the vault is the folder it was when it was prepared."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_wav(elsewhere / "keep.wav", 0.5)
    vault.vault_dir.rename(tmp_path / "moved-vault")
    vault.vault_dir.symlink_to(elsewhere, target_is_directory=True)
    planted = vault.vault_dir / "keep.wav"
    assert not vault.owns(planted)
    with pytest.raises(VaultError, match=r"keep\.wav is not a file of the vault"):
        vault.remove(planted)
    assert (elsewhere / "keep.wav").exists()
