"""What the daemon's web API checks before it trusts a request.

- Sign-in failures are counted per client address: past ``max_failures`` in ``window``
  seconds the address gets 429 without touching the store, so nobody can flood the
  access log (which is kept a year) with refused sign-ins.
- A body is read only as a JSON object sent as ``application/json`` in UTF-8; another
  charset is a 415, deeply nested or malformed JSON a 400, each with a clear message and
  an ``error_id``, never a 500.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from controller.web.errors import error

MAX_TRACKED_ADDRESSES = 10_000


class FailureLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return failures

    def blocked(self, address: str) -> bool:
        return len(self._recent(address)) >= self._max

    def failed(self, address: str) -> None:
        if address not in self._failures and len(self._failures) >= MAX_TRACKED_ADDRESSES:
            # Forget the addresses whose failures are all old; if none, the oldest one.
            for known in list(self._failures):
                self._recent(known)
            if len(self._failures) >= MAX_TRACKED_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(address, deque()).append(self._clock())


def client_address(request: web.Request) -> str:
    return request.remote or "-"


def too_many(request: web.Request) -> web.Response:
    return error(429, "too-many-failures", "too many failed sign-ins from this address; wait")


# JSON exchanged between systems is UTF-8 (RFC 8259, section 8.1); "utf8" is a common
# spelling of it.
JSON_CHARSETS = frozenset({"utf-8", "utf8"})


async def json_object(request: web.Request) -> dict[str, Any] | web.Response:
    """The body as a JSON object, or the 4xx answer to send instead."""
    if request.content_type != "application/json":
        return error(415, "unsupported-media-type", "send the body as application/json")
    charset = request.charset
    if charset is not None and charset.lower() not in JSON_CHARSETS:
        # Decoding with whatever charset the client names would fail on an unknown
        # one (a 500) and accept odd ones; JSON is UTF-8 anyway.
        return error(
            415, "unsupported-charset", "send the body as UTF-8 (charset=utf-8, or no charset)"
        )
    try:
        text = (await request.read()).decode("utf-8")
        body: Any = json.loads(text)
    except RecursionError:
        return error(400, "invalid-json", "the body is nested too deeply")
    except (ValueError, UnicodeDecodeError):
        return error(400, "invalid-json", "the body must be a JSON object")
    if not isinstance(body, dict):
        return error(400, "invalid-json", "the body must be a JSON object")
    return body
