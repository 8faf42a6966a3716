"""Small builders for configuration objects used by pure tests."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from controller.audit.chain import Entry, EntryDraft
from controller.audit.receipts import RECEIPT_ACTION, receipt_recordings
from controller.config.model import Agent
from controller.config.service_model import Announcement, CallerKeys, Campaign, Service
from controller.config.windows import WeeklyWindow

# A8: the staff representatives were told about the system long before the tests' calls.
STAFF_INFORMED = dt.date(2025, 1, 6)
WEEKDAYS = frozenset(range(5))
OFFICE = WeeklyWindow(WEEKDAYS, dt.time(9), dt.time(18))


def make_service(**changes: Any) -> Service:
    service = Service(
        name="sales",
        label="Sales",
        language="fr",
        purposes=("training", "quality"),
        announcement=Announcement("reccontrol/fr/announce", "v1"),
        full_notice_sound="reccontrol/fr/notice",
        caller_keys=CallerKeys(opt_out="9", full_notice="0"),
        sampling_rate=0.5,
        target="Local/alice@sim-agent",
        answer_timeout=20,
        retention_days=90,
        campaign=Campaign(),
        windows=(),
    )
    return dataclasses.replace(service, **changes)


def make_agent(**changes: Any) -> Agent:
    agent = Agent(
        id="alice",
        name="Alice Martin",
        endpoints=("Local/alice@sim-agent",),
        windows=(OFFICE,),
    )
    return dataclasses.replace(agent, **changes)


def deletion_drafts(count: int, now: dt.datetime) -> list[EntryDraft]:
    """``count`` retention receipts a second apart from ``now``, with text that the
    canonical encoding must escape (accents, quotes, backslash, tab)."""
    return [
        EntryDraft(
            at=(now + dt.timedelta(seconds=n)).isoformat(),
            actor="system",
            role="system",
            action="delete",
            target=f"recording:r{n}",
            purpose="retention: T1",
            result="ok",
            details={"recording_id": f"r{n}", "rule": "T1", "note": "é \"quoted\" \\ \t"},
        )
        for n in range(count)
    ]


def receipted(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Every recording the deletion receipts among ``entries`` name, in order: its
    columns (controller/audit/receipts.py) with the receipt's ``seq``, ``actor``,
    ``role`` and ``purpose``. A recording deleted once appears once."""
    return [
        {**item, "seq": e.seq, "actor": e.actor, "role": e.role, "purpose": e.purpose}
        for e in entries
        if e.action == RECEIPT_ACTION
        for item in receipt_recordings(e.details)
    ]
