"""Tests that call :func:`controller.logs.setup_logging` change the root logger; this
puts back what it was, so later tests do not write to a stream that is gone."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("reccontrol")
    saved = (list(root.handlers), root.level, list(ours.handlers), ours.level, ours.propagate)
    try:
        yield
    finally:
        root.handlers[:], ours.handlers[:] = saved[0], saved[2]
        root.setLevel(saved[1])
        ours.setLevel(saved[3])
        ours.propagate = saved[4]
