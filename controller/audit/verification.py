"""Checking the access log (S3): the hash chain from the latest checkpoint, the
checkpoints, the key start and entry MACs (the heads published to the witness are
checked by :mod:`~controller.audit.witness_check`). Pure code: no I/O, no clock.

:func:`verify` names the first bad entry and why. With the audit key it trusts no
``algorithm`` field: a checkpoint after the switch to a keyed chain that is not
HMAC-signed is tampering, as is an entry after it without a valid MAC.

It is :func:`prepare` (the key start and the checkpoints), a walk over the entries, and
:func:`conclude` (the recorded head, the anchor): a store may walk its rows a faster way
(see :mod:`~controller.audit.walk`) between the same two, and fall back to :func:`verify`
to name the first bad entry.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from controller.audit.checkpoints import Checkpoint, KeyStart, checkpoint_signature
from controller.audit.entries import (
    GENESIS,
    Entry,
    canonical_json,
    entry_macs,
    keyed_hash,
)
from controller.secrets import Secret


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    """Entries checked (after the last checkpoint)."""
    head_seq: int
    head_hash: str
    first_bad: int | None = None
    """Sequence number of the first bad entry (or checkpoint number, see ``reason``)."""
    reason: str = ""
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.ok:
            return f"intact: {self.entries} entries, head {self.head_seq}:{self.head_hash}"
        if self.first_bad is None:
            return f"broken: {self.reason}"
        return f"broken at entry {self.first_bad}: {self.reason}"


def _check_checkpoints(
    checkpoints: Sequence[Checkpoint], key: Secret | None, key_start: KeyStart | None
) -> tuple[int, str] | None:
    prev_digest, prev_through = GENESIS, 0
    # With a key, only checkpoints the signed key start says predate it may be unsigned:
    # the stored ``algorithm`` is not trusted (a forged "sha256" checkpoint would
    # otherwise hide any entries before it).
    unsigned_allowed = key_start.checkpoints if key_start is not None else 0
    for expected, cp in enumerate(checkpoints, start=1):
        if key is not None and cp.algorithm != "hmac-sha256" and cp.number > unsigned_allowed:
            return cp.number, (
                f"checkpoint {cp.number} is not signed ({cp.algorithm}) although "
                "audit.checkpoint_key is configured: a forged or downgraded checkpoint"
            )
        if cp.number != expected:
            return cp.number, f"checkpoint {cp.number} is out of order (expected {expected})"
        if cp.prev_digest != prev_digest:
            return cp.number, f"checkpoint {cp.number} does not follow checkpoint {expected - 1}"
        if cp.through_seq - prev_through != cp.entries_cut or cp.entries_cut < 1:
            return cp.number, f"checkpoint {cp.number} miscounts the entries it cut"
        digest = checkpoint_signature(cp.body(), cp.algorithm, key)
        if digest is None:
            return cp.number, (
                f"checkpoint {cp.number} is signed ({cp.algorithm}) and no "
                "audit.checkpoint_key is configured to check it"
            )
        if not hmac.compare_digest(digest, cp.digest):
            return cp.number, f"checkpoint {cp.number} does not match its signature"
        if (
            key_start is not None
            and cp.number == key_start.checkpoints
            and not hmac.compare_digest(cp.digest, key_start.checkpoint_digest)
        ):
            return cp.number, (
                f"checkpoint {cp.number} is not the one the signed key start recorded"
            )
        prev_digest, prev_through = cp.digest, cp.through_seq
    if key_start is not None and key_start.checkpoints > len(checkpoints):
        return len(checkpoints) + 1, (
            f"checkpoint {len(checkpoints) + 1} is missing: the signed key start "
            f"recorded {key_start.checkpoints}"
        )
    return None


def _check_key_start(
    key_start: KeyStart | None, key: Secret | None, recorded_head: tuple[int, str] | None
) -> str | None:
    """Why the key start is bad, or None. Without a key there is nothing to check."""
    if key is None:
        return None
    if key_start is None:
        if recorded_head is None or recorded_head[0] == 0:
            return None  # nothing was ever logged
        return (
            "the log is not keyed: no signed key start although audit.checkpoint_key is "
            "configured (it was removed, or the log predates the key and was never "
            "switched over with 'reccontrol audit adopt-key')"
        )
    expected = keyed_hash(key, canonical_json(key_start.body()))
    if key_start.mac is None or not hmac.compare_digest(expected, key_start.mac):
        return "the key start does not match its signature (forged, or another key)"
    return None


class Sealed(Protocol):
    """What :func:`verify` reads of an entry: an :class:`Entry`, or a stored row that
    checks its own content against its hash."""

    @property
    def seq(self) -> int: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def mac(self) -> str | None: ...
    @property
    def unreadable(self) -> str | None: ...
    def content_matches(self) -> bool: ...


@dataclass(frozen=True)
class Start:
    """Where the walk over the entries starts, once the key start and the checkpoints
    are checked: the first sequence number and the hash it must follow, from where
    entries must carry a MAC, and what the verdict will note."""

    expected: int
    prev: str
    keyed_from: int | None
    start_hash: str
    """The head the signed key start recorded (the entry before ``keyed_from``)."""
    notes: tuple[str, ...]
    anchor_found: bool
    """The anchor is the hash a checkpoint cut through."""


@dataclass(frozen=True)
class Walked:
    """How far a walk over the entries got: every entry ``clean`` or not, how many it
    checked, the last one's sequence number and hash, and whether it met the anchor."""

    clean: bool
    count: int
    head_seq: int
    head_hash: str
    anchor_found: bool


