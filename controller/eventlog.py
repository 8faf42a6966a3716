"""An optional JSON-lines log of every ARI event, for support and audits.

Events are redacted before they are queued and written by a background thread, so the
event loop never waits on disk. Redaction keeps only the fields known to be safe, each
event's and each nested object's (ids, states, times, causes); every other field is
left out, whatever it holds. A field Asterisk adds in a later version, a channel
variable, the caller and connected parties, DTMF digits and dialled strings are never
written. The few kept fields that are free text (a channel's name, the dialplan
application's data, Stasis arguments, URIs) keep no run of three digits or more: they
can carry a caller's or a dialled number.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeAlias

from controller.logs import mask_digit_runs

log = logging.getLogger("reccontrol.eventlog")


KEEP: Final = "keep"
"""A field written as it came: a number, a boolean, or a string that holds no personal
data (an id, a state, a timestamp, a cause)."""
TEXT: Final = "text"
"""A string written with its runs of digits masked: free text that may embed a
number."""
Rule: TypeAlias = "str | Mapping[str, Rule]"
"""KEEP, TEXT, or the rules of a nested object's fields."""

_DIALPLAN: Mapping[str, Rule] = {
    "context": KEEP,
    "priority": KEEP,
    "app_name": KEEP,
    "app_data": TEXT,
    # Not "exten": the dialled extension can be the number itself.
}
_CHANNEL: Mapping[str, Rule] = {
    "id": KEEP,
    "name": TEXT,
    "state": KEEP,
    "creationtime": KEEP,
    "language": KEEP,
    "dialplan": _DIALPLAN,
    # Not "caller", "connected", "caller_rdnis", "accountcode", "channelvars",
    # "protocol_id": numbers, names and whatever the dialplan set.
}
_BRIDGE: Mapping[str, Rule] = {
    "id": KEEP,
    "technology": KEEP,
    "bridge_type": KEEP,
    "bridge_class": KEEP,
    "creator": KEEP,
    "name": TEXT,
    "channels": KEEP,
    "creationtime": KEEP,
    "video_mode": KEEP,
}
_PLAYBACK: Mapping[str, Rule] = {
    "id": KEEP,
    "media_uri": TEXT,
    "next_media_uri": TEXT,
    "target_uri": TEXT,
    "language": KEEP,
    "state": KEEP,
}
_RECORDING: Mapping[str, Rule] = {
    "name": KEEP,
    "format": KEEP,
    "state": KEEP,
    "target_uri": TEXT,
    "duration": KEEP,
    "talking_duration": KEEP,
    "silence_duration": KEEP,
    "cause": KEEP,
}
EVENT_FIELDS: Mapping[str, Rule] = {
    "type": KEEP,
    "application": KEEP,
    "timestamp": KEEP,
    "asterisk_id": KEEP,
    "channel": _CHANNEL,
    "replace_channel": _CHANNEL,
    "peer": _CHANNEL,
    # In a Dial event "caller" is the calling channel, not a caller id.
    "caller": _CHANNEL,
    "forwarded": _CHANNEL,
    "bridge": _BRIDGE,
    "playback": _PLAYBACK,
    "recording": _RECORDING,
    "cause": KEEP,
    "cause_txt": KEEP,
    "soft": KEEP,
    "duration_ms": KEEP,
    "dialstatus": KEEP,
    # The variable's name; never its "value".
    "variable": KEEP,
    "args": TEXT,
    "dialplan_app": KEEP,
    "dialplan_app_data": TEXT,
    # Not "digit", "dialstring", "value", "variables", "userevent", "eventname", nor
    # any field not listed here.
}


class _Dropped:
    """A value the event log does not write (its rule does not fit its shape)."""


_DROPPED = _Dropped()
_SCALARS = (str, int, float, bool)


def _clean(value: Any, rule: Rule) -> Any:
    if isinstance(value, list):
        # One level of list (Stasis args, a bridge's channel ids); a list of lists
        # fits no rule.
        kept = (_clean(item, rule) for item in value if not isinstance(item, list))
        return [item for item in kept if item is not _DROPPED]
    if not isinstance(rule, str):
        if not isinstance(value, dict):
            return _DROPPED
        fields = ((key, _clean(value[key], sub)) for key, sub in rule.items() if key in value)
        return {key: item for key, item in fields if item is not _DROPPED}
    if value is None:
        return None
    if not isinstance(value, _SCALARS):
        return _DROPPED
    if rule == TEXT and isinstance(value, str):
        return mask_digit_runs(value)
    return value


def redact_event(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a raw ARI event that is safe to write to the event log: only the
    fields of :data:`EVENT_FIELDS`, the free-text ones with their digits masked."""
    cleaned = _clean(dict(data), EVENT_FIELDS)
    return cleaned if isinstance(cleaned, dict) else {}


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
        # Raw events, redacted and encoded by the writer thread: the event loop only
        # queues them, so a key press's pause is never behind the redaction of its own
        # frame (the loop reads nothing else until the frame's handling returns).
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._enabled = True
        self._thread = threading.Thread(
            target=self._write_loop, name="reccontrol-eventlog", daemon=True
        )

    def start(self) -> None:
        make_private_folder(self._path.parent)
        self._thread.start()

    def __call__(self, raw: dict[str, Any]) -> None:
        if self._enabled:
            self._queue.put(raw)

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
                raw = self._queue.get()
                if raw is None:
                    return
                try:
                    line = json.dumps(redact_event(raw), separators=(",", ":"))
                except Exception as exc:
                    # One frame the redaction cannot take costs its line, not the log.
                    log.error("event log: an event was not written (%s)", type(exc).__name__)
                    continue
                out.write(line + "\n")
                out.flush()
