"""A latency histogram kept in memory: bucket counts, a sum and a count, as Prometheus
histograms are read (R4). Constant memory and a few nanoseconds per observation, so it
sits on the protective keys' path without slowing it."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterator

# Seconds. Asterisk answers a protective REST call in a few milliseconds on a healthy
# system; the upper buckets show a loaded or stalled one.
KEY_TO_PAUSE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LatencyHistogram:
    def __init__(self, bounds: tuple[float, ...] = KEY_TO_PAUSE_BUCKETS) -> None:
        self.bounds = tuple(sorted(bounds))
        self._counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le).
        self._counts[bisect_left(self.bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), the last bound being +inf."""
        running, out = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self._counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class RecentLatencies:
    """The latest ``window`` latencies in milliseconds, and how many were observed in all:
    a daemon up for months hears millions of protective keys, so only the latest are
    kept (the histogram above counts them all). ``since(count)`` gives those observed
    after the ``count``-th, as far as the window still holds them."""

    def __init__(self, window: int = 10_000) -> None:
        self._latest: deque[float] = deque(maxlen=window)
        self.count = 0

    def observe(self, ms: float) -> None:
        self._latest.append(ms)
        self.count += 1

    def since(self, count: int) -> list[float]:
        newer = self.count - count
        if newer <= 0:
            return []
        return list(self._latest)[-newer:]

    def __iter__(self) -> Iterator[float]:
        return iter(list(self._latest))
