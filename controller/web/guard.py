"""What the daemon's web API checks before it trusts a request.

- Sign-in failures are counted per claimed identity, the ``person`` the request names,
  not per client address: the CRM, a supervisor's console and anything else on the
  same host (or behind the same reverse proxy) share one address, and whoever fails
  there must not lock the others out. Past ``max_failures`` in ``window`` seconds that
  identity gets 429 without touching the store, so nobody can flood the access log
  (which is kept a year) with refused sign-ins. Names that are no configured person
  share one count: inventing names buys no fresh attempts.
- A global cap bounds what all identities together may write to the access log: past
  ``global_max`` failures in the window, an identity that has itself failed in the
  window gets 429 at once. One that has not (a person using their right token) still
  gets through, so the cap cannot lock everyone out. What remains: whoever knows a
  person's id can keep that one person out, five failures a minute; their token stays
  out of reach (256 random bits, and 429 before any check).
- A body is read only as a JSON object sent as ``application/json`` in UTF-8; another
  charset is a 415, deeply nested or malformed JSON a 400, each with a clear message and
  an ``error_id``, never a 500.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from controller.web.errors import error

UNKNOWN_PERSON = ""
"""The one count shared by every name that is no configured person (never a person id:
those are non-empty)."""


class FailureLimiter:
    def __init__(
        self,
        persons: Iterable[str] = (),
        *,
        max_failures: int = 5,
        window: float = 60.0,
        global_max: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._persons = frozenset(persons)
        self._max = max_failures
        self._window = window
        self._global_max = global_max
        self._clock = clock
        # One entry per configured person at most, plus the unknown one: bounded.
        self._failures: dict[str, deque[float]] = {}

    def identity(self, person_id: str) -> str:
        """Whose count a request claiming ``person_id`` goes to."""
        return person_id if person_id in self._persons else UNKNOWN_PERSON

    def _recent(self, identity: str) -> int:
        failures = self._failures.get(identity)
        if failures is None:
            return 0
        since = self._clock() - self._window
        while failures and failures[0] <= since:
            failures.popleft()
        if not failures:
            del self._failures[identity]
        return len(failures)

    def _total(self) -> int:
        return sum(self._recent(identity) for identity in list(self._failures))

    def blocked(self, person_id: str) -> bool:
        """Whether a sign-in claiming ``person_id`` is refused with 429 unchecked."""
        recent = self._recent(self.identity(person_id))
        if recent >= self._max:
            return True
        return recent > 0 and self._total() >= self._global_max

    def failed(self, person_id: str) -> None:
        self._failures.setdefault(self.identity(person_id), deque()).append(self._clock())


def too_many(request: web.Request) -> web.Response:
    return error(429, "too-many-failures", "too many failed sign-ins for this person; wait")


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