def prepare(
    *,
    checkpoints: Sequence[Checkpoint],
    key: Secret | None,
    recorded_head: tuple[int, str] | None,
    anchor: str | None,
    key_start: KeyStart | None,
) -> Start | Verdict:
    """The checks before the entries: the key start and the checkpoints. A failing
    verdict, or where the walk over the entries starts."""
    notes: list[str] = []
    why = _check_key_start(key_start, key, recorded_head)
    if why is not None:
        return Verdict(False, 0, 0, GENESIS, None, why)
    bad = _check_checkpoints(checkpoints, key, key_start)
    if bad is not None:
        return Verdict(False, 0, 0, GENESIS, None, bad[1])
    keyed_from = key_start.from_seq if key is not None and key_start is not None else None
    start_hash = key_start.head_hash if key_start is not None else GENESIS
    last = checkpoints[-1] if checkpoints else None
    if last:
        notes.append(
            f"starts after checkpoint {last.number} ({last.algorithm}): "
            f"entries 1..{last.through_seq} were purged"
        )
    if key is None:
        notes.append("entry MACs not checked: no audit.checkpoint_key configured")
    elif keyed_from is not None and keyed_from > 1:
        notes.append(f"entries 1..{keyed_from - 1} predate the audit key (hash chain only)")
    if keyed_from is not None and last is not None and last.through_seq == keyed_from - 1:
        if last.through_hash != start_hash:
            return Verdict(
                False,
                0,
                0,
                GENESIS,
                None,
                f"checkpoint {last.number} does not end at the head the key start recorded",
            )
    return Start(
        expected=last.through_seq + 1 if last else 1,
        prev=last.through_hash if last else GENESIS,
        keyed_from=keyed_from,
        start_hash=start_hash,
        notes=tuple(notes),
        anchor_found=anchor is not None and any(cp.through_hash == anchor for cp in checkpoints),
    )


def conclude(
    start: Start,
    walked: Walked,
    *,
    recorded_head: tuple[int, str] | None,
    anchor: str | None,
) -> Verdict:
    """The verdict once every entry passed: the walk must end at the recorded head and
    have met the anchor."""
    count, head_seq, prev = walked.count, walked.head_seq, walked.head_hash
    if recorded_head is not None and recorded_head != (head_seq, prev):
        seq, digest = recorded_head
        if seq > head_seq:
            reason = (
                f"truncated: the log ends at entry {head_seq} but entry {seq} "
                "was written (entries at the end were deleted)"
            )
            return Verdict(False, count, head_seq, prev, head_seq + 1, reason, start.notes)
        reason = f"the recorded head {seq}:{digest[:12]}… does not match the chain"
        return Verdict(False, count, head_seq, prev, seq, reason, start.notes)
    if anchor is not None and not walked.anchor_found:
        return Verdict(
            False,
            count,
            head_seq,
            prev,
            None,
            f"anchor {anchor[:12]}… is not in the chain: an anchored entry was removed or "
            "changed (or purged without a checkpoint at it)",
            start.notes,
        )
    return Verdict(True, count, head_seq, prev, None, "", start.notes)


def _link_broken(entry: Sealed, locate: Callable[[str], int | None] | None) -> str:
    where = locate(entry.prev_hash) if locate else None
    if where is not None and where > entry.seq:
        return f"reordered: its prev_hash is the hash of entry {where}, which comes after it"
    if where is not None and where < entry.seq - 1:
        return (
            f"inserted or reordered entries before it: its prev_hash is the hash of "
            f"entry {where}, not of entry {entry.seq - 1}"
        )
    return (
        "link broken: its prev_hash matches no entry (the entry before it was "
        "edited or replaced, or this one was inserted)"
    )


