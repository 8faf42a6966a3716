"""S10: a new site is sealed by default (its site key generated at first start); a vault
holding sealed recordings with no usable site key is a start-up error naming the YAML
key, never silent data loss."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller.cli import cli
from controller.config.encryption import VaultKeyUnusable, site_vault
from controller.config.load import load_config
from controller.config.model import Config
from controller.config.reader import ConfigError
from tests.sites import ENV, site_config, write_site


def config_with(
    tmp_path: Path, encryption: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Config:
    data = site_config(tmp_path)
    if encryption is not None:
        data["recordings"]["encryption"] = encryption
    return load_config(write_site(tmp_path, data), {**ENV, **(env or {})})


def seal_one(config: Config) -> Path:
    vault = site_vault(config.recordings, create_key=True).vault
    vault.prepare()
    version = vault.write_version(vault.vault_dir / "abc.wav", io.BytesIO(b"RIFF audio"))
    assert vault.is_sealed(version.path)
    return version.path


def test_s10_a_new_site_gets_a_site_key_and_seals(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    opened = site_vault(config.recordings, create_key=True)
    assert opened.generated is not None
    assert opened.generated.stat().st_mode & 0o777 == 0o600
    assert len(opened.generated.read_text().strip()) == 64
    path = seal_one(config)
    # The next start keeps that key and reads what it sealed.
    again = site_vault(config.recordings, create_key=True)
    assert again.generated is None
    with again.vault.reader(path) as source:
        assert source.read() == b"RIFF audio"


def test_s10_lost_site_key_is_a_start_up_error_naming_the_key(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    path = seal_one(config)
    key_file = config.recordings.encryption.site_key_file
    assert key_file is not None
    key_file.unlink()
    with pytest.raises(VaultKeyUnusable) as caught:
        site_vault(config.recordings, create_key=True)
    assert str(caught.value).startswith("recordings.encryption.site_key_file: ")
    assert "1 data key(s)" in str(caught.value)
    assert caught.value.error_id == "vault-site-key-unusable"
    # No key was generated over it, and the recording is still there.
    assert not key_file.exists() and path.exists()


def test_s10_replaced_site_key_is_a_start_up_error(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    seal_one(config)
    key_file = config.recordings.encryption.site_key_file
    assert key_file is not None
    key_file.write_text("ab" * 32 + "\n")
    with pytest.raises(VaultKeyUnusable, match="not the one that wrapped"):
        site_vault(config.recordings, create_key=True)


def test_s10_turning_encryption_off_over_sealed_recordings_is_refused(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    seal_one(config)
    off = config_with(tmp_path, {"enabled": False})
    with pytest.raises(VaultKeyUnusable, match=r"^recordings\.encryption\.enabled: false"):
        site_vault(off.recordings)


def test_s10_site_key_from_the_environment(tmp_path: Path) -> None:
    env = {"SITE_KEY": "0f" * 32}
    config = config_with(tmp_path, {"site_key_env": "SITE_KEY"}, env)
    path = seal_one(config)
    with site_vault(config.recordings).vault.reader(path) as source:
        assert source.read() == b"RIFF audio"


@pytest.mark.parametrize(
    ("encryption", "env", "problem"),
    [
        ({"site_key_env": "SITE_KEY"}, {"SITE_KEY": "ab"}, "recordings.encryption.site_key_env"),
        ({"keyring_dir": "VAULT/keys"}, {}, "recordings.encryption.keyring_dir"),
        ({"enabled": "maybe"}, {}, "recordings.encryption.enabled"),
        ({"site_key": "00"}, {}, "recordings.encryption.site_key"),
    ],
)
def test_s10_bad_encryption_settings_name_their_key(
    tmp_path: Path, encryption: dict[str, Any], env: dict[str, str], problem: str
) -> None:
    vault = str(tmp_path / "vault")
    encryption = {
        k: (v.replace("VAULT", vault) if isinstance(v, str) else v) for k, v in encryption.items()
    }
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, encryption, env)
    assert any(p.path == problem for p in caught.value.problems), caught.value.problems


def test_s10_lost_keyring_is_a_start_up_error_not_a_new_key(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    path = seal_one(config)
    key_file = config.recordings.encryption.site_key_file
    assert key_file is not None
    keyring = config.recordings.encryption.keyring_dir
    for entry in keyring.iterdir():
        entry.unlink()
    key_file.unlink()
    with pytest.raises(VaultKeyUnusable, match=r"^recordings\.encryption\.keyring_dir: "):
        site_vault(config.recordings, create_key=True)
    assert not key_file.exists() and path.exists()


def test_s10_the_daemon_refuses_to_start_without_its_site_key(tmp_path: Path) -> None:
    """``reccontrol run``: exit 2, one line naming the YAML key; nothing generated."""
    config = config_with(tmp_path)
    seal_one(config)
    key_file = config.recordings.encryption.site_key_file
    assert key_file is not None
    key_file.unlink()
    result = CliRunner().invoke(cli, ["run", "-c", str(tmp_path / "reccontrol.yaml")], env=ENV)
    assert result.exit_code == 2, result.output
    assert "error: recordings.encryption.site_key_file: the site key file" in result.output
    assert "(vault-site-key-unusable)" in result.output
    assert not key_file.exists()
