"""The purge's plan, streamed (T1, T4, T6): the recordings to delete come from the store a
batch at a time, so the memory a purge needs is one batch's, whatever the backlog (a
year of a large centre is a million recordings).

First the deletions an earlier run (or an erasure) started, then the expired recordings,
each pass in the order they were made. Each page goes through the pure planner
(:mod:`controller.retention.plan`), which decides what to do with every row; rows kept
under a legal hold are handed to ``held`` as they are met.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from controller.retention.plan import (
    Action,
    Held,
    RetentionRules,
    held_recordings,
    plan_recordings,
)
from controller.store.purge_pages import Cursor, PurgePage


class PageStore(Protocol):
    def purge_page(
        self,
        now: dt.datetime,
        cutoffs: Mapping[str, dt.datetime],
        *,
        finishing: bool,
        after: Cursor | None,
        limit: int,
    ) -> PurgePage: ...

    def purge_count(self, now: dt.datetime, cutoffs: Mapping[str, dt.datetime]) -> int: ...


def planned_batches(
    store: PageStore,
    rules: RetentionRules,
    now: dt.datetime,
    size: int,
    held: Callable[[list[Held]], None],
) -> Iterator[list[Action]]:
    """The purge's actions, at most ``size`` at a time. A row whose deletion fails stays
    behind the cursor: it is not met twice in one run (the next run finishes it)."""
    cutoffs = rules.service_cutoffs(now)
    for finishing in (True, False):
        after: Cursor | None = None
        while True:
            page = store.purge_page(now, cutoffs, finishing=finishing, after=after, limit=size)
            if page.cursor is None:
                break
            after = page.cursor
            kept = held_recordings(now, page.rows, rules)
            if kept:
                held(kept)
            actions = plan_recordings(now, page.rows, rules)
            if actions:
                yield actions


def planned_count(store: PageStore, rules: RetentionRules, now: dt.datetime) -> int:
    """How many recordings the purge would delete now."""
    return store.purge_count(now, rules.service_cutoffs(now))
