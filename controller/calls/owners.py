"""Which call owns a channel or a recording, and every one a call owns.

Each event names a channel or a recording: the router finds its call in one dict read.
When a call ends, whatever it owned must go too; a scan of every entry would cost a
little more with each call held at once, at every call's end. The entries of each call
are kept beside, so a call's end costs what that call owned.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TypeVar, overload

T = TypeVar("T")


class Owners(MutableMapping[str, str]):
    """Key (a channel id, a recording name) -> call id, with each call's keys."""

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}
        self._owned: dict[str, set[str]] = {}

    def __getitem__(self, key: str) -> str:
        return self._owner[key]

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, default: str, /) -> str: ...

    @overload
    def get(self, key: str, default: T, /) -> str | T: ...

    def get(self, key: str, default: object = None, /) -> object:
        # The hot path (every event): one dict read, not MutableMapping's try/except.
        return self._owner.get(key, default)

    def __setitem__(self, key: str, call_id: str) -> None:
        before = self._owner.get(key)
        if before == call_id:
            return
        if before is not None:
            self._drop(before, key)
        self._owner[key] = call_id
        self._owned.setdefault(call_id, set()).add(key)

    def __delitem__(self, key: str) -> None:
        self._drop(self._owner.pop(key), key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._owner)

    def __len__(self) -> int:
        return len(self._owner)

    def __contains__(self, key: object) -> bool:
        return key in self._owner

    def forget_call(self, call_id: str) -> None:
        """Every key ``call_id`` owns goes."""
        for key in self._owned.pop(call_id, ()):
            del self._owner[key]

    def _drop(self, call_id: str, key: str) -> None:
        keys = self._owned.get(call_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._owned[call_id]
