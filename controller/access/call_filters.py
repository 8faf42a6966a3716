"""The filters of a listing of calls and of the access log, read from text (a web form's
query, a command's options) and checked: each problem names the field, so a person
knows what to change. Pure: no store, no clock.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from controller.logs import mask_digits
from controller.policy import Reason
from controller.store.call_views import NO_PAYMENT, CallFilters, Cursor, LogFilters

BAD_FILTER = "bad-filter"
"""The error_id of a filter or page that cannot be read."""

DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_REPORT_DAYS = 366
RESULTS = ("ok", "refused", "error")
REASONS = tuple(r.value for r in Reason)
_WORD = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_STATUS = re.compile(r"[a-z][a-z _-]{0,31}")
_CURSOR = re.compile(r"(?P<at>[0-9T:.+-]{10,40})~(?P<id>[A-Za-z0-9_-]{1,64})")


class FilterError(ValueError):
    """A filter that cannot be read; ``field`` names it."""

    error_id = BAD_FILTER

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class PageRequest:
    after: Cursor | None = None
    size: int = DEFAULT_PAGE


def _text(query: Mapping[str, str], field: str) -> str | None:
    value = query.get(field, "").strip()
    return value or None


def _word(query: Mapping[str, str], field: str) -> str | None:
    value = _text(query, field)
    if value is not None and not _WORD.fullmatch(value):
        raise FilterError(field, "letters, digits, '_', '.', ':' or '-', 64 at most")
    return value


def _yes_no(query: Mapping[str, str], field: str) -> bool | None:
    value = _text(query, field)
    if value is None or value == "any":
        return None
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0"):
        return False
    raise FilterError(field, "yes, no or any")


def read_date(field: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FilterError(field, "a date as YYYY-MM-DD") from None


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight of ``day`` in the site's time zone."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def check_call_filters(filters: CallFilters) -> None:
    """Raises :class:`FilterError` for a value no call can have: a decision reason or a
    payment status that does not exist, a date range that ends before it starts."""
    if filters.reason is not None and filters.reason not in REASONS:
        raise FilterError("reason", f"one of {', '.join(REASONS)}")
    if filters.payment is not None and not _STATUS.fullmatch(filters.payment):
        raise FilterError("payment", f"a payment status, or {NO_PAYMENT!r}")
    for field, value in (("service", filters.service), ("agent", filters.agent)):
        if value is not None and not _WORD.fullmatch(value):
            raise FilterError(field, "letters, digits, '_', '.', ':' or '-', 64 at most")
    if filters.start is not None and filters.end is not None and filters.end <= filters.start:
        raise FilterError("to", "the range ends before it starts")


def call_filters(query: Mapping[str, str], tz: dt.tzinfo) -> CallFilters:
    """The filters of ``/calls``: ``service``, ``from`` and ``to`` (days in the site's
    time zone, both included), ``agent``, ``reason``, ``recorded``, ``paused`` (yes, no,
    any) and ``payment`` (a status, or ``none``)."""
    first = _text(query, "from")
    last = _text(query, "to")
    filters = CallFilters(
        service=_word(query, "service"),
        start=day_start(read_date("from", first), tz) if first else None,
        end=day_start(read_date("to", last) + dt.timedelta(days=1), tz) if last else None,
        agent=_word(query, "agent"),
        reason=_text(query, "reason"),
        recorded=_yes_no(query, "recorded"),
        paused=_yes_no(query, "paused"),
        payment=_text(query, "payment"),
    )
    check_call_filters(filters)
    return filters


def page_size(query: Mapping[str, str]) -> int:
    text = _text(query, "size")
    if text is None:
        return DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise FilterError("size", f"a whole number from 1 to {MAX_PAGE}")
    return int(text)


def read_cursor(text: str | None) -> Cursor | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeError):
        raw = ""
    match = _CURSOR.fullmatch(raw)
    if match is None or len(text) > 200:
        raise FilterError("after", "not a page of this listing (start again from the first)")
    return Cursor(match["at"], match["id"])


def cursor_text(cursor: Cursor | None) -> str | None:
    """The cursor as opaque, URL-safe text: a timestamp's '+' would otherwise turn into a
    space in a query string a client forgot to encode."""
    if cursor is None:
        return None
    raw = f"{cursor.started_at}~{cursor.call_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def page_request(query: Mapping[str, str]) -> PageRequest:
    return PageRequest(read_cursor(_text(query, "after")), page_size(query))


def log_filters(query: Mapping[str, str]) -> LogFilters:
    """The filters of the access log's page: ``actor``, ``action``, ``target`` (a
    prefix) and ``result`` (ok, refused, error)."""
    result = _text(query, "result")
    if result is not None and result not in RESULTS:
        raise FilterError("result", " or ".join(RESULTS))
    target = _text(query, "target")
    if target is not None and (len(target) > 100 or not target.isprintable()):
        raise FilterError("target", "printable text, 100 characters at most")
    return LogFilters(
        actor=_word(query, "actor"),
        action=_word(query, "action"),
        target_prefix=target,
        result=result,
    )


def log_before(query: Mapping[str, str]) -> int | None:
    text = _text(query, "before")
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise FilterError("before", "an entry's sequence number")
    return int(text)


def report_range(query: Mapping[str, str], today: dt.date) -> tuple[dt.date, dt.date]:
    """``from`` and ``to`` of the sampling report (both included), the last 30 days by
    default, at most :data:`MAX_REPORT_DAYS` days."""
    last_text = _text(query, "to")
    first_text = _text(query, "from")
    last = read_date("to", last_text) if last_text else today
    first = read_date("from", first_text) if first_text else last - dt.timedelta(days=29)
    check_report_range(first, last)
    return first, last


def check_report_range(first: dt.date, last: dt.date) -> None:
    if last < first:
        raise FilterError("to", "the range ends before it starts")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise FilterError("from", f"a report spans {MAX_REPORT_DAYS} days at most")


def described(filters: CallFilters) -> dict[str, str]:
    """The filters as the access log keeps them: only those given, and no number (an
    agent id typed by a person could be one)."""
    out: dict[str, str] = {}
    for field in ("service", "agent", "reason", "payment"):
        value = getattr(filters, field)
        if value is not None:
            out[field] = mask_digits(str(value))
    for field in ("start", "end"):
        moment = getattr(filters, field)
        if moment is not None:
            out[field] = moment.isoformat()
    for field in ("recorded", "paused"):
        flag = getattr(filters, field)
        if flag is not None:
            out[field] = "yes" if flag else "no"
    return out
