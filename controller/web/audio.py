"""Recordings served over HTTP (S4): through the vault, in chunks, with byte ranges so a
browser's player can seek, and one access-log entry per listen or download.

A browser's ``<audio>`` element asks for the file many times for one listen: a first
request, then one per seek, each with its own ``Range``. Authorising each of them
through :class:`~controller.access.service.AccessService` would write an access-log
entry per chunk: the log, kept a year, would say a person listened twenty times when
they listened once, and the entries that matter would drown. So a listen is authorised
once: the access service checks the purpose, the role and the scope, checks the file
against its recorded hash and logs the access; what it hands back is kept here as a
:class:`Grant`, for that person and that recording only, for a short time
(:data:`GRANT_IDLE` after its last use, :data:`GRANT_LIFETIME` at most). The requests
that follow present the grant's token and are served without a new entry; a new
purpose, another person, another recording or an expired grant is a new access.

Every request still opens the file through the vault (:meth:`LocalVault.reader`: no
link, no file planted there) and serves it only while it is the very file whose hash
was checked when the grant was made: one swapped or rewritten since is refused. The
file is opened and read on a worker thread, never on the event loop, a chunk at a time,
so memory stays flat whatever the recording's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from aiohttp import web

from controller.access.errors import AccessFailed, AccessRefused
from controller.access.recordings import FILE_CHANGED, FILE_MISSING, RecordingHandle, identity
from controller.access.service import AccessService
from controller.audit.errors import AccessLogError
from controller.config.model import Person
from controller.recordings.vault import LocalVault, VaultError, VaultFileRefused
from controller.store import SqliteStore, StoreThread
from controller.web.errors import error, refused
from controller.web.ranges import RangeNotSatisfiable, extension, media_type, requested_range

log = logging.getLogger("reccontrol.web")

CHUNK = 1 << 16
GRANT_IDLE = 600.0
"""Seconds a grant lives after its last use: a paused player resumes without a new
entry; a page left open over lunch asks again."""
GRANT_LIFETIME = 4 * 3600.0
"""Seconds a grant lives at most, however often it is used."""
MAX_GRANTS = 1000
"""Grants kept at once, the oldest dropped first: memory stays bounded."""
ACTIONS = ("listen", "download")


@dataclass
class Grant:
    """One authorised listen or download of one recording by one person."""

    token: str
    person_id: str
    action: str
    purpose: str
    handle: RecordingHandle
    made: float
    used: float = field(default=0.0)

    @property
    def recording_id(self) -> str:
        return self.handle.recording_id


class AudioGrants:
    """The listens and downloads authorised lately, by token. Lives on the event loop."""

    def __init__(
        self,
        *,
        idle: float = GRANT_IDLE,
        lifetime: float = GRANT_LIFETIME,
        limit: int = MAX_GRANTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle = idle
        self._lifetime = lifetime
        self._limit = limit
        self._clock = clock
        self._grants: OrderedDict[str, Grant] = OrderedDict()
        # Key -> (lock, users): one authorisation at a time per listen (see serialised).
        self._pending: dict[tuple[str, ...], tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def serialised(self, key: tuple[str, ...]) -> AsyncIterator[None]:
        """Holds back a second request for the same listen until the first one's grant
        is made: a player may open two ranges at once, and each would otherwise write
        its own entry."""
        lock, users = self._pending.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._pending[key]

    def add(self, person_id: str, action: str, purpose: str, handle: RecordingHandle) -> Grant:
        now = self._clock()
        self._prune(now)
        grant = Grant(secrets.token_urlsafe(24), person_id, action, purpose, handle, now, now)
        self._grants[grant.token] = grant
        while len(self._grants) > self._limit:
            self._grants.popitem(last=False)
        return grant

    def find(self, token: str, person_id: str, recording_id: str) -> Grant | None:
        """The live grant of ``token``, if it is this person's for this recording."""
        grant = self._grants.get(token)
        if grant is None or not self._alive(grant, self._clock()):
            return None
        if (grant.person_id, grant.recording_id) != (person_id, recording_id):
            return None
        grant.used = self._clock()
        return grant

    def reuse(self, person_id: str, recording_id: str, action: str, purpose: str) -> Grant | None:
        """A live grant for the same person, recording, action and purpose: the same
        listen going on (a player's next range), not a new access."""
        now = self._clock()
        for grant in reversed(self._grants.values()):
            same = (grant.person_id, grant.recording_id, grant.action, grant.purpose)
            if same == (person_id, recording_id, action, purpose) and self._alive(grant, now):
                grant.used = now
                return grant
        return None

    def drop(self, token: str) -> None:
        self._grants.pop(token, None)

    def _alive(self, grant: Grant, now: float) -> bool:
        return now - grant.used < self._idle and now - grant.made < self._lifetime

    def _prune(self, now: float) -> None:
        for token in [t for t, g in self._grants.items() if not self._alive(g, now)]:
            del self._grants[token]


