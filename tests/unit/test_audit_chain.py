"""The access log's hash chain, without I/O (S3): sealing, tampering, checkpoints."""

from __future__ import annotations

import dataclasses

import pytest

from controller.audit.chain import (
    GENESIS,
    Checkpoint,
    Entry,
    EntryDraft,
    canonical_json,
    entry_hash,
    make_checkpoint,
    seal,
    verify,
)
from controller.secrets import Secret

KEY = Secret("checkpoint-key-0123456789")


def draft(n: int) -> EntryDraft:
    return EntryDraft(
        at=f"2026-01-01T10:00:{n:02d}.000+00:00",
        actor="cdubois",
        role="dpo",
        action="listen",
        target=f"recording:r{n}",
        purpose="quality review",
        result="ok",
        details={"n": n, "note": "éà"},
    )


def chain(count: int, start: int = 1, prev: str = GENESIS) -> list[Entry]:
    entries = []
    for seq in range(start, start + count):
        entry = seal(draft(seq), seq, prev)
        entries.append(entry)
        prev = entry.hash
    return entries


def locator(entries: list[Entry]) -> dict[str, int]:
    return {e.hash: e.seq for e in entries}


def test_entry_hash_is_sha256_of_canonical_json_with_prev_hash() -> None:
    entry = seal(draft(1), 1, GENESIS)
    content = {
        "seq": 1,
        "at": "2026-01-01T10:00:01.000+00:00",
        "actor": "cdubois",
        "role": "dpo",
        "action": "listen",
        "target": "recording:r1",
        "purpose": "quality review",
        "result": "ok",
        "details": {"n": 1, "note": "éà"},
        "prev_hash": GENESIS,
    }
    assert canonical_json(content).startswith(b'{"action":"listen","actor":"cdubois"')
    assert "éà".encode() in canonical_json(content)
    assert entry.hash == entry_hash(content)
    assert len(entry.hash) == 64


def test_result_must_be_known() -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(draft(1), result="maybe")


def test_intact_chain_verifies() -> None:
    entries = chain(10)
    verdict = verify(entries, recorded_head=(10, entries[-1].hash))
    assert verdict.ok and verdict.entries == 10
    assert (verdict.head_seq, verdict.head_hash) == (10, entries[-1].hash)
    assert verify([]).ok


def test_edit_is_detected_at_the_edited_entry() -> None:
    entries = chain(10)
    entries[4] = dataclasses.replace(entries[4], purpose="curiosity")
    verdict = verify(entries)
    assert not verdict.ok and verdict.first_bad == 5
    assert verdict.reason.startswith("edited")


def test_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = chain(10)
    forged = seal(dataclasses.replace(draft(5), purpose="curiosity"), 5, entries[3].hash)
    entries[4] = forged
    verdict = verify(entries, locate=locator(entries).get)
    assert not verdict.ok and verdict.first_bad == 6
    assert verdict.reason.startswith("link broken")


def test_deletion_is_a_gap() -> None:
    entries = chain(10)
    del entries[3]
    verdict = verify(entries)
    assert not verdict.ok and verdict.first_bad == 5
    assert verdict.reason == "gap: entry 4 is missing (deleted)"


def test_deletion_with_renumbering_is_detected() -> None:
    entries = chain(10)
    kept = entries[:3] + [dataclasses.replace(e, seq=e.seq - 1) for e in entries[4:]]
    verdict = verify(kept, locate=locator(kept).get)
    assert not verdict.ok and verdict.first_bad == 4
    assert verdict.reason.startswith("link broken")


def test_insertion_is_detected() -> None:
    entries = chain(10)
    inserted = seal(draft(99), 5, entries[3].hash)
    shifted = [dataclasses.replace(e, seq=e.seq + 1) for e in entries[4:]]
    tampered = [*entries[:4], inserted, *shifted]
    verdict = verify(tampered, locate=locator(tampered).get)
    assert not verdict.ok and verdict.first_bad == 6
    assert verdict.reason.startswith("inserted or reordered entries before it")


