"""The vault: adopting Asterisk's files, whoever wrote them."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

from controller.recordings import LocalVault, VaultError


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
    source = vault.asterisk_dir / "other.wav"
    make_wav(source, 1.0)
    os.chown(source, 12345, 12345)
    adopted = vault.adopt("other", "wav")
    assert adopted.path.stat().st_uid == os.geteuid()


def test_missing_file(vault: LocalVault) -> None:
    with pytest.raises(VaultError, match=r"recording file nope\.wav is missing"):
        vault.adopt("nope", "wav")


def test_truncated_file_is_a_clear_error(vault: LocalVault) -> None:
    (vault.asterisk_dir / "bad.wav").write_bytes(b"RIFF")
    with pytest.raises(VaultError, match=r"cannot adopt recording bad\.wav"):
        vault.adopt("bad", "wav")


def test_discard_incoming(vault: LocalVault) -> None:
    make_wav(vault.asterisk_dir / "gone.wav", 0.1)
    assert vault.discard_incoming("gone", "wav")
    assert not vault.discard_incoming("gone", "wav")
