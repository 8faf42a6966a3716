"""Caller numbers are personal data: reccontrol keeps only a keyed hash of them (C4).

A number is hashed in its E.164 form (``+33612345678``), parsed with the ``phonenumbers``
library and the site's default region (``privacy.default_region``), so ``0612345678``,
``06 12 34 56 78``, ``+33 (0)6 12 34 56 78`` and ``0033612345678`` all give the same
HMAC, at call time and at data-subject request time (C5).
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

from controller.secrets import Secret

DEFAULT_REGION = "FR"
_SEPARATORS = re.compile(r"[\s.\-()/]")


class NumberError(ValueError):
    """A number given in a request that cannot be read as a phone number."""


def is_region(code: str) -> bool:
    return code in phonenumbers.SUPPORTED_REGIONS


def to_e164(number: str, region: str = DEFAULT_REGION) -> str:
    """The E.164 form of ``number``; national numbers are read in ``region``.

    Raises :class:`NumberError` (without the number in its message) when it is not a
    possible phone number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        raise NumberError("not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise NumberError(f"not a possible phone number (read with default region {region})")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_number(number: str, region: str = DEFAULT_REGION) -> str:
    """The form hashed for a caller id: E.164 when it is a possible phone number.

    Anything else (an internal extension, an odd caller id) keeps the older form, the
    digits without separators and a leading '00' written '+', so it still gets a stable
    hash and its objection is still remembered.
    """
    try:
        return to_e164(number, region)
    except NumberError:
        pass
    digits = _SEPARATORS.sub("", number)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits


def _hmac(key: Secret, normal: str) -> str:
    return hmac.new(key.reveal().encode(), normal.encode(), hashlib.sha256).hexdigest()


def caller_hash(key: Secret, number: str, region: str = DEFAULT_REGION) -> str | None:
    """HMAC-SHA-256 of the normalised caller id, or None for an anonymous caller."""
    normal = normalise_number(number, region)
    if not normal or not any(c.isdigit() for c in normal):
        return None
    return _hmac(key, normal)


def subject_hash(key: Secret, number: str, region: str = DEFAULT_REGION) -> str:
    """The HMAC a data-subject request looks for. Strict: a number that cannot be
    parsed raises :class:`NumberError` instead of matching nothing."""
    return _hmac(key, to_e164(number, region))
