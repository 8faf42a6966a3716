"""Retention and erasure of two-channel recordings (R5, T1): the halves a recording
left in Asterisk's folder go with it, both of them."""

from __future__ import annotations

from controller.calls import ids
from controller.clock import FixedClock
from controller.config import Config
from controller.recordings import LocalVault
from controller.store import SqliteStore
from tests.sites import add_recording
from tests.unit.test_retention import DAY, T0, purger, site

__all__ = ["site"]


def test_r5_t1_the_halves_of_a_failed_two_channel_recording_go_at_expiry(
    site: tuple[Config, SqliteStore, LocalVault],
) -> None:
    config, store, vault = site
    _, rec_id = add_recording(store, vault, config, service="sales", created_at=T0)
    name = ids.stereo_name("ab" * 20)
    store.db.execute("UPDATE recordings SET name = ? WHERE id = ?", [name, rec_id])
    store.close_recording(rec_id, "failed", T0)
    halves = [vault.incoming_path(half, "wav") for half in ids.recording_halves(name)]
    for half in halves:
        half.write_bytes(b"RIFF")
    purger(config, store, vault, FixedClock(T0 + 90 * DAY)).run()
    assert not any(half.exists() for half in halves)
    assert store.recording(rec_id) is None