def test_reordering_is_detected() -> None:
    entries = chain(10)
    a, b = entries[4], entries[5]
    swapped = [*entries[:4], dataclasses.replace(b, seq=5), dataclasses.replace(a, seq=6)]
    swapped += entries[6:]
    verdict = verify(swapped, locate=locator(swapped).get)
    assert not verdict.ok and verdict.first_bad == 5
    assert verdict.reason.startswith("reordered: its prev_hash is the hash of entry 6")


def test_truncated_end_is_caught_by_the_recorded_head() -> None:
    entries = chain(10)
    verdict = verify(entries[:8], recorded_head=(10, entries[-1].hash))
    assert not verdict.ok and verdict.first_bad == 9
    assert verdict.reason.startswith("truncated")


def test_anchor_must_remain_in_the_chain() -> None:
    entries = chain(10)
    anchor = entries[6].hash
    assert verify(entries, anchor=anchor).ok
    # Rewriting the chain from entry 7 on, hashes recomputed: only the anchor tells.
    rewritten = entries[:6]
    prev = rewritten[-1].hash
    for n in range(7, 11):
        entry = seal(dataclasses.replace(draft(n), purpose="rewritten"), n, prev)
        rewritten.append(entry)
        prev = entry.hash
    verdict = verify(rewritten, anchor=anchor)
    assert not verdict.ok and "anchor" in verdict.reason


@pytest.mark.parametrize("key", [KEY, None])
def test_checkpoint_lets_verification_start_after_cut_entries(key: Secret | None) -> None:
    entries = chain(10)
    cp = make_checkpoint(None, "2027-01-02T00:00:00.000+00:00", 6, entries[5].hash, key)
    assert cp.algorithm == ("hmac-sha256" if key else "sha256")
    assert cp.entries_cut == 6 and cp.prev_digest == GENESIS
    verdict = verify(entries[6:], checkpoints=[cp], key=key)
    assert verdict.ok and verdict.entries == 4
    assert "entries 1..6 were purged" in verdict.notes[0]
    # The first entry after the checkpoint may not go missing.
    verdict = verify(entries[7:], checkpoints=[cp], key=key)
    assert not verdict.ok and verdict.first_bad == 8


def test_checkpoints_chain_and_count() -> None:
    entries = chain(10)
    first = make_checkpoint(None, "t1", 3, entries[2].hash, KEY)
    second = make_checkpoint(first, "t2", 7, entries[6].hash, KEY)
    assert second.number == 2 and second.entries_cut == 4 and second.prev_digest == first.digest
    assert verify(entries[7:], checkpoints=[first, second], key=KEY).ok
    with pytest.raises(ValueError):
        make_checkpoint(second, "t3", 7, entries[6].hash, KEY)


def test_forged_checkpoint_is_refused() -> None:
    entries = chain(10)
    cp = make_checkpoint(None, "t1", 3, entries[2].hash, KEY)
    # Moving the checkpoint to hide more entries needs the key.
    moved = dataclasses.replace(cp, through_seq=5, entries_cut=5, through_hash=entries[4].hash)
    verdict = verify(entries[5:], checkpoints=[moved], key=KEY)
    assert not verdict.ok and "does not match its signature" in verdict.reason
    assert not verify(entries[3:], checkpoints=[cp], key=Secret("another-key-0123456")).ok
    no_key = verify(entries[3:], checkpoints=[cp], key=None)
    assert not no_key.ok and "no audit.checkpoint_key" in no_key.reason


def test_checkpoint_order_and_links() -> None:
    entries = chain(10)
    first = make_checkpoint(None, "t1", 3, entries[2].hash, None)
    second = make_checkpoint(first, "t2", 7, entries[6].hash, None)
    assert "out of order" in verify(entries[7:], checkpoints=[second, first]).reason
    unlinked: Checkpoint = dataclasses.replace(second, prev_digest=GENESIS)
    assert "does not follow" in verify(entries[7:], checkpoints=[first, unlinked]).reason
