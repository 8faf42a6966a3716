"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness), for monitoring and
orchestrators (R4).

- ``/healthz`` answers 200 ``ok`` whenever the process answers: the answer is written on
  the event loop, so a loop that runs is what it proves. It never depends on Asterisk or
  the store: a supervisor restarting the daemon because Asterisk is down would cut every
  call the daemon carries for nothing. Its figures go only to a person of the access
  list (``?person=ID`` and their token as Bearer): active calls are nobody else's
  business.
- ``/readyz`` answers 200 only while the daemon can do its job now: ARI's events
  websocket is connected at this moment (not merely once since start), the store takes
  a real write, and the access log can be written (S7). Otherwise 503, with an
  ``error_id`` for each thing not ready, so that a probe or a person can branch on it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from controller.access.credentials import Token
from controller.access.service import AccessRefused
from controller.audit.errors import AccessLogError
from controller.store import SqliteStore, StoreThread
from controller.store.probe import WriteProbe, locked_elsewhere, probe_write
from controller.web.errors import error
from controller.web.guard import too_many
from controller.web.keys import (
    ACCESS,
    AGI,
    AMI,
    CALLS,
    CONFIG,
    LIMITER,
    PUMP,
    SOUNDS,
    STORE,
    STREAM,
    WITNESS,
)
from controller.web.payments import bearer

log = logging.getLogger("reccontrol.web")

# How long /readyz waits for the store thread to answer its write probe. Work queued
# ahead of the probe waiting on a lock held elsewhere counts: the store takes no write
# in time, so the daemon is not ready.
STORE_PROBE_TIMEOUT = 2.0
# How long /readyz then waits to learn whether another process holds the store's lock:
# the check opens the file on a connection of its own, which a hung disk can hold up.
LOCK_CHECK_TIMEOUT = 1.0
# Seconds a store probe's answer stands for the requests that follow it.
PROBE_EVERY = 1.0

ARI_DISCONNECTED = "ari-disconnected"
STORE_READ_ONLY = "store-read-only"
STORE_LOCKED = "store-locked"
STORE_NOT_WRITABLE = "store-not-writable"
STORE_NOT_ANSWERING = "store-not-answering"


@dataclass(frozen=True)
class NotReady:
    """One reason the daemon is not ready, as /readyz names it."""

    error_id: str
    message: str


def store_problem(probe: WriteProbe) -> NotReady | None:
    """What the store's write probe says, as a readiness reason."""
    if probe.ok:
        return None
    error_id = {
        "read-only": STORE_READ_ONLY,
        "locked": STORE_LOCKED,
    }.get(probe.kind, STORE_NOT_WRITABLE)
    # What SQLite said goes to the daemon's log, not to whoever asks /readyz.
    return NotReady(error_id, f"the store does not take a write ({probe.kind})")


def readiness(
    ari_connected: bool, store: NotReady | None, access_log: AccessLogError | None
) -> list[NotReady]:
    """Every reason the daemon is not ready, in a stable order; empty when it is."""
    problems: list[NotReady] = []
    if not ari_connected:
        problems.append(
            NotReady(ARI_DISCONNECTED, "ARI's events websocket is not connected now")
        )
    if store is not None:
        problems.append(store)
    if access_log is not None:
        # The reason is a signed-in person's to read (/healthz) and the ALERT's.
        problems.append(
            NotReady(access_log.error_id, "the access log cannot be written; see the ALERT")
        )
    return problems


StoreCheck = tuple[NotReady | None, AccessLogError | None]


def _probe_store(store: SqliteStore) -> tuple[WriteProbe, AccessLogError | None]:
    probe = probe_write(store)
    try:
        blocker = store.access_log_blocker()
    except Exception as exc:
        # The log's own tables cannot be read: it cannot be written either.
        blocker = AccessLogError(f"the access log cannot be read ({type(exc).__name__})")
    return probe, blocker


