"""Named points where a crash test can stop a process and kill it there (T4, R1).

Killing a process after a random delay proves little: on a fast machine it finishes
first, on a slow one it dies during start-up. Instead, a test sets
``RECCONTROL_STOP_AT`` to one point name (or several, comma-separated). When the process
reaches such a point it writes ``reccontrol: stopped at <name>`` on stderr and blocks
until it is killed, so the test kills it exactly there. ``<name>@<n>`` stops the n-th
time the point is reached instead of the first (``did:Play@5``: the fifth sound played).

The points:

* retention: ``purge-planned``, ``purge-vault-scan``, ``purge-call-metadata``,
  ``purge-log-cut``, ``deletion-condemned``, ``deletion-mid-batch``,
  ``deletion-files-removed``;
* recordings: ``vaulting`` (Asterisk finished the file, not yet moved to the vault),
  ``objection-deleting`` (a caller's objection stored, the call's files in the vault
  not yet deleted: C2), ``private-deleting`` (the same for a call declared private: A2);
* redaction: ``redaction-journaled``, ``redaction-written``, ``redaction-switched``,
  ``redaction-shredded`` (after each step, see :mod:`controller.retention.redaction`);
* the vault's encryption (S10): ``rotation-new-key`` (the new site key written),
  ``rotation-rewrapped`` (one more data key re-wrapped), ``rotation-finishing`` (all
  re-wrapped, the new key not yet in place); ``migration-sealed`` (a file's sealed copy
  written beside it), ``migration-renamed`` (renamed over the plaintext);
* the store thread: ``store-write`` (before any write), ``store:<Command>`` (before the
  write a call asked for with that store command, e.g. ``store:OpenRecording``; the
  store thread stops there and the call waits for it, the event loop goes on);
* the event loop: ``after:<EventType>`` (an ARI event was handled, e.g.
  ``after:RecordingStarted``) and ``did:<Command>`` (a call's command was carried out,
  e.g. ``did:PauseRecording``: the REST call answered, the rest of its batch not run).

Unset (always, in production), a point costs one environment lookup; the points on the
event loop's hot path (``after:``, ``did:``, ``store:``) are behind a flag read once at
import, so they cost one test of a constant.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from collections.abc import Mapping

ENV = "RECCONTROL_STOP_AT"
ANNOUNCEMENT = "reccontrol: stopped at "
ASKED = bool(os.environ.get(ENV))
"""Whether this process was started with stop points: read once, for the hot paths."""

_reached: Counter[str] = Counter()


def stop_point(name: str, environ: Mapping[str, str] = os.environ) -> None:
    """Blocks for good if ``name`` is one of the points asked for; returns at once otherwise."""
    wanted = environ.get(ENV)
    if not wanted:
        return
    reached = point_reached(name, wanted.split(","), _reached)
    if reached is None:
        return
    sys.stderr.write(f"{ANNOUNCEMENT}{reached}\n")
    sys.stderr.flush()
    # Never set: only SIGKILL ends the wait, which is the point.
    threading.Event().wait()


def stop_asked(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``name`` (or one of its counted reaches) is among the points asked for."""
    points = environ.get(ENV, "").split(",")
    return name in points or any(p.startswith(f"{name}@") for p in points)


def point_reached(name: str, points: list[str], reached: Counter[str]) -> str | None:
    """The point asked for that reaching ``name`` now hits (``name`` or ``name@<n>``,
    counting in ``reached``), or None."""
    if name in points:
        return name
    if not any(p.startswith(f"{name}@") for p in points):
        return None
    reached[name] += 1
    counted = f"{name}@{reached[name]}"
    return counted if counted in points else None
