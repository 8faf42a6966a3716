"""The receipt of a batch of recording deletions (T4, S3): its form, and the receipts
written one per recording before it, read the same way (controller/audit/receipts.py)."""

from __future__ import annotations

from controller.audit.receipts import (
    RECEIPT_COLUMNS,
    receipt_draft,
    receipt_recordings,
)

ROW = [
    "r1",
    "c1",
    "sales",
    "ab" * 32,
    12.5,
    "2026-01-05T10:00:00+00:00",
    "T1: services.sales.retention_days = 90",
    "deleted",
    True,
    "2026-04-05T02:00:00+00:00",
]


def test_t4_a_batch_receipt_names_each_recording_with_what_t4_asks() -> None:
    """T4: one entry, the columns named once, a row per recording; the target names the
    one recording of a receipt of one, the count otherwise; ``finished_by`` only when
    another run finished the deletion."""
    second = ["r2", *ROW[1:]]
    draft = receipt_draft(
        [ROW, second],
        at="2026-04-05T02:00:01+00:00",
        actor="system",
        role="system",
        purpose="retention: T1",
        finished_by="system",
    )
    assert (draft.action, draft.target) == ("delete", "recordings:2")
    assert draft.details == {"columns": list(RECEIPT_COLUMNS), "recordings": [ROW, second]}
    first = receipt_recordings(draft.details)[0]
    assert first == dict(zip(RECEIPT_COLUMNS, ROW, strict=True))
    one = receipt_draft(
        [ROW], at="t", actor="cdubois", role="dpo", purpose="erasure", finished_by="system"
    )
    assert one.target == "recording:r1"
    assert [r["finished_by"] for r in receipt_recordings(one.details)] == ["system"]


def test_t4_a_receipt_written_one_per_recording_reads_the_same() -> None:
    """T4: a log written before the batch form keeps its receipts readable: one
    recording each, its fields at the top of the details; any other entry names none."""
    old = dict(zip(RECEIPT_COLUMNS, ROW, strict=True))
    assert receipt_recordings(old) == [old]
    skip = {"recordings": [{"recording_id": "r1", "reference": "H-1"}], "sheets": []}
    assert receipt_recordings(skip) == []
