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


class EventLog:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._enabled = True
        self._thread = threading.Thread(
            target=self._write_loop, name="reccontrol-eventlog", daemon=True
        )

    def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def __call__(self, raw: dict[str, Any]) -> None:
        if self._enabled:
            self._queue.put(json.dumps(redact_event(raw), separators=(",", ":")))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _write_loop(self) -> None:
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
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
