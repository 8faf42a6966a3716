"""Recognises agents' key sequences (``*2``...) in a stream of DTMF digits, pure.

A digit that cannot continue any sequence is dropped, and so is a partial sequence
left longer than the inter-digit timeout: random keys never trigger anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
        if self._buffer and at - self._last > self.inter_digit_timeout:
            self._buffer = ""
        self._last = at
        candidate = self._buffer + digit
        if not self._continues(candidate):
            # Maybe the digit starts a new sequence on its own.
            candidate = digit if self._continues(digit) else ""
        self._buffer = candidate
        action = self._actions.get(candidate)
        if action is not None:
            self._buffer = ""
        return action

    def reset(self) -> None:
        """Forgets a partial sequence (its next keys may have been lost)."""
        self._buffer = ""

    def _continues(self, prefix: str) -> bool:
        return prefix in self._prefixes

    @property
    def pending(self) -> str:
        return self._buffer
