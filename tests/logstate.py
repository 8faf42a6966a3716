"""Tests that call :func:`controller.logs.setup_logging` change the root logger and the
hooks for uncaught exceptions; this puts back what they were, so later tests do not
write to a stream that is gone."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("reccontrol")
    saved = (list(root.handlers), root.level, list(ours.handlers), ours.level, ours.propagate)
    hooks = (sys.excepthook, threading.excepthook)
    try:
        yield
    finally:
        sys.excepthook, threading.excepthook = hooks
        root.handlers[:], ours.handlers[:] = saved[0], saved[2]
        root.setLevel(saved[1])
        ours.setLevel(saved[3])
        ours.propagate = saved[4]