def verify(
    entries: Iterable[Sealed],
    *,
    checkpoints: Sequence[Checkpoint] = (),
    key: Secret | None = None,
    recorded_head: tuple[int, str] | None = None,
    locate: Callable[[str], int | None] | None = None,
    anchor: str | None = None,
    key_start: KeyStart | None = None,
) -> Verdict:
    """Checks the chain from the latest checkpoint (or the start) to the end.

    ``entries`` come in sequence order. ``recorded_head`` is the head the store wrote with
    the last append, which catches entries cut from the end. ``locate`` finds an entry's
    sequence number by its hash, to say whether a broken link means reordering or
    insertion. ``anchor`` is a head hash published earlier: it must still be in the chain.
    """
    start = prepare(
        checkpoints=checkpoints,
        key=key,
        recorded_head=recorded_head,
        anchor=anchor,
        key_start=key_start,
    )
    if isinstance(start, Verdict):
        return start
    keyed_from, start_hash = start.keyed_from, start.start_hash
    mac_of = entry_macs(key) if key is not None else None
    expected, prev, anchor_found = start.expected, start.prev, start.anchor_found
    count = 0
    head_seq = expected - 1

    def broken(seq: int, reason: str) -> Verdict:
        return Verdict(False, count, head_seq, prev, seq, reason, start.notes)

    for entry in entries:
        if entry.seq != expected:
            if entry.seq > expected:
                missing = (
                    f"entry {expected} is"
                    if entry.seq == expected + 1
                    else f"entries {expected}..{entry.seq - 1} are"
                )
                return broken(entry.seq, f"gap: {missing} missing (deleted)")
            return broken(entry.seq, f"out of order: comes after entry {expected - 1}")
        if entry.prev_hash != prev:
            return broken(entry.seq, _link_broken(entry, locate))
        unreadable = entry.unreadable
        if unreadable is not None:
            return broken(entry.seq, f"unreadable details: {unreadable}")
        if not entry.content_matches():
            return broken(entry.seq, "edited: its content does not match its hash")
        if keyed_from is not None and mac_of is not None:
            if entry.seq == keyed_from - 1 and entry.hash != start_hash:
                return broken(entry.seq, "it is not the head the signed key start recorded")
            if entry.seq >= keyed_from and (
                entry.mac is None or not hmac.compare_digest(entry.mac, mac_of(entry.hash))
            ):
                what = "has no MAC" if entry.mac is None else "does not match its MAC"
                return broken(
                    entry.seq,
                    f"keyed chain broken: it {what} (written or re-chained without the key)",
                )
        if anchor is not None and entry.hash == anchor:
            anchor_found = True
        prev = entry.hash
        head_seq = entry.seq
        expected += 1
        count += 1
    walked = Walked(True, count, head_seq, prev, anchor_found)
    return conclude(start, walked, recorded_head=recorded_head, anchor=anchor)


# How far an entry may be dated before the one it follows: two writers (the daemon and a
# CLI command) date their entries before taking the write lock, so a few seconds of
# disorder is normal; a back-dated entry is months off.
AT_SKEW = dt.timedelta(minutes=5)


def utc_moment(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def check_dates(entries: Sequence[Entry]) -> tuple[int, str] | None:
    """The first entry dated well before the one it follows (or undated), and why: the
    purge picks what to cut by date, so a back-dated entry must never decide it."""
    previous: tuple[int, dt.datetime] | None = None
    for entry in entries:
        moment = utc_moment(entry.at)
        if moment is None:
            return entry.seq, f"its time {entry.at!r} is not a UTC ISO 8601 time"
        if previous is not None and moment < previous[1] - AT_SKEW:
            return entry.seq, (
                f"dated {entry.at}, before entry {previous[0]} it follows "
                f"({previous[1].isoformat()}): back-dated"
            )
        previous = (entry.seq, moment)
    return None


def check_cut(
    entries: Sequence[Entry],
    *,
    checkpoints: Sequence[Checkpoint],
    key: Secret | None,
    key_start: KeyStart | None,
    head: tuple[int, str] | None,
) -> str | None:
    """Why the purge must not seal ``entries`` behind a new checkpoint, or None.

    ``entries`` are those after the latest checkpoint up to the last one to cut, plus the
    first one kept (when one is kept): each is re-hashed, its link and MAC checked, and
    their dates must go forward. ``head`` is the recorded head when every entry is cut
    (the end must not have been cut off). The stored hashes are never trusted as such."""
    verdict = verify(
        entries,
        checkpoints=checkpoints,
        key=key,
        recorded_head=head,
        key_start=key_start,
    )
    if not verdict.ok:
        return verdict.describe()
    dated = check_dates(entries)
    if dated is not None:
        return f"broken at entry {dated[0]}: {dated[1]}"
    return None
