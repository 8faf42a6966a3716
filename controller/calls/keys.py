"""Recognises agents' key sequences (``*2``...) in a stream of DTMF digits, pure.

A digit that cannot continue any sequence is dropped, and so is a partial sequence
left longer than the inter-digit timeout: random keys never trigger anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Request = TypeVar("Request")


@dataclass
class KeyMatcher:
    sequences: dict[str, str]
    """Action name to key sequence; no sequence is a prefix of another (checked at load)."""
    inter_digit_timeout: float
    _buffer: str = field(default="", init=False)
    _last: float = field(default=0.0, init=False)
    _prefixes: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    """Every prefix of every sequence (the empty one too): a key is looked up once, not
    matched against every sequence, on the way from the key to its pause."""
    _actions: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Sequence to action (no two actions share one: checked at load; else the first)."""

    def __post_init__(self) -> None:
        self._prefixes = frozenset(
            sequence[:end]
            for sequence in self.sequences.values()
            for end in range(len(sequence) + 1)
        )
        for action, sequence in self.sequences.items():
            self._actions.setdefault(sequence, action)

    def feed(self, digit: str, at: float) -> str | None:
        """Adds one digit pressed at monotonic time ``at``; returns the completed action."""
        candidate = self._candidate(digit, at)
        self._last = at
        self._buffer = candidate
        action = self._actions.get(candidate)
        if action is not None:
            self._buffer = ""
        return action

    def completes(self, digit: str, at: float) -> str | None:
        """The action :meth:`feed` would return for this digit, changing nothing."""
        return self._actions.get(self._candidate(digit, at))

    def _candidate(self, digit: str, at: float) -> str:
        """The keys pending once ``digit`` is added: "" if it continues nothing."""
        pending = self._buffer
        if pending and at - self._last > self.inter_digit_timeout:
            pending = ""
        candidate = pending + digit
        if not self._continues(candidate):
            # Maybe the digit starts a new sequence on its own.
            candidate = digit if self._continues(digit) else ""
        return candidate

    def reset(self) -> None:
        """Forgets a partial sequence (its next keys may have been lost)."""
        self._buffer = ""

    def _continues(self, prefix: str) -> bool:
        return prefix in self._prefixes

    @property
    def pending(self) -> str:
        return self._buffer


@dataclass(frozen=True, slots=True)
class ArmedKeys(Generic[Request]):
    """What the agent's next key would send first, worked out after their last key (a
    ``*``, say): the router reads it when the next key comes, before the call runs."""

    channel_id: str
    since: float
    """When the last key was pressed: past the inter-digit timeout the keys pending are
    dropped, and this no longer holds."""
    within: float
    requests: dict[str, Request]
    """Digit to the request it sends first; a digit not here sends none first."""

    def holds(self, channel_id: str, at: float) -> bool:
        """Whether it still says what a key of ``channel_id`` pressed at ``at`` does."""
        return channel_id == self.channel_id and at - self.since <= self.within
