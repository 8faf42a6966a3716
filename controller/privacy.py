"""Caller numbers are personal data: reccontrol keeps only a keyed hash of them (C4).

A number is hashed in its E.164 form (``+33612345678``), read by :func:`to_e164`, the one
rule used for the caller id Asterisk delivers, the number a DPO types into a
data-subject request (C5) and an agent's declared private lines (A2). With the default
region FR:

1. A number with ``+`` or the region's international prefix (``00``) is international:
   ``+44 7911 123456`` and ``0044 7911 123456``.
2. Otherwise it is read as a national number of ``privacy.default_region`` when it is a
   possible number there: ``0612345678``, ``06 12 34 56 78``, ``612345678``.
3. Otherwise a string of bare digits is read as international without its ``+``, as
   some trunks deliver it: ``447911123456`` is ``+447911123456``. Rule 2 comes first,
   so a bare string that is also a possible national number stays national.

So all the forms above of one number give the same HMAC, whichever form a call came
with and whichever form the objection or the request was made with.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

from controller.secrets import Secret

DEFAULT_REGION = "FR"
_SEPARATORS = re.compile(r"[\s.\-()/]")
# A country code never starts with 0: a leading 0 is a national or international prefix.
_BARE = re.compile(r"[1-9][0-9]+")


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
        bare = _bare_international(number)
        if bare is None:
            raise NumberError(
                f"not a possible phone number (read with default region {region})"
            )
        parsed = bare
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _bare_international(number: str) -> phonenumbers.PhoneNumber | None:
    """Rule 3: digits only (separators aside), not possible in the default region: a
    trunk that dropped the ``+`` of an international number. None when reading it so
    gives no possible number either."""
    digits = _SEPARATORS.sub("", number)
    if _BARE.fullmatch(digits) is None:
        return None
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None


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


def earlier_caller_hash(key: Secret, number: str, region: str = DEFAULT_REGION) -> str | None:
    """The HMAC that releases before rule 3 stored for this caller id, when it differs
    from :func:`caller_hash`: they hashed bare international digits as they came
    (``447911123456``). An objection kept under it is carried to the current HMAC (C4)."""
    if _BARE.fullmatch(_SEPARATORS.sub("", number)) is None:
        # Not bare digits (a ``+``, a national 0...): rule 3 never applied, and no
        # second parse of the number is made for each call that comes in.
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number(parsed) or _bare_international(number) is None:
        return None
    return _hmac(key, _SEPARATORS.sub("", number))


def subject_hash(key: Secret, number: str, region: str = DEFAULT_REGION) -> str:
    """The HMAC a data-subject request looks for. Strict: a number that cannot be
    parsed raises :class:`NumberError` instead of matching nothing."""
    return _hmac(key, to_e164(number, region))
