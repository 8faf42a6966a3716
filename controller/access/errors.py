"""What the access service raises: a refusal (logged as refused) or a failure."""

from __future__ import annotations


class AccessRefused(Exception):
    """Refused, and logged as refused. ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AccessFailed(Exception):
    """Allowed, but the action failed (a missing file, say); logged as an error."""
