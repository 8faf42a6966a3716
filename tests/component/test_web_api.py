"""The daemon's web API (Low: web API items), on the real daemon application against a
fake ARI server: sign-in floods, hostile bodies, what 401/403 bodies and /healthz
reveal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.config import Config, load_config
from controller.daemon import build_app
from controller.store import SqliteStore
from tests.component.fake_ari import PASSWORD, FakeAri, ari_section
from tests.sites import ENV, site_config, write_site
from tests.waiting import eventually

MAX_AMOUNT = "5000"


@dataclass
class Daemon:
    client: TestClient[web.Request, web.Application]
    config: Config
    root: Path

    def token(self, person: str) -> str:
        return (self.root / "access" / f"{person}.token").read_text().strip()

    def access_log(self) -> list[tuple[str, str, str]]:
        store = SqliteStore.open(self.config.store.path)
        try:
            return [(e.actor, e.action, e.result) for e in store.access_entries()]
        finally:
            store.close()


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    fake = FakeAri()
    ari = TestServer(fake.make_app())
    await ari.start_server()
    data = site_config(tmp_path)
    data["ari"] = ari_section(str(ari.make_url("")).rstrip("/"))
    prompts = {
        name: f"reccontrol/fr/pay-{name}"
        for name in ("number", "expiry", "cvv", "invalid", "approved", "declined", "unavailable")
    }
    data["payment"] = {"api_url": "https://pay.example/v1", "prompts": prompts}
    data["payment"] |= {"max_amount": MAX_AMOUNT}
    data["services"]["sales"]["payments"] = True
    config = load_config(
        write_site(tmp_path, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(build_app(config)))
    await client.start_server()
    yield Daemon(client, config, tmp_path)
    await client.close()
    await ari.close()


async def healthy(daemon: Daemon) -> None:
    """Waits (on the answer itself, bounded) until the daemon has its ARI connection:
    /readyz, as /healthz is liveness only and answers ok from the start."""

    async def answered() -> bool | None:
        response = await daemon.client.get("/readyz")
        return True if response.status == 200 else None

    await eventually(answered, "the daemon connected to ARI", every=0.01)


PAYMENT = {"person": "mallory-chosen-name", "purpose": "card payment", "agent": "alice"}
PAYMENT |= {"amount": "10.00", "order_reference": "CMD-1"}


async def test_low_web_sign_in_failures_are_rate_limited_and_logged_as_unknown(
    daemon: Daemon,
) -> None:
    """Low, web API (S2): each failed sign-in wrote an access-log entry whose actor the
    client chose. Now the actor is "unknown" and, after 5 failures from one address in
    a minute, requests get 429 without any entry."""
    statuses = []
    for _ in range(12):
        response = await daemon.client.post(
            "/api/payments", json=PAYMENT, headers={"Authorization": "Bearer wrong"}
        )
        statuses.append(response.status)
    assert statuses == [401] * 5 + [429] * 7
    log = daemon.access_log()
    assert log == [("unknown", "sign_in", "refused")] * 5
    assert "mallory" not in json.dumps(log)


async def test_low_web_deeply_nested_json_is_a_400(daemon: Daemon) -> None:
    """Low, web API: 100,000 nested '[' gave a 500 with a traceback."""
    response = await daemon.client.post(
        "/api/payments",
        data="[" * 100_000,
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
    )
    assert response.status == 400
    assert (await response.json())["error_id"] == "invalid-json"


async def test_low_web_content_type_is_checked(daemon: Daemon) -> None:
    response = await daemon.client.post(
        "/api/payments",
        data=json.dumps(PAYMENT),
        headers={"Content-Type": "text/plain", "Authorization": "Bearer x"},
    )
    assert response.status == 415


async def test_low_web_refusal_bodies_reveal_no_paths(daemon: Daemon) -> None:
    """Low, web API: an unreadable credential answered with its key path and file path."""
    (daemon.root / "access" / "mleroy.token-hash").unlink()
    response = await daemon.client.post(
        "/api/payments",
        json=PAYMENT | {"person": "mleroy"},
        headers={"Authorization": "Bearer whatever"},
    )
    body = await response.text()
    assert response.status == 401
    assert "cannot check the credential" in body
    assert "/" not in json.loads(body)["message"] and "access.persons" not in body
    assert str(daemon.root) not in body


async def test_low_healthz_says_only_ok_unless_authenticated(daemon: Daemon) -> None:
    """Low, web API: /healthz told anyone how many calls were active."""
    await healthy(daemon)
    response = await daemon.client.get("/healthz")
    assert await response.json() == {"status": "ok"}
    response = await daemon.client.get(
        "/healthz",
        params={"person": "cdubois"},
        headers={"Authorization": f"Bearer {daemon.token('cdubois')}"},
    )
    assert response.status == 200
    # The event loop's and the recordings' counters are figures too: signed-in only.
    answer = await response.json()
    # The sound check runs beside the events: done or not yet, whichever came first.
    assert answer.pop("sound_checks") in (0, 1)
    assert answer == {
        "status": "ok",
        "access_log": "ok",
        "ari_connected": True,
        "ari_connections": 1,
        "active_calls": 0,
        "events_dropped": 0,
        "events_refused": 0,
        "event_handler_errors": 0,
        "event_consumer_restarts": 0,
        "forced_reconnects": 0,
        "recording_failures": 0,
        "sounds_missing": 0,
        "sounds_not_checked": 0,
    }
    response = await daemon.client.get(
        "/healthz", params={"person": "cdubois"}, headers={"Authorization": "Bearer wrong"}
    )
    assert response.status == 401 and "active_calls" not in await response.text()


@pytest.mark.parametrize(
    "amount",
    [
        *("0", "0.00", "5000.01", "99999", "-1", "-0.50", "NaN", "Infinity", "1e3", "12.345"),
        *(" 12", "", 12.5, 0, -3, None, True, ["10"], {"value": "10"}),
    ],
)
async def test_m1_r2_amount_zero_over_the_maximum_or_not_an_amount_is_refused(
    daemon: Daemon, amount: object
) -> None:
    """M1, R2: ``POST /api/payments`` with an amount of zero, above
    ``payment.max_amount``, negative, not a number or not a string answered 202 (or went
    on to the call, which dropped it): now a 400 whose ``error_id`` names the field, and
    nothing reaches the access log (the request never got that far)."""
    body = {**PAYMENT, "person": "mleroy", "amount": amount}
    if amount is None:
        del body["amount"]
    response = await daemon.client.post(
        "/api/payments", json=body, headers={"Authorization": f"Bearer {daemon.token('mleroy')}"}
    )
    answer = await response.json()
    assert response.status == 400, answer
    assert answer["error_id"] == "invalid-amount"
    assert answer["message"].startswith("amount: ")
    assert daemon.access_log() == []


async def test_m1_amount_at_the_maximum_gets_past_the_amount_check(daemon: Daemon) -> None:
    """M1: the maximum itself is allowed; with no call in progress the request is
    refused for that reason, after the sign-in."""
    response = await daemon.client.post(
        "/api/payments",
        json={**PAYMENT, "person": "mleroy", "amount": MAX_AMOUNT},
        headers={"Authorization": f"Bearer {daemon.token('mleroy')}"},
    )
    answer = await response.json()
    assert (response.status, answer["error_id"]) == (409, "payment-refused"), answer


async def sign_in_for_payment(daemon: Daemon, person: str, token: str) -> int:
    response = await daemon.client.post(
        "/api/payments",
        json={**PAYMENT, "person": person},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status


async def test_s1_failed_sign_ins_from_the_same_host_do_not_lock_other_persons_out(
    daemon: Daemon,
) -> None:
    """S1, R2: five bad sign-ins from 127.0.0.1 locked out every client on 127.0.0.1,
    the real CRM included. Failures now count per claimed person: the one who failed
    gets 429, the others still sign in (here: a 409, no call in progress)."""
    for person in ("mallory", "snguyen"):
        assert [await sign_in_for_payment(daemon, person, "wrong") for _ in range(5)] == [401] * 5
    assert await sign_in_for_payment(daemon, "mleroy", daemon.token("mleroy")) == 409
    response = await daemon.client.get(
        "/healthz",
        params={"person": "cdubois"},
        headers={"Authorization": f"Bearer {daemon.token('cdubois')}"},
    )
    assert response.status == 200 and "active_calls" in await response.json()
    # The names that failed are held off, without a check and without an entry.
    assert await sign_in_for_payment(daemon, "mallory", "wrong") == 429
    assert await sign_in_for_payment(daemon, "another-made-up-name", "wrong") == 429
    assert await sign_in_for_payment(daemon, "snguyen", daemon.token("snguyen")) == 429
    log = daemon.access_log()
    assert log.count(("unknown", "sign_in", "refused")) == 5
    assert log.count(("snguyen", "sign_in", "refused")) == 5
    assert ("mleroy", "payment_request", "refused") in log
