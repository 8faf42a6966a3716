"""Alerts the call manager stores for a person to look at: the vault refusing a planted
file (Medium 8, S4) and the payment API answering a redirect (High 1, S6)."""

from __future__ import annotations

import datetime as dt
import logging
import random
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from controller.ari.client import AriClient
from controller.calls.manager import CallManager
from controller.clock import FixedClock
from controller.config.service_model import PaymentPrompts, PaymentSettings
from controller.demo.payment_api import PaymentApi, make_certificates
from controller.payments.card import CardData
from controller.payments.charge import ChargeRequest
from controller.payments.gateway import PaymentGateway
from controller.recordings import LocalVault
from controller.store import SqliteStore, StoreThread
from tests.sites import add_call, load_site, write_site

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


async def test_medium8_planted_symlink_raises_an_alert(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Medium 8: the recording is marked missing, the link's target is left untouched."""
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
            await manager.executor.take_in("call1", "rec1", "n" * 32, "wav")
        await manager.close(grace=1.0)
    alerts = await store.run(lambda s: list(s.db.query("SELECT kind, message FROM alerts")))
    state = await store.run(lambda s: s.recording("rec1"))
    await store.stop()
    assert [a["kind"] for a in alerts] == ["vault_refused"]
    assert "symbolic link" in alerts[0]["message"]
    assert state is not None and state.state == "missing"
    assert any("ALERT" in r.getMessage() for r in caplog.records)
    assert outside.read_text() == "secret\n" and outside.stat().st_mode & 0o777 == 0o644


async def test_high1_payment_redirect_raises_an_alert(tmp_path: Path) -> None:
    """High 1 (S6): besides the ``unavailable`` outcome, a redirect leaves an alert on the
    call in the store."""
    config = load_site(write_site(tmp_path))
    setup = SqliteStore.open(config.store.path)
    call_id = add_call(setup, config, service="sales", started_at=T0)
    setup.close()
    api = PaymentApi(make_certificates(tmp_path / "certs"))
    await api.start()
    api.redirect_to = "http://127.0.0.1:9/v1/payments"
    settings = PaymentSettings(
        api.url, PaymentPrompts(*(["x"] * 7)), ca_bundle=api.certificates.ca, max_attempts=1
    )
    card = CardData()
    for char in "4556737586899855":
        card.number.append(char)
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: SqliteStore.open(config.store.path), SqliteStore.close
    )
    await store.start()
    try:
        async with aiohttp.ClientSession() as session:
            manager = CallManager(
                config=config,
                client=AriClient(config.ari, session),
                store=store,
                vault=LocalVault(config.recordings.asterisk_dir, config.recordings.vault_dir),
                clock=FixedClock(T0),
                rng=random.Random(1),
                gateway=PaymentGateway(settings, session),
            )
            request = ChargeRequest(Decimal("10.00"), "EUR", "CMD-1", "attempt-1", card)
            await manager.executor._submit_payment(call_id, request)
            await manager.close(grace=5.0)
        alerts = await store.run(
            lambda s: list(s.db.query("SELECT call_id, kind, message FROM alerts"))
        )
    finally:
        await store.stop()
        await api.stop()
    assert [(a["call_id"], a["kind"]) for a in alerts] == [(call_id, "payment_redirect")]
    assert "HTTP 307" in alerts[0]["message"] and "4556" not in alerts[0]["message"]
    assert len(api.received) == 1
