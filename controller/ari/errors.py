"""Typed exceptions for ARI REST answers.

Each carries a stable ``error_id`` so callers and logs can match on it, and never the
credentials or the full URL with its query string (which may carry a caller number).
"""

from __future__ import annotations


class AriError(Exception):
    error_id = "ari-error"

    def __init__(self, method: str, path: str, status: int | None, message: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        where = f"{method} {path}"
        super().__init__(f"{where}: {status} {message}" if status else f"{where}: {message}")


class AriBadRequest(AriError):
    error_id = "ari-bad-request"


class AriUnauthorized(AriError):
    error_id = "ari-unauthorized"


class AriNotFound(AriError):
    error_id = "ari-not-found"


class AriConflict(AriError):
    """409: the object is not in a state that allows the operation."""

    error_id = "ari-conflict"


class AriUnprocessable(AriError):
    """422: a parameter refers to something that does not exist or cannot be used."""

    error_id = "ari-unprocessable"


class AriServerError(AriError):
    error_id = "ari-server-error"


class AriUnavailable(AriError):
    """Asterisk could not be reached, or did not answer in time."""

    error_id = "ari-unavailable"


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    403: AriUnauthorized,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def error_for_status(method: str, path: str, status: int, message: str) -> AriError:
    cls = _BY_STATUS.get(status, AriServerError if status >= 500 else AriError)
    return cls(method, path, status, message)
