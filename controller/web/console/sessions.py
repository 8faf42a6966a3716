"""The console's sessions: who is signed in, in this browser, until when.

Kept in the daemon's memory only: a restart signs everyone out, which costs a sign-in and
leaves nothing to steal from the store or a backup. A session id is 256 random bits,
sent only as an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` under TLS), and a
new one is made at each sign-in, so an id planted before the sign-in is worth nothing.
Each session carries its own CSRF token for the forms and the API's writes.

A session ends when it has not been used for ``idle`` seconds (``web.session_idle_
seconds``), at sign-out, or when its person leaves the access list (the person is read
from the configuration at each request). The number of sessions is bounded: past
``limit`` the least recently used goes first, so nobody can fill the memory by signing
in over and over.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "reccontrol_session"
SESSION_LIMIT = 10_000


@dataclass
class Session:
    id: str
    person_id: str
    csrf: str
    last_seen: float
    language: str | None = None
    """The language the person chose on the page; None: the browser's, or the site's."""

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)


class Sessions:
    def __init__(
        self,
        idle: float,
        *,
        limit: int = SESSION_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle = idle
        self._limit = limit
        self._clock = clock
        # Least recently used first.
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def open(self, person_id: str) -> Session:
        while len(self._by_id) >= self._limit:
            self._by_id.popitem(last=False)
        session = Session(
            secrets.token_urlsafe(32), person_id, secrets.token_urlsafe(32), self._clock()
        )
        self._by_id[session.id] = session
        return session

    def find(self, session_id: str | None) -> Session | None:
        """The live session with this id, marked as used now; an idle one is closed."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle:
            del self._by_id[session_id]
            return None
        session.last_seen = now
        self._by_id.move_to_end(session_id)
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._by_id)
