"""How the store writes time: UTC ISO 8601 text, so timestamps sort as text."""

from __future__ import annotations

import datetime as dt


def to_text(moment: dt.datetime) -> str:
    """Timestamps are stored as UTC ISO 8601 text, so they sort as text."""
    if moment.tzinfo is None:
        raise ValueError("store timestamps must be timezone-aware")
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def from_text(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
