"""Named points where the fault-injection suite can freeze the daemon, to kill it there.

Set ``RECCONTROL_FAULT_POINT`` to a point name (``vaulting``, ``after:RecordingStarted``)
or to its n-th passage (``after:ChannelDtmfReceived#2``). When the daemon reaches it,
it writes ``RECCONTROL-FAULT-POINT <name>`` on stderr and stops itself (SIGSTOP): the
test then kills it at exactly that step, with no timing involved. Unset, a point costs
one comparison.
"""

from __future__ import annotations

import os
import signal
import sys

ENV = "RECCONTROL_FAULT_POINT"
ANNOUNCE = "RECCONTROL-FAULT-POINT"

_point = os.environ.get(ENV) or None
_passages: dict[str, int] = {}


def reach(name: str) -> None:
    if _point is None:
        return
    passage = _passages[name] = _passages.get(name, 0) + 1
    if _point != name and _point != f"{name}#{passage}":
        return
    sys.stderr.write(f"{ANNOUNCE} {_point}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGSTOP)
