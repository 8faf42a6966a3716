"""Card digits in memory: a holder that cannot be printed, pickled or compared, and
is wiped as soon as the payment request has been sent.

Python cannot promise that no transient copy of a value survives in freed memory, so
the digits live in a mutable buffer that is zeroed on wipe, and reccontrol's own code
makes exactly one copy: the request body, written into a buffer of its final size (no
reallocation leaves a stray copy behind) and zeroed right after sending. There is no
method that hands the digits out as ``bytes``. What the HTTP and TLS libraries copy on
the way to the socket is out of reach of Python code.

Only the ASCII digits 0-9 are accepted: ``str.isdigit`` also accepts ``²`` or ``٣``.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

ASCII_DIGITS = frozenset("0123456789")


class SensitiveDigits:
    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def append(self, digit: str) -> None:
        if len(digit) != 1 or digit not in ASCII_DIGITS:
            raise ValueError("only single ASCII digits 0-9 are kept")
        self._buffer.append(ord(digit))

    def clear(self) -> None:
        self.wipe()

    def wipe(self) -> None:
        for index in range(len(self._buffer)):
            self._buffer[index] = 0
        self._buffer.clear()

    def __len__(self) -> int:
        return len(self._buffer)

    def digit_at(self, index: int) -> int:
        """The value (0-9) of one digit, for validation without a copy of them all."""
        return self._buffer[index] - 48

    def copy_into(self, target: bytearray, offset: int) -> int:
        """Writes the digits into ``target`` at ``offset`` (no intermediate copy);
        returns the offset after them. Only the request body uses it."""
        end = offset + len(self._buffer)
        target[offset:end] = self._buffer
        return end

    def matches(self, expected: bytes) -> bool:
        """Whether the digits are ``expected``, in constant time (for checks and tests)."""
        return hmac.compare_digest(self._buffer, expected)

    def luhn_valid(self) -> bool:
        total = 0
        for position, char in enumerate(reversed(self._buffer)):
            value = char - 48
            if position % 2 == 1:
                value *= 2
                if value > 9:
                    value -= 9
            total += value
        return len(self._buffer) > 0 and total % 10 == 0

    def __repr__(self) -> str:
        return f"SensitiveDigits(<{len(self._buffer)} digits>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("card digits cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("card digits cannot be copied")


class CardData:
    """Card number, expiry (MMYY) and security code, collected by the payment IVR."""

    __slots__ = ("cvv", "expiry", "number")

    def __init__(self) -> None:
        self.number = SensitiveDigits()
        self.expiry = SensitiveDigits()
        self.cvv = SensitiveDigits()

    def wipe(self) -> None:
        self.number.wipe()
        self.expiry.wipe()
        self.cvv.wipe()

    def __repr__(self) -> str:
        return "CardData(<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("card data cannot be pickled")
