"""The vault's failures, each with an ``error_id`` callers can branch on."""

from __future__ import annotations


class VaultError(Exception):
    error_id = "vault-error"

    def __init__(self, message: str, *, kept: bool = False) -> None:
        super().__init__(message)
        self.kept = kept
        """The file is still in Asterisk's folder (the vault could not take it: full,
        unwritable), so a later attempt can still vault it."""


class VaultUnusable(VaultError):
    """A file of Asterisk's folder that holds no readable audio (not a WAV, or nothing
    recorded in it): there is nothing to keep. It is left in place for the caller to
    delete with a receipt."""

    error_id = "vault-unusable"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """What is wrong with the file, in a few words."""


class VaultRefused(VaultError):
    """A file in Asterisk's folder that must not be adopted (a link, not a regular file,
    not Asterisk's): someone may be trying to reach a file elsewhere. Raise an alert."""

    error_id = "vault-refused"


class VaultFileRefused(VaultError):
    """A vault file that must not be read for a copy (a backup, an export, a download):
    a link, not a regular file, not reccontrol's, or not directly inside the vault.
    Whoever could plant it may be trying to have a file elsewhere copied out."""

    error_id = "vault-file-refused"

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"recording file {name} {problem}; not read")
        self.name = name
        self.problem = problem
