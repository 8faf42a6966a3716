"""Medium 8 (S4): when the vault refuses a planted file, the call manager raises an alert
in the store and the log, and the recording is marked missing; the link's target is left
untouched."""

from __future__ import annotations

import datetime as dt
import logging
import random
from pathlib import Path

import aiohttp
import pytest

from controller.ari.client import AriClient
from controller.calls.manager import CallManager
from controller.clock import FixedClock
from controller.recordings import LocalVault
from controller.store import SqliteStore, StoreThread
from tests.sites import add_call, load_site, write_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


async def test_medium8_planted_symlink_raises_an_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_site(write_site(tmp_path))
    setup = SqliteStore.open(config.store.path)
    call_id = add_call(setup, config, service="sales", started_at=T0)
    setup.open_recording("rec1", call_id, "n" * 32, "wav", ("quality",), T0, 90)
    setup.close()
    vault = LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir)
    config.recordings.asterisk_dir.mkdir(parents=True)
    vault.prepare()
    outside = tmp_path / "elsewhere.conf"
    outside.write_text("secret\n")
    outside.chmod(0o644)
    vault.incoming_path("n" * 32, "wav").symlink_to(outside)

    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    async with aiohttp.ClientSession() as session:
        manager = CallManager(
            config=config,
            client=AriClient(config.ari, session),
            store=store,
            vault=vault,
            clock=FixedClock(T0),
            rng=random.Random(1),
        )
        with caplog.at_level(logging.ERROR, logger="reccontrol"):
            await manager._adopt("rec1", "n" * 32, "wav")
        await manager.close(grace=1.0)
    alerts = await store.run(lambda s: list(s.db.query("SELECT kind, message FROM alerts")))
    state = await store.run(lambda s: s.recording("rec1"))
    await store.stop()
    assert [a["kind"] for a in alerts] == ["vault_refused"]
    assert "symbolic link" in alerts[0]["message"]
    assert state is not None and state.state == "missing"
    assert any("ALERT" in r.getMessage() for r in caplog.records)
    assert outside.read_text() == "secret\n" and outside.stat().st_mode & 0o777 == 0o644
