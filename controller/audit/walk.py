"""Walking the stored entries the fast way (S3, S7). Pure code: no I/O, no clock.

Each row is a plain tuple: sequence number, ``prev_hash``, ``hash``, ``mac`` and the
entry's canonical text as the store rebuilt it (see
:mod:`controller.store.access_log_stream`). The walk checks what
:func:`~controller.audit.verification.verify` checks of each entry (its place, its link,
its content against its hash, its MAC), in one loop with no object per entry, and
stops at the first row that does not pass, without saying why: the caller then reads
the chain the reference way, which names the entry and the reason. A walk that passes
proves what the reference reading proves, only sooner.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from controller.audit.entries import entry_macs
from controller.audit.verification import Start, Walked
from controller.secrets import Secret

Row = tuple[int, str, str, str | None, str | None]
"""seq, prev_hash, hash, mac, canonical text (None when the store could not rebuild it)."""


def walk(
    batches: Iterable[Sequence[Row]], start: Start, key: Secret | None, anchor: str | None
) -> Walked:
    """Walks ``batches`` of rows in sequence order from ``start``; ``clean`` is False at
    the first row that does not pass (the counts are then those before it)."""
    sha256 = hashlib.sha256
    compare = hmac.compare_digest
    mac_of = entry_macs(key) if key is not None else None
    keyed_from = start.keyed_from if mac_of is not None else None
    expected, prev, found = start.expected, start.prev, start.anchor_found
    count = 0

    def stopped() -> Walked:
        return Walked(False, count, expected - 1, prev, found)

    for batch in batches:
        for seq, prev_hash, digest, mac, canonical in batch:
            if (
                seq != expected
                or prev_hash != prev
                or canonical is None
                or sha256(canonical.encode("utf-8")).hexdigest() != digest
            ):
                return stopped()
            if keyed_from is not None and mac_of is not None:
                if seq >= keyed_from:
                    if mac is None or not compare(mac, mac_of(digest)):
                        return stopped()
                elif seq == keyed_from - 1 and digest != start.start_hash:
                    return stopped()
            if digest == anchor:
                found = True
            prev = digest
            expected += 1
            count += 1
    return Walked(True, count, expected - 1, prev, found)


def joined(first: Walked, second: Walked, seam: tuple[int, str]) -> Walked:
    """Two walks of consecutive parts as one: the first must have passed and ended at
    ``seam`` (the entry the second started after, and its hash), the second passed."""
    if not (first.clean and second.clean) or (first.head_seq, first.head_hash) != seam:
        return Walked(False, first.count, first.head_seq, first.head_hash, first.anchor_found)
    return Walked(
        True,
        first.count + second.count,
        second.head_seq,
        second.head_hash,
        first.anchor_found or second.anchor_found,
    )
