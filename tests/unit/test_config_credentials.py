"""Secrets read from systemd's credentials folder (LoadCredential=, S5)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.config import ConfigError, load_config
from tests.sites import ENV, site_config


def write(root: Path, password_file: str, hmac_file: str) -> Path:
    data = site_config(root)
    data["ari"].pop("password_env")
    data["ari"]["password_file"] = password_file
    data["privacy"] = {"caller_hmac_key_file": hmac_file}
    path = root / "reccontrol.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_secret_files_under_the_credentials_directory_S5(tmp_path: Path) -> None:
    """S5: the unit's LoadCredential= copies land in $CREDENTIALS_DIRECTORY; the YAML
    names them through the variable, in either spelling."""
    credentials = tmp_path / "run-credentials"
    credentials.mkdir()
    (credentials / "ari_password").write_text("from-systemd\n")
    (credentials / "caller_hmac_key").write_text("hmac-key-from-systemd-0123456789\n")
    path = write(
        tmp_path,
        "${CREDENTIALS_DIRECTORY}/ari_password",
        "$CREDENTIALS_DIRECTORY/caller_hmac_key",
    )
    config = load_config(path, environ={**ENV, "CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.ari.password.reveal() == "from-systemd"
    assert config.ari.password.source == f"file:{credentials / 'ari_password'}"
    assert config.privacy.caller_hmac_key.reveal() == "hmac-key-from-systemd-0123456789"


def test_credentials_directory_unset_names_the_key(tmp_path: Path) -> None:
    """Outside the unit the variable is unset: a clear error on the key, not a read of
    a path starting with a literal '$'."""
    hmac = tmp_path / "hmac"
    hmac.write_text("hmac-key-0123456789abcdef\n")
    path = write(tmp_path, "${CREDENTIALS_DIRECTORY}/ari_password", str(hmac))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=dict(ENV))
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith("ari.password_file: names ${CREDENTIALS_DIRECTORY}, which is not set")
    assert "LoadCredential=" in problem


def test_other_variables_are_not_expanded(tmp_path: Path) -> None:
    """Only that one variable: any other '$' stays part of the file name."""
    odd = tmp_path / "$HOME"
    odd.mkdir()
    (odd / "pw").write_text("dollar\n")
    hmac = tmp_path / "hmac"
    hmac.write_text("hmac-key-0123456789abcdef\n")
    path = write(tmp_path, str(odd / "pw"), str(hmac))
    config = load_config(path, environ={**ENV, "HOME": "/nowhere"})
    assert config.ari.password.reveal() == "dollar"
