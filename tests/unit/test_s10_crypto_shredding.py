"""S10: erasure and purge destroy a sealed recording's data key before its file, their
receipts say so, and a backup taken before cannot be decrypted after. Export and backup
go through the vault: the export holds the plaintext, the backup the sealed bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.cli import cli
from controller.config import Config
from controller.config.encryption import site_vault
from controller.recordings import LocalVault
from controller.recordings.keyring import DataKeyDestroyed
from controller.recordings.sealing import is_sealed, open_sealed
from controller.store import SqliteStore
from tests.factories import receipted
from tests.sites import ENV, add_recording, load_site, open_site, wav_bytes, write_site

NUMBER = "+33 6 98 76 54 32"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV)


def as_(config: Config, person: str, purpose: str) -> list[str]:
    token = config.store.path.parent / "access" / f"{person}.token"
    return ["--as", person, "--purpose", purpose, "--token-file", str(token)]


def sealed_site(tmp_path: Path) -> tuple[Path, Config, SqliteStore, LocalVault]:
    path = write_site(tmp_path)
    config = load_site(path)
    store, _ = open_site(config)
    vault = site_vault(config.recordings, create_key=True).vault
    vault.prepare()
    return path, config, store, vault


def plaintext_of_copy(vault: LocalVault, copy: Path) -> bytes:
    assert vault.keyring is not None
    with copy.open("rb") as raw, open_sealed(raw, vault.keyring.unwrap) as plain:
        return plain.read()


def test_s10_backup_taken_before_an_erase_cannot_be_decrypted_after_it(tmp_path: Path) -> None:
    path, config, store, vault = sealed_site(tmp_path)
    audio = wav_bytes(2.0)
    _, rec = add_recording(
        store, vault, config, service="sales", created_at=dt.datetime.now(dt.UTC),
        number=NUMBER, audio=audio,
    )  # fmt: skip
    row = store.recording(rec)
    assert row is not None and row.path is not None
    assert row.sha256 == hashlib.sha256(audio).hexdigest()
    stored = Path(row.path).read_bytes()
    assert is_sealed(stored) and audio[200:400] not in stored
    store.close()
    dpo = as_(config, "cdubois", "access request A-7")

    # The audited export decrypts: the archive holds the recording as recorded.
    out = tmp_path / "subject.zip"
    exported = run("subject", "export", "-c", path, "--number", NUMBER, "--output", out, *dpo)
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(out) as archive:
        assert archive.read(f"recordings/{rec}.wav") == audio

    backup = tmp_path / "backup"
    taken = run("backup", "-c", path, "--to", backup)
    assert taken.exit_code == 0, taken.output
    copy = backup / "vault" / Path(row.path).name
    assert copy.read_bytes() == stored  # copied sealed, no key beside it
    manifest = json.loads((backup / "manifest.json").read_text())
    (entry,) = manifest["vault"]
    assert entry["audio_sha256"] == row.sha256
    assert entry["sha256"] == hashlib.sha256(stored).hexdigest()
    assert not [p for p in backup.rglob("*") if p.suffix == ".key" or "keyring" in p.name]
    checked = run("restore", "-c", path, "--check", backup)
    assert checked.exit_code == 0, checked.output
    # Until the erase, the backup's copy opens with the site's keyring (a restore works).
    assert plaintext_of_copy(vault, copy) == audio

    erased = run("subject", "erase", "-c", path, "--number", NUMBER, "--yes", *dpo)
    assert erased.exit_code == 0, erased.output
    store = SqliteStore.open(config.store.path)
    (receipt,) = receipted(store.access_entries())
    store.close()
    assert receipt["recording_id"] == rec and receipt["key_destroyed"] is True
    assert not Path(row.path).exists()
    with pytest.raises(DataKeyDestroyed):
        plaintext_of_copy(vault, copy)
    # Put back into the vault, as a restore would, it is still noise.
    restored = vault.vault_dir / copy.name
    restored.write_bytes(copy.read_bytes())
    restored.chmod(0o600)
    with pytest.raises(DataKeyDestroyed), vault.reader(restored):
        pass


def test_s10_purge_receipts_say_the_key_was_destroyed(tmp_path: Path) -> None:
    path, config, store, vault = sealed_site(tmp_path)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=4000)
    _, sealed = add_recording(store, vault, config, service="sales", created_at=old)
    plain_vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    _, plain = add_recording(store, plain_vault, config, service="sales", created_at=old)
    store.close()
    assert vault.keyring is not None and len(vault.keyring.ids()) == 1
    purged = run("purge", "-c", path)
    assert purged.exit_code == 0, purged.output
    store = SqliteStore.open(config.store.path)
    receipts = {r["recording_id"]: r for r in receipted(store.access_entries())}
    store.close()
    assert receipts[sealed]["key_destroyed"] is True
    assert receipts[plain]["key_destroyed"] is False
    assert vault.keyring.ids() == []
    assert not any(config.recordings.vault_dir.iterdir())


def test_s10_listening_reads_the_plaintext_through_the_vault(tmp_path: Path) -> None:
    """The CLI download (the audited door) writes the plaintext; the vault file is not."""
    path, config, store, vault = sealed_site(tmp_path)
    audio = wav_bytes(1.0)
    _, rec = add_recording(
        store, vault, config, service="sales", created_at=dt.datetime.now(dt.UTC), audio=audio
    )
    store.close()
    out = tmp_path / "heard.wav"
    got = run(
        "recording", "download", "-c", path, rec, "--output", out,
        *as_(config, "cdubois", "quality review"),
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    assert out.read_bytes() == audio
    assert io.BytesIO(audio).read(4) == b"RIFF"
