"""A thin ARI client: REST calls return typed results, the events websocket yields
typed events and reconnects by itself."""

from controller.ari.client import AriClient, EventStream, backoff_delays
from controller.ari.errors import (
    AriConflict,
    AriError,
    AriNotFound,
    AriUnavailable,
    AriUnprocessable,
)

__all__ = [
    "AriClient",
    "AriConflict",
    "AriError",
    "AriNotFound",
    "AriUnavailable",
    "AriUnprocessable",
    "EventStream",
    "backoff_delays",
]
