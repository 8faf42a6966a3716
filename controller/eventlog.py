"""An optional JSON-lines log of every ARI event, for support and audits.

Events are redacted before they are queued (no DTMF digits, no caller names or
numbers) and written by a background thread, so the event loop never waits on disk.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

from controller.ari.events import redact_event

log = logging.getLogger("reccontrol.eventlog")


def make_private_folder(folder: Path) -> None:
    """Creates ``folder`` and any missing parent 0700 whatever the umask (a umask of
    000 would otherwise leave the event log's folder 0777)."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)


class EventLog:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._enabled = True
        self._thread = threading.Thread(
            target=self._write_loop, name="reccontrol-eventlog", daemon=True
        )

    def start(self) -> None:
        make_private_folder(self._path.parent)
        self._thread.start()

    def __call__(self, raw: dict[str, Any]) -> None:
        if self._enabled:
            self._queue.put(json.dumps(redact_event(raw), separators=(",", ":")))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _write_loop(self) -> None:
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self._path, flags, 0o640)
        except OSError as exc:
            self._enabled = False
            log.error("event log disabled: cannot open %s: %s", self._path, exc.strerror)
            return
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            while True:
                line = self._queue.get()
                if line is None:
                    return
                out.write(line + "\n")
                out.flush()
