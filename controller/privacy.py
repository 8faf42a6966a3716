"""Caller numbers are personal data: reccontrol keeps only a keyed hash of them (C4)."""

from __future__ import annotations

import hashlib
import hmac
import re

from controller.secrets import Secret

_SEPARATORS = re.compile(r"[\s.\-()/]")


def normalise_number(number: str) -> str:
    """The form hashed for a number, so '+33 6 12-34' and '+33612 34' match.

    A leading '00' international prefix is written '+', as carriers send either.
    """
    digits = _SEPARATORS.sub("", number)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits


def caller_hash(key: Secret, number: str) -> str | None:
    """HMAC-SHA-256 of the normalised number, or None for an anonymous caller."""
    normal = normalise_number(number)
    if not normal or not any(c.isdigit() for c in normal):
        return None
    return hmac.new(key.reveal().encode(), normal.encode(), hashlib.sha256).hexdigest()
