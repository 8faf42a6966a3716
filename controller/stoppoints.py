"""Named points where a crash test can stop a process and kill it there (T4, R1).

Killing a process after a random delay proves little: on a fast machine it finishes
first, on a slow one it dies during start-up. Instead, a test sets
``RECCONTROL_STOP_AT`` to one point name (or several, comma-separated). When the process
reaches such a point it writes ``reccontrol: stopped at <name>`` on stderr and blocks
until it is killed, so the test kills it exactly there.

Unset (always, in production), a point costs one environment lookup: the points sit on
the purge and other blocking paths, never on the event loop's hot path.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping

ENV = "RECCONTROL_STOP_AT"
ANNOUNCEMENT = "reccontrol: stopped at "


def stop_point(name: str, environ: Mapping[str, str] = os.environ) -> None:
    """Blocks for good if ``name`` is one of the points asked for; returns at once otherwise."""
    wanted = environ.get(ENV)
    if not wanted or name not in wanted.split(","):
        return
    sys.stderr.write(f"{ANNOUNCEMENT}{name}\n")
    sys.stderr.flush()
    # Never set: only SIGKILL ends the wait, which is the point.
    threading.Event().wait()
