"""A thin ARI client: REST calls return typed results, the events websocket yields
typed events and reconnects by itself.

The client (and aiohttp with it) loads on first use of a name below, so the pure call
code, which needs only :mod:`controller.ari.models`, never pulls in the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.ari.client import AriClient
    from controller.ari.errors import (
        AriConflict,
        AriError,
        AriNotFound,
        AriUnavailable,
        AriUnprocessable,
    )
    from controller.ari.stream import EventStream, backoff_delays

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

_HOME = {
    "AriClient": "controller.ari.client",
    "EventStream": "controller.ari.stream",
    "backoff_delays": "controller.ari.stream",
    "AriConflict": "controller.ari.errors",
    "AriError": "controller.ari.errors",
    "AriNotFound": "controller.ari.errors",
    "AriUnavailable": "controller.ari.errors",
    "AriUnprocessable": "controller.ari.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'controller.ari' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
