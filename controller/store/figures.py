"""What one store wrote since it was opened, counted in memory for /metrics (R4).

Counted by the store's own methods once their transaction committed, so both paths a
call can take (ARI and FastAGI) count alike, and nothing is counted for a write that
failed. Only ever touched on the store's thread: read it there (``store.run``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class StoreFigures:
    calls_ended: Counter[str] = field(default_factory=Counter)
    """Calls ended, by outcome (``interrupted`` for those a restart closed)."""
    decisions: Counter[tuple[str, bool]] = field(default_factory=Counter)
    """Decisions recorded, by (reason, whether to record)."""
    recordings: Counter[str] = field(default_factory=Counter)
    """Recordings settled, by state: ``stored`` in the vault, or ``discarded``,
    ``failed``, ``missing``."""

    def copy(self) -> StoreFigures:
        """A copy the event loop may read while the store thread goes on counting."""
        return StoreFigures(
            Counter(self.calls_ended), Counter(self.decisions), Counter(self.recordings)
        )
