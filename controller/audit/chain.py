"""The access log's hash chain (S3). Pure code: no I/O, no clock.

Each entry is sealed with the SHA-256 of its canonical JSON, which includes the hash of
the entry before it::

    hash(n) = SHA-256( canonical_json({seq, at, actor, role, action, target, purpose,
                                        result, details, prev_hash: hash(n-1)}) )

The first entry's ``prev_hash`` is :data:`GENESIS` (64 zeros). Canonical JSON is UTF-8,
keys sorted, no spaces, no NaN. Editing, deleting, inserting or reordering an entry breaks
the chain at that entry or the one after it; :func:`verify` names the first bad entry and
why.

When old entries are purged (T3), a :class:`Checkpoint` records the last cut entry's
sequence number and hash. Checkpoints chain too, and are HMAC-SHA-256 signed when a key
is configured (plain SHA-256 otherwise). Verification then starts from the latest
checkpoint: the first remaining entry must follow it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.secrets import Secret

GENESIS = "0" * 64
RESULTS = ("ok", "refused", "error")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True)
class EntryDraft:
    """An access-log entry before it is sealed: who, what, when, why, and the result."""

    at: str
    """UTC ISO 8601 text, as stored."""
    actor: str
    """The person's id, or ``system`` for the purge."""
    role: str
    action: str
    target: str
    purpose: str
    result: str
    """``ok``, ``refused`` or ``error``."""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"result must be one of {', '.join(RESULTS)}")


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    actor: str
    role: str
    action: str
    target: str
    purpose: str
    result: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def content(self) -> dict[str, Any]:
        return _content(
            self.seq,
            EntryDraft(
                self.at,
                self.actor,
                self.role,
                self.action,
                self.target,
                self.purpose,
                self.result,
                self.details,
            ),
            self.prev_hash,
        )


def _content(seq: int, draft: EntryDraft, prev_hash: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": draft.at,
        "actor": draft.actor,
        "role": draft.role,
        "action": draft.action,
        "target": draft.target,
        "purpose": draft.purpose,
        "result": draft.result,
        "details": dict(draft.details),
        "prev_hash": prev_hash,
    }


