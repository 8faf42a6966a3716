"""The access log's hash chain: sealing entries, checkpoints, verification (S3)."""

from controller.audit.chain import (
    GENESIS,
    Checkpoint,
    Entry,
    EntryDraft,
    Verdict,
    make_checkpoint,
    seal,
    verify,
)

__all__ = [
    "GENESIS",
    "Checkpoint",
    "Entry",
    "EntryDraft",
    "Verdict",
    "make_checkpoint",
    "seal",
    "verify",
]
