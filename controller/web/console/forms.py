"""Reading a console form: typed values or a :class:`FormError` that names the field."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def moment(
    text: str | None, timezone: ZoneInfo, *, field: str, end: bool = False
) -> dt.datetime | None:
    """A day (``YYYY-MM-DD``, whole day in the site's time zone, inclusive) or a moment
    (``YYYY-MM-DDTHH:MM``) as UTC; None when blank. ``end`` gives the first moment after
    the day, so a range ``from`` to ``to`` includes both days."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            value = dt.datetime.combine(day, dt.time(0), tzinfo=timezone)
            return (value + dt.timedelta(days=1) if end else value).astimezone(dt.UTC)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FormError(field, f"{text[:40]!r} is not a date (YYYY-MM-DD)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone)
    return value.astimezone(dt.UTC)
