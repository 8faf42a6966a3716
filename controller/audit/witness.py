"""The access log's outside witness (S3): the signed head, published where the store's
writer cannot rewrite it.

Someone who can write the SQLite file can delete the newest entries, or the whole log,
and put the head back to match; the chain alone cannot see that. So the daemon appends
the head (sequence number, hash, time, HMAC with the audit key) every
``audit.witness_interval_seconds`` to an append-only file, and optionally to syslog.
``reccontrol audit verify --witness FILE`` then checks that every head it published is
still in the log. The file should live where the store's account cannot rewrite it: a
file marked ``chattr +a``, owned by another account, or on another host.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import syslog
from collections.abc import Awaitable, Callable
from pathlib import Path

from controller.audit.witness_line import witness_line
from controller.clock import Clock
from controller.secrets import Secret

log = logging.getLogger("reccontrol.audit")

SYSLOG_SOCKET = "/dev/log"
# The kind of the alert row written when the witness file cannot be written.
WITNESS_ALERT = "audit_witness_unwritable"


def append_line(path: Path, line: str) -> None:
    """Appends one line and flushes it to disk. Never follows a symlink, never truncates."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o640)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


class WitnessPublisher:
    """Publishes the head whenever it changed since the last publication, once per
    interval, and once more when stopped."""

    def __init__(
        self,
        read_head: Callable[[], Awaitable[tuple[int, str]]],
        clock: Clock,
        key: Secret | None,
        path: Path | None,
        *,
        interval: float,
        to_syslog: bool = False,
        syslog_address: str = SYSLOG_SOCKET,
        alert: Callable[[str, str], None] | None = None,
        read_key_start: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        self._read_head = read_head
        # The key start's MAC goes into each line, so a log re-keyed later is caught.
        self._read_key_start = read_key_start
        self._clock = clock
        self._key = key
        self._path = path
        self._interval = interval
        self._syslog = to_syslog
        self._syslog_address = syslog_address
        self._last: tuple[tuple[int, str], str | None] | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._alert = alert
        self.published = 0
        self.failures = 0
        """Publications that could not be written, since start: a figure of /healthz."""
        self._failing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="reccontrol-audit-witness")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def publish_now(self) -> bool:
        """Publishes the head if it changed; True if a line was written."""
        key_start = await self._read_key_start() if self._read_key_start else None
        head = await self._read_head()
        if (head, key_start) == self._last:
            return False
        at = self._clock.now().astimezone(dt.UTC).isoformat(timespec="milliseconds")
        line = witness_line(at, head, self._key, key_start)
        if self._path is not None:
            try:
                await asyncio.to_thread(append_line, self._path, line)
            except OSError as exc:
                self._write_failed(self._path, exc)
                raise
            self._failing = False
        if self._syslog:
            try:
                await asyncio.to_thread(send_to_syslog, line, self._syslog_address)
            except OSError as exc:
                # The file copy is written; syslog is a second copy, tried next time.
                log.error("audit witness: syslog unreachable (%s)", exc.strerror or exc)
        self._last = (head, key_start)
        self.published += 1
        return True

    def _write_failed(self, path: Path, exc: OSError) -> None:
        """Counts the failure; the first of a run of failures raises an alert (a row and
        an ALERT line), since an unwritten witness leaves the log's tail unprotected."""
        self.failures += 1
        if self._failing:
            return
        self._failing = True
        message = witness_failure_message(path, exc)
        log.error("ALERT: %s", message)
        if self._alert is not None:
            self._alert(WITNESS_ALERT, message)

    async def _loop(self) -> None:
        while True:
            try:
                await self.publish_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Never stops the daemon; the next interval tries again.
                log.error(
                    "audit witness: could not publish the head (%s: %s)", type(exc).__name__, exc
                )
            if self._stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)


def witness_failure_message(path: Path, exc: OSError) -> str:
    why = exc.strerror or type(exc).__name__
    return (
        f"audit witness: cannot append to audit.witness_file {path} ({why}); the signed "
        "head is not published until it can be: make the file writable by the daemon "
        "(with systemd: LogsDirectory= or ReadWritePaths=)"
    )


def send_to_syslog(line: str, address: str = SYSLOG_SOCKET) -> None:
    """One datagram to the local syslog socket (facility auth, level info), which
    journald or rsyslog can forward to another host."""
    message = f"<{syslog.LOG_AUTH | syslog.LOG_INFO}>reccontrol: audit head {line}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode("utf-8"), address)
