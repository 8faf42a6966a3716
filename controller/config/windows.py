"""Weekly time windows: when an agent may be recorded (A1) and when a service records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WeeklyWindow:
    """A weekly time window in the site's time zone.

    ``days`` holds ISO weekday numbers (Monday = 0). When ``end`` is not after
    ``start`` the window runs past midnight into the next day, for night shifts.
    """

    days: frozenset[int]
    start: dt.time
    end: dt.time

    def contains(self, local: dt.datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        previous = (day - 1) % 7
        return (day in self.days and t >= self.start) or (previous in self.days and t < self.end)

    def describe(self) -> str:
        names = ", ".join(DAY_NAMES[d] for d in sorted(self.days))
        end = "24:00" if self.end == dt.time.max else f"{self.end:%H:%M}"
        return f"{names} {self.start:%H:%M}-{end}"
