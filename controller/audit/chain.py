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

With the audit key, the chain is keyed too: each entry carries
``mac = HMAC-SHA-256(key, "entry:" + hash)``, so re-chaining after an edit needs the key.
A log started without a key is switched over by a signed :class:`KeyStart` written with
the first keyed append: it binds the head and the checkpoints that existed then, so
older entries and unsigned checkpoints stay checkable and no later one may be unsigned.
Verification with the key trusts no ``algorithm`` field: a checkpoint after the switch
that is not HMAC-signed is tampering, as is an entry after it without a valid MAC.
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
    mac: str | None = None
    """HMAC of ``hash`` with the audit key; None for entries written without one."""
    unreadable: str | None = None
    """Why the stored ``details`` could not be read back (not JSON, NaN...), if so."""

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


def _hmac(key: Secret, data: bytes) -> str:
    return hmac.new(key.reveal().encode("utf-8"), data, hashlib.sha256).hexdigest()


def entry_mac(key: Secret, digest: str) -> str:
    """The keyed seal of one entry: its hash (which covers the one before) under the key."""
    return _hmac(key, b"entry:" + digest.encode("ascii"))


def seal(draft: EntryDraft, seq: int, prev_hash: str, key: Secret | None = None) -> Entry:
    """The entry that follows ``prev_hash`` at position ``seq``, keyed if ``key``."""
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
        mac=entry_mac(key, digest) if key is not None else None,
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
        return _hmac(key, data)
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


# -- the switch to a keyed chain ---------------------------------------------------------
@dataclass(frozen=True)
class KeyStart:
    """Signed once, when the audit key is first used on this log: entries from
    ``from_seq`` on carry a MAC; the entry before them had ``head_hash``; the first
    ``checkpoints`` checkpoints (the last with ``checkpoint_digest``) predate the key."""

    at: str
    from_seq: int
    head_hash: str
    checkpoints: int
    checkpoint_digest: str
    mac: str

    def body(self) -> dict[str, Any]:
        return _key_start_body(
            self.at, self.from_seq, self.head_hash, self.checkpoints, self.checkpoint_digest
        )


def _key_start_body(
    at: str, from_seq: int, head_hash: str, checkpoints: int, checkpoint_digest: str
) -> dict[str, Any]:
    return {
        "kind": "key_start",
        "at": at,
        "from_seq": from_seq,
        "head_hash": head_hash,
        "checkpoints": checkpoints,
        "checkpoint_digest": checkpoint_digest,
    }


def make_key_start(
    at: str,
    head: tuple[int, str],
    last_checkpoint: Checkpoint | None,
    key: Secret,
) -> KeyStart:
    seq, digest = head
    count = last_checkpoint.number if last_checkpoint else 0
    cp_digest = last_checkpoint.digest if last_checkpoint else GENESIS
    body = _key_start_body(at, seq + 1, digest, count, cp_digest)
    return KeyStart(at, seq + 1, digest, count, cp_digest, _hmac(key, canonical_json(body)))


# -- the outside witness ---------------------------------------------------------------
@dataclass(frozen=True)
class WitnessLine:
    """One head the daemon published outside the store."""

    at: str
    seq: int
    hash: str
    mac: str | None


def witness_mac(key: Secret, at: str, seq: int, digest: str) -> str:
    return _hmac(key, canonical_json({"kind": "witness", "at": at, "seq": seq, "hash": digest}))


def witness_line(at: str, head: tuple[int, str], key: Secret | None) -> str:
    """The line appended to the witness file: JSON, signed when a key is configured."""
    seq, digest = head
    value: dict[str, Any] = {"at": at, "seq": seq, "hash": digest}
    if key is not None:
        value["mac"] = witness_mac(key, at, seq, digest)
    return canonical_json(value).decode("utf-8")


def parse_witness(lines: Iterable[str]) -> tuple[list[WitnessLine], tuple[int, str] | None]:
    """The witness lines, or the first unreadable one as (line number, why)."""
    parsed: list[WitnessLine] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
            seq, digest, at = value["seq"], value["hash"], value["at"]
            mac = value.get("mac")
            if not (
                isinstance(seq, int)
                and isinstance(digest, str)
                and isinstance(at, str)
                and (mac is None or isinstance(mac, str))
            ):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            return parsed, (number, "not a witness line (JSON with at, seq, hash)")
        parsed.append(WitnessLine(at, seq, digest, mac))
    return parsed, None


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
        digest = _digest(cp.body(), cp.algorithm, key)
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
            "configured (it was removed, or nothing was logged since the key was set: "
            "the daemon writes it when it starts)"
        )
    expected = _hmac(key, canonical_json(key_start.body()))
    if key_start.mac is None or not hmac.compare_digest(expected, key_start.mac):
        return "the key start does not match its signature (forged, or another key)"
    return None


def verify(
    entries: Iterable[Entry],
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
    expected = last.through_seq + 1 if last else 1
    prev = last.through_hash if last else GENESIS
    if last:
        notes.append(
            f"starts after checkpoint {last.number} ({last.algorithm}): "
            f"entries 1..{last.through_seq} were purged"
        )
    if key is None:
        notes.append("entry MACs not checked: no audit.checkpoint_key configured")
    elif keyed_from is not None and keyed_from > 1:
        notes.append(f"entries 1..{keyed_from - 1} predate the audit key (hash chain only)")
    anchor_found = anchor is not None and any(cp.through_hash == anchor for cp in checkpoints)
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
        if entry.unreadable is not None:
            return broken(entry.seq, f"unreadable details: {entry.unreadable}")
        if entry_hash(entry.content()) != entry.hash:
            return broken(entry.seq, "edited: its content does not match its hash")
        if keyed_from is not None and key is not None:
            if entry.seq == keyed_from - 1 and entry.hash != start_hash:
                return broken(entry.seq, "it is not the head the signed key start recorded")
            if entry.seq >= keyed_from and (
                entry.mac is None or not hmac.compare_digest(entry.mac, entry_mac(key, entry.hash))
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


def check_witness(
    lines: Sequence[WitnessLine],
    *,
    key: Secret | None,
    head: tuple[int, str],
    checkpoints: Sequence[Checkpoint],
    hash_at: Callable[[int], str | None],
) -> tuple[str | None, int]:
    """Checks the log against heads published outside the store.

    Returns (the first problem, naming the witness line; or None) and how many lines
    could be compared (heads of entries purged since, between checkpoints, cannot)."""
    cut = {cp.through_seq: cp.through_hash for cp in checkpoints}
    purged_through = checkpoints[-1].through_seq if checkpoints else 0
    checked = 0
    previous = 0
    for number, line in enumerate(lines, start=1):
        where = f"witness line {number} ({line.at}, entry {line.seq})"
        if key is not None:
            if line.mac is None:
                return f"{where} is not signed although audit.checkpoint_key is configured", checked
            if not hmac.compare_digest(line.mac, witness_mac(key, line.at, line.seq, line.hash)):
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
        if line.seq == 0:
            checked += 1
            continue
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
