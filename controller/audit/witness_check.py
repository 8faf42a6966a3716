"""Checking the access log against the heads published outside the store (S3, S7):
the witness file's signed lines. Pure code: no I/O, no clock."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Sequence

from controller.audit.checkpoints import Checkpoint, KeyStart
from controller.audit.verification import utc_moment
from controller.audit.witness_line import WitnessLine, witness_mac
from controller.secrets import Secret

# A head is published up to one witness interval after its entry was written and the
# purge cuts up to one purge interval after expiry: a day covers both with room to spare.
PURGE_GRACE = dt.timedelta(days=1)


def _covering(checkpoints: Sequence[Checkpoint], seq: int) -> Checkpoint | None:
    return next((cp for cp in checkpoints if cp.through_seq >= seq), None)


def _purged_early(
    line: WitnessLine, checkpoints: Sequence[Checkpoint], retention_days: int
) -> str | None:
    """Why the cut of a published head came before its time, or None."""
    cp = _covering(checkpoints, line.seq)
    published, cut_at = utc_moment(line.at), utc_moment(cp.at) if cp else None
    if cp is None or published is None or cut_at is None:
        return None
    kept_until = published + dt.timedelta(days=retention_days)
    if cut_at + PURGE_GRACE >= kept_until:
        return None
    return (
        f"its entry was purged by checkpoint {cp.number} at {cp.at}, before its time: "
        f"published at {line.at}, it is kept until {kept_until.isoformat()} "
        f"(audit.retention_days = {retention_days}); entries back-dated to be purged"
    )


def _key_start_changed(line: WitnessLine, key_start: KeyStart | None) -> str | None:
    if line.key_start is None:
        return None
    if key_start is None:
        return (
            f"published key start {line.key_start[:12]}…, and the log has none now: "
            "it was removed"
        )
    if not hmac.compare_digest(line.key_start, key_start.mac):
        return (
            f"published key start {line.key_start[:12]}…, and the log's is "
            f"{key_start.mac[:12]}…: the log was re-keyed"
        )
    return None


def check_witness(
    lines: Sequence[WitnessLine],
    *,
    key: Secret | None,
    head: tuple[int, str],
    checkpoints: Sequence[Checkpoint],
    hash_at: Callable[[int], str | None],
    key_start: KeyStart | None = None,
    retention_days: int | None = None,
) -> tuple[str | None, int]:
    """Checks the log against heads published outside the store.

    Returns (the first problem, naming the witness line; or None) and how many lines
    could be compared (heads of entries purged since, between checkpoints, cannot). With
    ``retention_days``, a published head purged well before its time is a problem; a
    published key start must still be the log's."""
    cut = {cp.through_seq: cp.through_hash for cp in checkpoints}
    purged_through = checkpoints[-1].through_seq if checkpoints else 0
    checked = 0
    previous = 0
    for number, line in enumerate(lines, start=1):
        where = f"witness line {number} ({line.at}, entry {line.seq})"
        if key is not None:
            if line.mac is None:
                return f"{where} is not signed although audit.checkpoint_key is configured", checked
            expected = witness_mac(key, line.at, line.seq, line.hash, line.key_start)
            if not hmac.compare_digest(line.mac, expected):
                return f"{where} does not match its signature", checked
        if line.seq < previous:
            return f"{where} goes back from entry {previous}: the witness file was edited", checked
        previous = line.seq
        if line.seq > head[0]:
            return (
                f"{where}: the log ends at entry {head[0]} but the witness saw entry "
                f"{line.seq}: entries were deleted from the end, or the log was wiped",
                checked,
            )
        changed = _key_start_changed(line, key_start)
        if changed is not None:
            return f"{where}: {changed}", checked
        if line.seq == 0:
            checked += 1
            continue
        if line.seq <= purged_through and retention_days is not None:
            early = _purged_early(line, checkpoints, retention_days)
            if early is not None:
                return f"{where}: {early}", checked
        if line.seq in cut:
            found: str | None = cut[line.seq]
        elif line.seq <= purged_through:
            continue  # purged behind a checkpoint: nothing left to compare
        else:
            found = hash_at(line.seq)
        if found is None:
            return f"{where}: that entry is missing from the log", checked
        if not hmac.compare_digest(found, line.hash):
            return f"{where}: the log's entry {line.seq} has another hash (rewritten)", checked
        checked += 1
    return None, checked
