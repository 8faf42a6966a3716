"""Credentials of authorised persons (S1, S5): password hashes and token hashes.

Formats, one line in the file (or environment variable) the config names:

- ``scrypt$<log2 N>$<r>$<p>$<salt>$<key>``: a password hashed with scrypt (stdlib
  :func:`hashlib.scrypt`), salt and key in unpadded URL-safe base64. Made by
  ``reccontrol access hash-password``. Cost: N = 2^17, r = 8, p = 1 (128 MiB);
  a stored hash below N = 2^14 is refused (re-hash it).
- ``sha256$<hex>``: the SHA-256 of a random 256-bit token. Made by
  ``reccontrol access new-token``, which writes the token itself to a file only its
  holder reads. A token has full entropy, so one hash round suffices.

Only the verifier is configured; the password or token never is, and neither is ever
logged or echoed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.config.governance_model import CredentialSource

SCRYPT_LOG2_N = 17
# Older or hand-made hashes below this cost are refused: too cheap to brute-force.
MIN_SCRYPT_LOG2_N = 14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_KEY_BYTES = 32
_MAXMEM = 256 * 1024 * 1024


class CredentialError(Exception):
    """A configured credential cannot be read or understood. The message names the YAML
    key path and never holds the credential."""


@dataclass(frozen=True)
class Password:
    value: str

    def __repr__(self) -> str:
        return "Password(***)"


@dataclass(frozen=True)
class Token:
    value: str

    def __repr__(self) -> str:
        return "Token(***)"


Presented = Password | Token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=length
    )


def hash_password(password: str, *, log2_n: int = SCRYPT_LOG2_N) -> str:
    if not password:
        raise ValueError("the password is empty")
    if log2_n < MIN_SCRYPT_LOG2_N:
        raise ValueError(f"scrypt cost below 2^{MIN_SCRYPT_LOG2_N} is refused")
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, log2_n, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_BYTES)
    return f"scrypt${log2_n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$... password hash")
    try:
        log2_n, r, p = (int(x) for x in parts[1:4])
    except ValueError:
        raise ValueError("not a scrypt$... password hash") from None
    if log2_n < MIN_SCRYPT_LOG2_N:
        raise ValueError(
            f"the password hash is too weak (scrypt N = 2^{log2_n}, at least "
            f"2^{MIN_SCRYPT_LOG2_N} is required): hash the password again with "
            "'reccontrol access hash-password'"
        )
    if not (log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt parameters out of range")
    salt, expected = _unb64(parts[4]), _unb64(parts[5])
    actual = _scrypt(password, salt, log2_n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256$" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def verify_token(token: str, encoded: str) -> bool:
    kind, _, digest = encoded.strip().partition("$")
    if kind != "sha256" or len(digest) != 64:
        raise ValueError("not a sha256$... token hash")
    return hmac.compare_digest(hash_token(token), f"sha256${digest}")


def read_verifier(source: CredentialSource, environ: Mapping[str, str] | None = None) -> str:
    """Reads the configured verifier; CredentialError names the key path."""
    env = os.environ if environ is None else environ
    if source.origin == "env":
        value = env.get(source.location, "").strip()
        if not value:
            raise CredentialError(
                f"{source.key_path}: environment variable {source.location} is not set or is empty"
            )
        return value
    path = Path(source.location)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(
            f"{source.key_path}: cannot read {path}: {exc.strerror or exc}"
        ) from None
    if not value:
        raise CredentialError(f"{source.key_path}: {path} is empty")
    return value


def check(
    source: CredentialSource, presented: Presented, environ: Mapping[str, str] | None
) -> bool:
    """True when the presented password or token matches the configured verifier."""
    verifier = read_verifier(source, environ)
    try:
        if source.kind == "password":
            return isinstance(presented, Password) and verify_password(presented.value, verifier)
        return isinstance(presented, Token) and verify_token(presented.value, verifier)
    except ValueError as exc:
        raise CredentialError(f"{source.key_path}: {exc}") from None