class StoreReadiness:
    """The store's part of /readyz: at most one write probe every ``every`` seconds,
    whoever asks and however often. /readyz answers anyone who reaches the port, and
    each probe is a committed write queued with the calls' own: a flood of requests
    must not become a flood of writes. Requests meanwhile get the last answer, or
    wait for the probe under way rather than queue another."""

    def __init__(
        self,
        store: Callable[[], StoreThread[SqliteStore]],
        *,
        probe: Callable[[SqliteStore], tuple[WriteProbe, AccessLogError | None]] = _probe_store,
        every: float = PROBE_EVERY,
        timeout: float = STORE_PROBE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        locked: Callable[[], bool] | None = None,
        lock_timeout: float = LOCK_CHECK_TIMEOUT,
    ) -> None:
        """``locked``: whether another process holds the store's write lock, asked apart
        from the store's thread (SQLite; None for a server store)."""
        self._store = store
        self._locked = locked
        self._lock_timeout = lock_timeout
        self._lock_check: asyncio.Future[bool] | None = None
        self._probe = probe
        self._every = every
        self._timeout = timeout
        self._clock = clock
        self._last: tuple[float, StoreCheck] | None = None
        self._running: asyncio.Future[tuple[WriteProbe, AccessLogError | None]] | None = None
        self._last_kind: str | None = None

    async def check(self) -> StoreCheck:
        if self._last is not None and self._clock() - self._last[0] < self._every:
            return self._last[1]
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._store().run(self._probe))
        try:
            async with asyncio.timeout(self._timeout):
                # Shielded: a request that gives up leaves the probe to the next one.
                probe, blocker = await asyncio.shield(self._running)
        except TimeoutError:
            return await self._not_answering(), None
        result = (store_problem(probe), blocker)
        self._tell(probe)
        self._last = (self._clock(), result)
        return result

    async def _not_answering(self) -> NotReady:
        """The probe waited behind the store thread's other work. When that work waits
        on a lock another process holds (an admin's sqlite3 shell, a stuck backup), the
        lock is the reason to name: it is what a person has to let go."""
        if self._locked is not None and await self._held_by_another():
            return NotReady(STORE_LOCKED, "the store does not take a write (locked)")
        return NotReady(
            STORE_NOT_ANSWERING,
            f"the store thread did not answer within {self._timeout:g} s "
            "(writes are queued behind a lock or a slow disk)",
        )

    async def _held_by_another(self) -> bool:
        """Whether another process holds the lock, within :data:`LOCK_CHECK_TIMEOUT`;
        not known in time counts as not locked (the answer is then "not answering").
        One check at a time, whoever asks: on a disk that hangs, the check's thread
        hangs too, and a flood of /readyz must not become a flood of stuck threads."""
        assert self._locked is not None
        if self._lock_check is None or self._lock_check.done():
            self._lock_check = asyncio.ensure_future(asyncio.to_thread(self._locked))
        try:
            async with asyncio.timeout(self._lock_timeout):
                return await asyncio.shield(self._lock_check)
        except TimeoutError:
            return False

    def _tell(self, probe: WriteProbe) -> None:
        """Logs a change of the store's state, once, not once a second."""
        if self._last_kind == probe.kind:
            return
        if not probe.ok:
            log.warning("readiness: the store does not take a write: %s", probe.detail)
        elif self._last_kind is not None:
            log.info("readiness: the store takes writes again")
        self._last_kind = probe.kind


READINESS = web.AppKey("readiness", StoreReadiness)


async def ready(request: web.Request) -> web.Response:
    app = request.app
    connected = app[STREAM].connected
    store_reason, log_blocker = await app[READINESS].check()
    problems = readiness(connected, store_reason, log_blocker)
    if not problems:
        return web.json_response({"status": "ready"})
    body = {
        "status": "not ready",
        "not_ready": [{"error_id": p.error_id, "message": p.message} for p in problems],
    }
    return web.json_response(body, status=503)


async def health(request: web.Request) -> web.Response:
    """``ok`` to anyone; the figures only to a person of the access list. An access log
    that cannot be written (S7) shows in ``access_log`` and makes /readyz fail: every
    audited access is refused meanwhile."""
    app = request.app
    answer: dict[str, object] = {"status": "ok"}
    person_id = request.query.get("person", "")
    token = bearer(request)
    if not (person_id and token):
        return web.json_response(answer)
    if app[LIMITER].blocked(person_id):
        return too_many(request)
    access = app[ACCESS]

    def sign_in(store: SqliteStore) -> str | None:
        access.authenticate(person_id, Token(token))
        return store.access_log_problem()

    try:
        log_problem = await app[STORE].run(sign_in)
    except AccessRefused as exc:
        app[LIMITER].failed(person_id)
        return error(401, "unauthenticated", exc.reason)
    except AccessLogError as exc:
        app[LIMITER].failed(person_id)
        return error(503, exc.error_id, "the access log cannot be written; see the ALERT")
    stream, calls, counters = app[STREAM], app[CALLS], app[PUMP].counters
    answer |= {
        "access_log": "ok" if log_problem is None else log_problem,
        "ari_connected": stream.connected,
        "ari_connections": stream.connections,
        "active_calls": calls.active_calls,
        "events_dropped": stream.dropped,
        "events_refused": calls.events_refused,
        "event_handler_errors": counters.handler_errors,
        "event_consumer_restarts": counters.consumer_restarts,
        "forced_reconnects": counters.forced_reconnects,
        "recording_failures": calls.recording_failures,
        # Configured sounds Asterisk lacks (an alert names each), and those it
        # cannot be asked about (absolute paths), at the last check.
        "sounds_missing": app[SOUNDS].missing,
        "sounds_not_checked": app[SOUNDS].not_checked,
        "sound_checks": app[SOUNDS].checks,
    }
    witness = app[WITNESS]
    if witness is not None:
        # Above 0: the witness file could not be written (an alert says why).
        answer["witness_failures"] = witness.failures
    ami = app[AMI]
    if ami is not None:
        answer["ami_connected"] = ami.connected.is_set()
    agi = app[AGI]
    if agi is not None:
        answer |= {
            "agi_sessions": agi.counters.sessions,
            "agi_active": agi.active,
            # Closed at once: agi_cap sessions were open (agi.max_connections, or
            # fewer when the open-file limit leaves too few descriptors).
            "agi_cap": agi.cap,
            "agi_refused": agi.counters.refused,
            "agi_bad_headers": agi.counters.bad_headers,
            "agi_unknown_scripts": agi.counters.unknown_scripts,
            "agi_script_errors": agi.counters.script_errors,
        }
    return web.json_response(answer)


def add_routes(app: web.Application) -> None:
    store = app[CONFIG].store
    locked = None if store.url else functools.partial(locked_elsewhere, store.path)
    app[READINESS] = StoreReadiness(lambda: app[STORE], locked=locked)
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", ready)
