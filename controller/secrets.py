"""Values that must never reach a log, a repr or an exception message."""

from __future__ import annotations

from typing import NoReturn


class Secret:
    """A secret string (password, token, HMAC key).

    ``str()`` and ``repr()`` print a mask, so a secret passed to a log call or caught in
    a traceback shows nothing. The value is read with :meth:`reveal`, at the one place
    that needs it.
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self._source = source

    def reveal(self) -> str:
        return self._value

    @property
    def source(self) -> str:
        """Where the secret came from (``env:NAME`` or ``file:PATH``), safe to print."""
        return self._source

    def __repr__(self) -> str:
        return f"Secret({self._source or '***'})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._source))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")
