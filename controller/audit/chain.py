"""The access log's hash chain (S3), as one import. Pure code: no I/O, no clock.

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
A new log is keyed from its first entry; one started without a key is switched over by a
signed :class:`KeyStart` that a person writes (``reccontrol audit adopt-key``): it binds
the head and the checkpoints that existed then, so older entries and unsigned
checkpoints stay checkable and no later one may be unsigned.
Verification with the key trusts no ``algorithm`` field: a checkpoint after the switch
that is not HMAC-signed is tampering, as is an entry after it without a valid MAC.

Its parts: :mod:`~controller.audit.entries` (entries, their seal and MAC),
:mod:`~controller.audit.checkpoints` (checkpoints and the key start),
:mod:`~controller.audit.witness_line` (the witness's line format) and
:mod:`~controller.audit.verification` (checking all of it).
"""

from __future__ import annotations

from controller.audit.checkpoints import Checkpoint, KeyStart, make_checkpoint, make_key_start
from controller.audit.entries import (
    GENESIS,
    RESULTS,
    Entry,
    EntryDraft,
    canonical_json,
    entry_hash,
    entry_mac,
    seal,
)
from controller.audit.verification import Verdict, check_cut, verify
from controller.audit.witness_check import check_witness
from controller.audit.witness_line import WitnessLine, parse_witness, witness_line, witness_mac

__all__ = [
    "GENESIS",
    "RESULTS",
    "Checkpoint",
    "Entry",
    "EntryDraft",
    "KeyStart",
    "Verdict",
    "WitnessLine",
    "canonical_json",
    "check_cut",
    "check_witness",
    "entry_hash",
    "entry_mac",
    "make_checkpoint",
    "make_key_start",
    "parse_witness",
    "seal",
    "verify",
    "witness_line",
    "witness_mac",
]
