"""A store-wide job run by one node at a time (N1): the purge on a store several nodes
share runs on one of them, the others wait their turn and then find nothing left to do,
so every deleted recording is named in exactly one receipt."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger("reccontrol.retention")
# How often a waiting node tries again: the purge is minutes apart, a second is nothing.
RETRY_SECONDS = 1.0


class NodeWideStore(Protocol):
    def take_node_wide(self, job: str) -> bool: ...

    def release_node_wide(self, job: str) -> None: ...


@contextmanager
def node_wide(
    store: NodeWideStore, job: str, stop: threading.Event, every: float = RETRY_SECONDS
) -> Iterator[bool]:
    """Holds ``job`` for this node while the block runs. Blocking: waits on the calling
    (worker) thread while another node runs it, never on the store's thread. Yields
    False when ``stop`` is set before the job could be taken."""
    told = False
    while not store.take_node_wide(job):
        if not told:
            log.info("%s: another node is running it; this one waits its turn", job)
            told = True
        if stop.wait(every):
            yield False
            return
    try:
        yield True
    finally:
        store.release_node_wide(job)
