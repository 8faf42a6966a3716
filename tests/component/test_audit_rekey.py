"""A keyed access log whose key start was removed is never keyed again by the daemon
(S3, S7): on the real daemon application against a fake ARI, an attacker who can write
the store but has no key edits an entry, re-chains the log, deletes the key start and
sends one bad request to ``POST /api/payments``. The request is refused (it cannot be
logged, so it is not done), /readyz fails, an alert is stored, and ``audit verify``
(also ``--witness``) says broken."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner, Result

from controller.cli import cli
from controller.config import Config, load_config
from controller.daemon import build_app
from controller.store import SqliteStore
from tests.component.fake_ari import PASSWORD, FakeAri, ari_section
from tests.sites import ENV, old_log_entry, site_config, write_site
from tests.tamper import attacker, rechain
from tests.waiting import eventually

START = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
BAD_PAYMENT = {
    "person": "cdubois",
    "purpose": "card payment",
    "call_id": "no-such-call",
    "amount": "10.00",
    "order_reference": "CMD-1",
}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Path, Config, Path]]:
    fake = FakeAri()
    ari = TestServer(fake.make_app())
    await ari.start_server()
    witness = tmp_path / "witness" / "audit-head.log"
    witness.parent.mkdir()
    data = site_config(tmp_path)
    data["audit"] |= {"witness_file": str(witness), "witness_interval_seconds": 3600}
    data["ari"] = ari_section(str(ari.make_url("")).rstrip("/"))
    path = write_site(tmp_path, data)
    config = load_config(path, environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD})
    yield path, config, witness
    await ari.close()


def start_daemon(config: Config) -> TestClient[web.Request, web.Application]:
    return TestClient(TestServer(build_app(config)))


async def figures(
    client: TestClient[web.Request, web.Application], token: str
) -> dict[str, object]:
    """/healthz as a signed-in person sees it, once the daemon holds its ARI connection,
    so what remains wrong is the access log."""

    async def probe() -> dict[str, object] | None:
        response = await client.get(
            "/healthz", params={"person": "cdubois"}, headers={"Authorization": f"Bearer {token}"}
        )
        answer: dict[str, object] = await response.json()
        answer["http"] = response.status
        return answer if answer.get("ari_connections") else None

    return await eventually(probe, "the daemon connected to ARI")


def verify(path: Path, *extra: str | Path) -> Result:
    return CliRunner().invoke(cli, ["audit", "verify", "-c", *map(str, (path, *extra))], env=ENV)


async def test_s7_deleted_key_start_and_bad_payment_request_do_not_rekey_the_log(
    site: tuple[Path, Config, Path],
) -> None:
    """S7, S3: keyed site, entries written and witnessed; the attacker edits entry 2,
    re-chains without the key, deletes the key start; the daemon restarts and gets one
    unauthenticated bad request on POST /api/payments. Nothing re-keys the log: the
    request is refused (503, never done unlogged), /readyz fails naming it (/healthz,
    liveness only, gives the reason to a signed-in person), an alert row is stored,
    and 'audit verify' (with and without --witness) says broken."""
    path, config, witness = site
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    for n in range(4):
        old_log_entry(store, START + dt.timedelta(minutes=n), n)
    store.close()
    client = start_daemon(config)
    await client.start_server()  # publishes the signed head with its key start
    await client.close()
    assert verify(path, "--witness", witness).exit_code == 0

    db = attacker(config.store.path)
    db.execute("UPDATE access_log SET target = 'recording:nothing' WHERE seq = 2")
    rechain(db, 2)
    db.execute("DELETE FROM audit_key_start")
    db.close()

    client = start_daemon(config)
    await client.start_server()
    try:
        own = (path.parent / "access" / "cdubois.token").read_text().strip()
        health = await figures(client, own)
        # Liveness: the daemon runs, and says what is wrong (R4).
        assert health["http"] == 200 and health["status"] == "ok"
        assert "no signed key start" in str(health["access_log"])
        response = await client.post(
            "/api/payments", json=BAD_PAYMENT, headers={"Authorization": "Bearer not-the-token"}
        )
        answer = await response.json()
        assert response.status == 503, answer
        assert answer["error_id"] == "access-log-key-start-missing"
        public = await client.get("/readyz")
        assert public.status == 503
        not_ready = (await public.json())["not_ready"]
        assert [p["error_id"] for p in not_ready] == ["access-log-key-start-missing"]
        # The reason is for a signed-in person (above), not for whoever asks /readyz.
        assert "key start" not in not_ready[0]["message"]
    finally:
        await client.close()

    check = SqliteStore.open(config.store.path)
    try:
        assert check.audit_key_start() is None  # never written again
        assert check.audit_head()[0] == 4  # nothing appended unkeyed
        alerts = list(check.db.query("SELECT kind, message FROM alerts"))
    finally:
        check.close()
    assert [a["kind"] for a in alerts] == ["access_log_unwritable"]
    assert "no signed key start" in alerts[0]["message"]

    for extra in ((), ("--witness", witness)):
        result = verify(path, *extra)
        assert result.exit_code == 1, result.output
        assert "the log is not keyed: no signed key start" in result.output
    # The head published before the attack named the key start.
    first = json.loads(witness.read_text().splitlines()[0])
    assert first["seq"] == 4 and len(first["key_start"]) == 64
