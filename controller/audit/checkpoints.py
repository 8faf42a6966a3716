"""Checkpoints and the key start of the access log (S3, T3). Pure code: no I/O, no clock.

When old entries are purged (T3), a :class:`Checkpoint` records the last cut entry's
sequence number and hash. Checkpoints chain too, and are HMAC-SHA-256 signed when a key
is configured (plain SHA-256 otherwise).

A new log is keyed from its first entry; one started without a key is switched over by a
signed :class:`KeyStart` that a person writes (``reccontrol audit adopt-key``): it binds
the head and the checkpoints that existed then, so older entries and unsigned
checkpoints stay checkable and no later one may be unsigned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.audit.entries import GENESIS, canonical_json, keyed_hash
from controller.secrets import Secret


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


def checkpoint_signature(body: Mapping[str, Any], algorithm: str, key: Secret | None) -> str | None:
    """The digest of a checkpoint's body under ``algorithm``; None when that needs a key
    and there is none (or the algorithm is unknown)."""
    data = canonical_json(body)
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    if algorithm == "hmac-sha256" and key is not None:
        return keyed_hash(key, data)
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
    digest = checkpoint_signature(body, algorithm, key)
    assert digest is not None
    return Checkpoint(
        number, at, through_seq, through_hash, through_seq - start, prev, algorithm, digest
    )


# -- the switch to a keyed chain ---------------------------------------------------------
@dataclass(frozen=True)
class KeyStart:
    """Signed once, with the first entry of a new log or by ``audit adopt-key``: entries
    from ``from_seq`` on carry a MAC; the entry before them had ``head_hash``; the first
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
    return KeyStart(at, seq + 1, digest, count, cp_digest, keyed_hash(key, canonical_json(body)))