AUDIO_GRANTS = web.AppKey("audio_grants", AudioGrants)


@dataclass
class _Opened:
    """A vault file open for one response, and how to close it (on a thread too)."""

    source: BinaryIO
    size: int
    stack: contextlib.ExitStack


def _open_checked(vault: LocalVault, handle: RecordingHandle) -> _Opened:
    """Opens the recording through the vault and makes sure it is still the file the
    grant checked. Blocks: runs on a worker thread. Raises :class:`AccessFailed`."""
    stack = contextlib.ExitStack()
    try:
        source = stack.enter_context(vault.reader(handle.path))
        opened = identity(os.fstat(source.fileno()))
    except VaultFileRefused as exc:
        stack.close()
        raise AccessFailed(str(exc), error_id=exc.error_id) from None
    except VaultError as exc:
        stack.close()
        error_id = FILE_MISSING if not handle.path.exists() else exc.error_id
        raise AccessFailed(str(exc), error_id=error_id) from None
    if handle.file is not None and opened != handle.file:
        stack.close()
        raise AccessFailed(
            f"recording {handle.recording_id}: its file changed since the access was granted",
            error_id=FILE_CHANGED,
        )
    # The length served is the plaintext's: a file sealed at rest (S10) is longer on disk.
    size = source.seek(0, os.SEEK_END)
    source.seek(0)
    return _Opened(source, size, stack)


def _read(source: BinaryIO, start: int, length: int) -> bytes:
    source.seek(start)
    return source.read(length)


FAILURE_STATUS = {FILE_MISSING: 410, FILE_CHANGED: 409, "vault-file-refused": 409}


def failure_answer(exc: AccessFailed) -> web.Response:
    """The answer to an allowed access that failed: the file is gone (410), not the one
    recorded (409), or unreadable (500). The message names the recording, never a path."""
    messages = {
        FILE_MISSING: "the recording's file is missing",
        FILE_CHANGED: "the recording's file is not the one recorded; it is not served",
        "vault-file-refused": "the recording's file was refused by the vault; it is not served",
    }
    message = messages.get(exc.error_id, "the recording's file cannot be read")
    return error(FAILURE_STATUS.get(exc.error_id, 500), exc.error_id, message)


