"""What the access service raises: a refusal (logged as refused) or a failure."""

from __future__ import annotations

UNAUTHENTICATED = "unauthenticated"
FORBIDDEN = "forbidden"
NOT_FOUND = "not-found"
"""No such object, or one outside the person's services: the same answer for both, so a
person cannot learn what exists outside their scope (the log keeps the true reason)."""
NOT_NOW = "payment-refused"
"""Allowed, but the call cannot do it now (no call, payments off, already paying)."""
LISTEN_REFUSED = "listen-refused"
"""Allowed to listen live, but not to this call now (S8: it could not be recorded now)."""


class AccessRefused(Exception):
    """Refused, and logged as refused. ``reason`` is safe to show to anyone, also over
    the web API; ``detail`` (a key path or a file) only to the local operator."""

    def __init__(
        self, reason: str, *, detail: str = "", sign_in: bool = False, error_id: str = ""
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.sign_in = sign_in
        """The person could not be signed in (unknown, wrong or unusable credential)."""
        self.error_id = error_id or (UNAUTHENTICATED if sign_in else FORBIDDEN)
        """What callers branch on: :data:`UNAUTHENTICATED`, :data:`FORBIDDEN` (role,
        purpose), :data:`NOT_FOUND` (no such object, or outside the person's services), or
        :data:`NOT_NOW` (allowed, but not in the call's state)."""
        super().__init__(reason)


class AccessFailed(Exception):
    """Allowed, but the action failed (a missing file, say); logged as an error.
    ``error_id`` says which failure: ``file-missing``, ``file-changed`` (not the file
    whose hash was recorded), ``vault-file-refused``, ``vault-error``, or
    ``access-failed`` for the others."""

    def __init__(self, message: str, *, error_id: str = "access-failed") -> None:
        self.error_id = error_id
        super().__init__(message)