def entry_hash(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def seal(draft: EntryDraft, seq: int, prev_hash: str) -> Entry:
    """The entry that follows ``prev_hash`` at position ``seq``."""
    digest = entry_hash(_content(seq, draft, prev_hash))
    return Entry(
        seq=seq,
        at=draft.at,
        actor=draft.actor,
        role=draft.role,
        action=draft.action,
        target=draft.target,
        purpose=draft.purpose,
        result=draft.result,
        details=dict(draft.details),
        prev_hash=prev_hash,
        hash=digest,
    )


# -- checkpoints -----------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """What a purge of old entries cut: entries up to ``through_seq``, the last of which
    had ``through_hash``."""

    number: int
    at: str
    through_seq: int
    through_hash: str
    entries_cut: int
    prev_digest: str
    algorithm: str
    """``hmac-sha256`` when signed with the configured key, ``sha256`` otherwise."""
    digest: str

    def body(self) -> dict[str, Any]:
        return _checkpoint_body(
            self.number,
            self.at,
            self.through_seq,
            self.through_hash,
            self.entries_cut,
            self.prev_digest,
        )


def _checkpoint_body(
    number: int, at: str, through_seq: int, through_hash: str, entries_cut: int, prev: str
) -> dict[str, Any]:
    return {
        "number": number,
        "at": at,
        "through_seq": through_seq,
        "through_hash": through_hash,
        "entries_cut": entries_cut,
        "prev_digest": prev,
    }


def _digest(body: Mapping[str, Any], algorithm: str, key: Secret | None) -> str | None:
    data = canonical_json(body)
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    if algorithm == "hmac-sha256" and key is not None:
        return hmac.new(key.reveal().encode("utf-8"), data, hashlib.sha256).hexdigest()
    return None


def make_checkpoint(
    previous: Checkpoint | None,
    at: str,
    through_seq: int,
    through_hash: str,
    key: Secret | None,
) -> Checkpoint:
    """The checkpoint that follows ``previous`` after cutting entries up to ``through_seq``."""
    number = previous.number + 1 if previous else 1
    start = previous.through_seq if previous else 0
    if through_seq <= start:
        raise ValueError("a checkpoint must cut at least one entry")
    prev = previous.digest if previous else GENESIS
    algorithm = "hmac-sha256" if key is not None else "sha256"
    body = _checkpoint_body(number, at, through_seq, through_hash, through_seq - start, prev)
    digest = _digest(body, algorithm, key)
    assert digest is not None
    return Checkpoint(
        number, at, through_seq, through_hash, through_seq - start, prev, algorithm, digest
    )


# -- verification ----------------------------------------------------------------------
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
        where = f"entry {self.first_bad}: " if self.first_bad is not None else ""
        return f"broken at {where}{self.reason}"


def _check_checkpoints(
    checkpoints: Sequence[Checkpoint], key: Secret | None
) -> tuple[int, str] | None:
    prev_digest, prev_through = GENESIS, 0
    for expected, cp in enumerate(checkpoints, start=1):
        if cp.number != expected:
            return cp.number, f"checkpoint {cp.number} is out of order (expected {expected})"
        if cp.prev_digest != prev_digest:
            return cp.number, f"checkpoint {cp.number} does not follow checkpoint {expected - 1}"
        if cp.through_seq - prev_through != cp.entries_cut or cp.entries_cut < 1:
            return cp.number, f"checkpoint {cp.number} miscounts the entries it cut"
        digest = _digest(cp.body(), cp.algorithm, key)
        if digest is None:
            return cp.number, (
                f"checkpoint {cp.number} is signed ({cp.algorithm}) and no "
                "audit.checkpoint_key is configured to check it"
            )
        if not hmac.compare_digest(digest, cp.digest):
            return cp.number, f"checkpoint {cp.number} does not match its signature"
        prev_digest, prev_through = cp.digest, cp.through_seq
    return None


def verify(
    entries: Iterable[Entry],
    *,
    checkpoints: Sequence[Checkpoint] = (),
    key: Secret | None = None,
    recorded_head: tuple[int, str] | None = None,
    locate: Callable[[str], int | None] | None = None,
    anchor: str | None = None,
) -> Verdict:
    """Checks the chain from the latest checkpoint (or the start) to the end.

    ``entries`` come in sequence order. ``recorded_head`` is the head the store wrote with
    the last append, which catches entries cut from the end. ``locate`` finds an entry's
    sequence number by its hash, to say whether a broken link means reordering or
    insertion. ``anchor`` is a head hash published earlier: it must still be in the chain.
    """
    notes: list[str] = []
    bad = _check_checkpoints(checkpoints, key)
    if bad is not None:
        return Verdict(False, 0, 0, GENESIS, None, bad[1])
    last = checkpoints[-1] if checkpoints else None
    expected = last.through_seq + 1 if last else 1
    prev = last.through_hash if last else GENESIS
    if last:
        notes.append(
            f"starts after checkpoint {last.number} ({last.algorithm}): "
            f"entries 1..{last.through_seq} were purged"
        )
    anchor_found = anchor is not None and any(cp.through_hash == anchor for cp in checkpoints)
    count = 0
    head_seq = expected - 1

    def broken(seq: int, reason: str) -> Verdict:
        return Verdict(False, count, head_seq, prev, seq, reason, tuple(notes))

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
            where = locate(entry.prev_hash) if locate else None
            if where is not None and where > entry.seq:
                reason = (
                    f"reordered: its prev_hash is the hash of entry {where}, which comes after it"
                )
            elif where is not None and where < entry.seq - 1:
                reason = (
                    f"inserted or reordered entries before it: its prev_hash is the hash of "
                    f"entry {where}, not of entry {entry.seq - 1}"
                )
            else:
                reason = (
                    "link broken: its prev_hash matches no entry (the entry before it was "
                    "edited or replaced, or this one was inserted)"
                )
            return broken(entry.seq, reason)
        if entry_hash(entry.content()) != entry.hash:
            return broken(entry.seq, "edited: its content does not match its hash")
        if anchor is not None and entry.hash == anchor:
            anchor_found = True
        prev = entry.hash
        head_seq = entry.seq
        expected += 1
        count += 1
    if recorded_head is not None and recorded_head != (head_seq, prev):
        seq, digest = recorded_head
        if seq > head_seq:
            return broken(
                head_seq + 1,
                f"truncated: the log ends at entry {head_seq} but entry {seq} "
                "was written (entries at the end were deleted)",
            )
        return broken(seq, f"the recorded head {seq}:{digest[:12]}… does not match the chain")
    if anchor is not None and not anchor_found:
        return Verdict(
            False,
            count,
            head_seq,
            prev,
            None,
            f"anchor {anchor[:12]}… is not in the chain: an anchored entry was removed or "
            "changed (or purged without a checkpoint at it)",
            tuple(notes),
        )
    return Verdict(True, count, head_seq, prev, None, "", tuple(notes))