async def stream_recording(
    request: web.Request,
    vault: LocalVault,
    handle: RecordingHandle,
    *,
    download: bool,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Answers ``request`` with the recording: 200 (whole), 206 (the one range asked
    for) or 416; an attachment for a download. Raises nothing for a file problem: that
    is a JSON error with its ``error_id``."""
    try:
        opened = await asyncio.to_thread(_open_checked, vault, handle)
    except AccessFailed as exc:
        # A grant's file swapped or gone after the access was checked: worth a look.
        log.warning("recording %s not served: %s", handle.recording_id, exc.error_id)
        return failure_answer(exc)
    try:
        return await _send(request, opened, handle, download, headers or {})
    finally:
        await asyncio.to_thread(opened.stack.close)


def _headers(handle: RecordingHandle, download: bool, extra: Mapping[str, str]) -> dict[str, str]:
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": media_type(handle.format),
        # Audio of a call stays out of shared and browser caches (S4).
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if download:
        name = f"{handle.recording_id}.{extension(handle.format)}"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    for name, value in extra.items():
        headers.setdefault(name, value)
    return headers


async def _send(
    request: web.Request,
    opened: _Opened,
    handle: RecordingHandle,
    download: bool,
    extra: Mapping[str, str],
) -> web.StreamResponse:
    headers = _headers(handle, download, extra)
    try:
        wanted = requested_range(request.headers.get("Range"), opened.size)
    except RangeNotSatisfiable as exc:
        answer = error(416, exc.error_id, str(exc))
        answer.headers.update({"Content-Range": f"bytes */{opened.size}", "Accept-Ranges": "bytes"})
        return answer
    start, length = (0, opened.size) if wanted is None else (wanted.start, wanted.length)
    response = web.StreamResponse(status=200 if wanted is None else 206, headers=headers)
    if wanted is not None:
        response.headers["Content-Range"] = wanted.content_range(opened.size)
    response.content_length = length
    await response.prepare(request)
    if request.method != "HEAD" and not await _copy(response, opened.source, start, length):
        # The file got shorter while it was sent: the length announced cannot be met,
        # so the connection is cut rather than the answer padded.
        log.warning("recording %s shrank while it was sent", handle.recording_id)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def _copy(response: web.StreamResponse, source: BinaryIO, start: int, length: int) -> bool:
    """Sends ``length`` bytes from ``start``, a chunk at a time; False if the file ended
    first."""
    position, end = start, start + length
    while position < end:
        block = await asyncio.to_thread(_read, source, position, min(CHUNK, end - position))
        if not block:
            return False
        await response.write(block)
        position += len(block)
    return True


# -- the routes' part: authorise once, then serve by grant ---------------------------------
@dataclass(frozen=True)
class Door:
    """What serving a recording needs from the daemon. ``access`` lives on the store
    thread and is only used inside ``store.run``."""

    store: StoreThread[SqliteStore]
    access: AccessService
    vault: LocalVault
    grants: AudioGrants
    headers: Mapping[str, str] = field(default_factory=dict)
    """Headers every answer carries (the security headers): a streamed answer is sent
    before any middleware could add them."""


async def authorise(
    door: Door, person: Person, action: str, purpose: str, recording_id: str
) -> Grant:
    """The grant for this listen or download: a live one of the same person, recording,
    action and purpose (the player's next range: no new entry), else a new one from the
    access service (one entry, refusals too). Raises what the access service raises:
    :class:`AccessRefused`, :class:`AccessFailed`, :class:`AccessLogError`."""
    stated = " ".join(purpose.split())
    async with door.grants.serialised((person.id, recording_id, action, stated)):
        grant = door.grants.reuse(person.id, recording_id, action, stated)
        if grant is not None:
            return grant
        access = door.access
        serve = access.listen if action == "listen" else access.download
        handle = await door.store.run(lambda _: serve(person, purpose, recording_id))
        return door.grants.add(person.id, action, stated, handle)


def access_answer(exc: AccessRefused | AccessFailed | AccessLogError, what: str) -> web.Response:
    """The JSON answer to what the access service raised about a ``what``."""
    if isinstance(exc, AccessRefused):
        return refused(exc, what)
    if isinstance(exc, AccessFailed):
        return failure_answer(exc)
    # S2, S7: an access that cannot be logged is not done.
    log.error("ALERT: access refused: %s (%s)", exc, exc.error_id)
    return error(503, exc.error_id, "the access log cannot be written; nothing was done")


async def serve_recording(
    request: web.Request, door: Door, person: Person, action: str, purpose: str, recording_id: str
) -> web.StreamResponse:
    """Authorises (or reuses the grant of) a listen or download, then streams it."""
    if action not in ACTIONS:
        return error(400, "invalid-field", "action: listen or download")
    try:
        grant = await authorise(door, person, action, purpose, recording_id)
    except (AccessRefused, AccessFailed, AccessLogError) as exc:
        return access_answer(exc, "recording")
    download = grant.action == "download"
    return await stream_recording(
        request, door.vault, grant.handle, download=download, headers=door.headers
    )


async def serve_grant(
    request: web.Request, door: Door, person: Person, recording_id: str, token: str
) -> web.StreamResponse:
    """Streams the recording of a live grant of this person's (a player's URL). An
    unknown, expired or someone else's grant answers like a recording that does not
    exist: the person states a purpose again."""
    grant = door.grants.find(token, person.id, recording_id)
    if grant is None:
        return error(404, "not-found", "no such recording, or its listen has expired")
    download = grant.action == "download"
    return await stream_recording(
        request, door.vault, grant.handle, download=download, headers=door.headers
    )
