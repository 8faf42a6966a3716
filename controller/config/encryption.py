"""``recordings.encryption`` (S10): how the vault seals its files, and opening the vault
the configuration describes.

A new site is sealed by default: at the daemon's first start, with no site key and an
empty keyring, a site key is generated (mode 0600) at ``site_key_file``. A keyring that
holds data keys but no usable site key is a start-up error naming the YAML key: nothing
is ever sealed with a new key while recordings wait for the old one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from controller.config.credentials import CredentialsDirectoryUnset, secret_file_path
from controller.config.model import EncryptionSettings, RecordingSettings
from controller.config.reader import Node, Secrets
from controller.recordings.keyring import (
    FileSiteKeys,
    FixedSiteKeys,
    Keyring,
    SiteKeyMissing,
    SiteKeys,
    new_site_key_text,
    parse_site_key,
    site_key_id,
    wrapped_by,
    write_private,
)
from controller.recordings.sealing import MAGIC, is_sealed
from controller.recordings.vault import LocalVault
from controller.recordings.vault_errors import VaultError

SECTION = "recordings.encryption"


def default_keyring(vault_dir: Path) -> Path:
    return vault_dir.with_name(vault_dir.name + "-keyring")


def default_site_key(vault_dir: Path) -> Path:
    return vault_dir.with_name(vault_dir.name + "-site.key")


def encryption(node: Node, vault_dir: Path, secrets: Secrets) -> EncryptionSettings:
    keyring = default_keyring(vault_dir)
    if not node.present or not node.mapping(
        ("enabled", "site_key_file", "site_key_env", "keyring_dir")
    ):
        return EncryptionSettings(site_key_file=default_site_key(vault_dir), keyring_dir=keyring)
    enabled = node["enabled"].boolean(True)
    if node["keyring_dir"].present:
        keyring = Path(node["keyring_dir"].string(""))
    for key in ("keyring_dir", "site_key_file"):
        text = node[key].string("") if node[key].present else ""
        if text and _inside(Path(text), vault_dir):
            node[key].fail(
                "must be outside vault_dir: backups copy the vault, and must never carry "
                "what opens it"
            )
    if node["site_key_env"].present:
        if node["site_key_file"].present:
            node["site_key_env"].fail("give either 'site_key_env' or 'site_key_file', not both")
        secret = node.secret("site_key", secrets)
        if secret is not None and secrets.resolve:
            try:
                parse_site_key(secret.reveal())
            except ValueError as exc:
                node["site_key_env"].fail(f"{secret.source} {exc}")
        return EncryptionSettings(enabled, None, secret, keyring)
    key_file = default_site_key(vault_dir)
    if node["site_key_file"].present:
        text = node["site_key_file"].string("")
        try:
            key_file = secret_file_path(text, secrets.environ) if secrets.resolve else Path(text)
        except CredentialsDirectoryUnset as exc:
            node["site_key_file"].fail(str(exc))
    return EncryptionSettings(enabled, key_file, None, keyring)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class VaultKeyUnusable(VaultError):
    """The vault holds sealed recordings and the configuration gives no site key that
    opens them (missing, unreadable, or another key), or encryption was turned off over
    a sealed vault. The daemon does not start: nothing is lost, the key must come back."""

    error_id = "vault-site-key-unusable"


@dataclass(frozen=True)
class SiteVault:
    vault: LocalVault
    generated: Path | None
    """The site key file generated at this start (a new site), or None."""


def site_key_source(settings: EncryptionSettings) -> tuple[SiteKeys, str]:
    """Where the site key comes from, and the YAML key that says so."""
    if settings.site_key is not None:
        env = settings.site_key.source.removeprefix("env:")
        keys = (parse_site_key(settings.site_key.reveal()),) if settings.site_key.reveal() else ()
        return FixedSiteKeys(keys, f"environment variable {env}"), f"{SECTION}.site_key_env"
    assert settings.site_key_file is not None
    return FileSiteKeys(settings.site_key_file), f"{SECTION}.site_key_file"


def site_vault(recordings: RecordingSettings, *, create_key: bool = False) -> SiteVault:
    """The vault the configuration describes. ``create_key`` (the daemon's start): a new
    site's key is generated. Raises :class:`VaultKeyUnusable` naming the YAML key when
    sealed recordings could not be opened."""
    settings = recordings.encryption
    keyring_dir = settings.keyring_dir if settings.keyring_dir != Path() else (
        default_keyring(recordings.vault_dir)
    )
    if not settings.enabled:
        held = Keyring(keyring_dir, FixedSiteKeys(())).ids()
        if held:
            raise VaultKeyUnusable(
                f"{SECTION}.enabled: false, but the keyring {keyring_dir} holds "
                f"{len(held)} data key(s) of sealed recordings; set it back to true "
                "(with their site key) to read them"
            )
        return SiteVault(LocalVault(recordings.asterisk_dir, recordings.vault_dir), None)
    source, key_path = site_key_source(settings)
    keyring = Keyring(keyring_dir, source)
    if not keyring.has_entries() and _sealed_in(recordings.vault_dir):
        raise VaultKeyUnusable(
            f"{SECTION}.keyring_dir: the keyring {keyring_dir} holds no data key, but the "
            f"vault {recordings.vault_dir} holds sealed recordings: the keyring was lost or "
            "moved. Restore it (nothing was deleted); reccontrol does not start without it"
        )
    generated = None
    try:
        loaded = source.load()
    except SiteKeyMissing as exc:
        held = keyring.ids()
        missing = isinstance(source, FileSiteKeys) and not source.path.exists()
        if held or not missing:
            raise VaultKeyUnusable(_unusable(key_path, str(exc), keyring, len(held))) from None
        if create_key:
            assert isinstance(source, FileSiteKeys)
            source.path.parent.mkdir(parents=True, exist_ok=True)
            write_private(source.path, new_site_key_text().encode("ascii"))
            generated = source.path
        loaded = []
    _check_wrapper(keyring, loaded, key_path)
    return SiteVault(LocalVault(recordings.asterisk_dir, recordings.vault_dir, keyring), generated)


SEALED_PROBE = 50
"""Vault files looked at, at most, for a sealed one when the keyring is empty."""


def _sealed_in(vault_dir: Path) -> bool:
    """Whether the vault holds a sealed file, among its first files: a keyring that is
    empty beside a sealed vault was lost, and a new key must not be made over it."""
    try:
        with os.scandir(vault_dir) as entries:
            for count, entry in enumerate(entries):
                if count >= SEALED_PROBE:
                    return False
                if entry.is_file(follow_symlinks=False):
                    with open(entry.path, "rb") as file:
                        if is_sealed(file.read(len(MAGIC))):
                            return True
    except OSError:
        return False
    return False


def _check_wrapper(keyring: Keyring, loaded: list[bytes], key_path: str) -> None:
    """The site key must open the keyring's entries: a replaced key is caught at start,
    not at the first listening."""
    first = keyring.first_id() if loaded else None
    if first is None:
        return
    try:
        wrapper = wrapped_by(keyring.path_of(first).read_bytes())
    except (OSError, VaultError):
        return  # that entry is looked at when it is used
    if wrapper not in {site_key_id(k) for k in loaded}:
        raise VaultKeyUnusable(
            _unusable(
                key_path,
                f"the configured site key is not the one that wrapped the keyring's data "
                f"keys (wrapped by {wrapper.hex()})",
                keyring,
                len(keyring.ids()),
            )
        )


def _unusable(key_path: str, problem: str, keyring: Keyring, held: int) -> str:
    return (
        f"{key_path}: {problem}; the keyring {keyring.folder} holds {held} data key(s) of "
        "sealed recordings that only the site key that wrapped them opens. Restore that "
        "key (nothing was deleted); reccontrol does not start without it"
    )
