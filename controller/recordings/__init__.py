"""Where recorded audio lives once Asterisk has finished writing it."""

from controller.recordings.vault import (
    AdoptedFile,
    LocalVault,
    VaultError,
    VaultFileRefused,
    VaultRefused,
    VaultUnusable,
)

__all__ = [
    "AdoptedFile",
    "LocalVault",
    "VaultError",
    "VaultFileRefused",
    "VaultRefused",
    "VaultUnusable",
]
