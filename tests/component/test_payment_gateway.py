"""The payment API client against a local HTTPS server with a CA made for the test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from controller.config.service_model import PaymentPrompts, PaymentSettings
from controller.demo.payment_api import PaymentApi, make_certificates
from controller.payments.card import CardData
from controller.payments.charge import ChargeRequest, ChargeResult
from controller.payments.gateway import PaymentGateway

CARD, EXPIRY, CVV = "4556737586899855", "1228", "737"
PROMPTS = PaymentPrompts(*(["x"] * 7))


def card() -> CardData:
    data = CardData()
    for holder, text in ((data.number, CARD), (data.expiry, EXPIRY), (data.cvv, CVV)):
        for char in text:
            holder.append(char)
    return data


def request(key: str = "attempt-1", amount: str = "42.50") -> ChargeRequest:
    return ChargeRequest(Decimal(amount), "EUR", "ORDER-7", key, card())


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[PaymentApi]:
    server = PaymentApi(make_certificates(tmp_path / "certs"))
    await server.start()
    yield server
    await server.stop()


# A generous deadline for the answers that must come: on a loaded machine a TLS handshake
# and an answer in under a second are not a given, and a timed-out first attempt would be
# retried (two requests seen, or "no answer in time") where the test expects one answer.
ANSWERED_WITHIN = 30.0


def settings_for(api: PaymentApi, **changes: object) -> PaymentSettings:
    base = PaymentSettings(
        api.url, PROMPTS, ca_bundle=api.certificates.ca, timeout=ANSWERED_WITHIN, max_attempts=2
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def charge(settings: PaymentSettings, req: ChargeRequest) -> ChargeResult:
    async with aiohttp.ClientSession() as session:
        return await PaymentGateway(settings, session).charge(req)


async def test_approved_over_verified_tls(api: PaymentApi) -> None:
    req = request()
    result = await charge(settings_for(api), req)
    assert result.status == "approved" and result.reference == "PAY-00001"
    (got,) = api.received
    assert got.tls and got.idempotency_key == "attempt-1"
    assert got.body == {
        "amount": "42.50",
        "currency": "EUR",
        "order_reference": "ORDER-7",
        "card": {"number": CARD, "expiry": EXPIRY, "cvv": CVV},
    }
    # Wiped as soon as it was sent.
    assert len(req.card.number) == len(req.card.expiry) == len(req.card.cvv) == 0


async def test_untrusted_certificate_is_refused_and_nothing_sent(api: PaymentApi) -> None:
    result = await charge(settings_for(api, ca_bundle=None), request())
    assert result.status == "unavailable"
    assert result.detail == "server certificate refused"
    assert api.received == []


async def test_lost_answer_is_retried_without_charging_twice(api: PaymentApi) -> None:
    api.drop_first_answer = True
    result = await charge(settings_for(api), request())
    assert result.status == "approved" and result.attempts == 2
    assert [r.idempotency_key for r in api.received] == ["attempt-1", "attempt-1"]
    assert len(api.charges) == 1


async def test_api_that_does_not_answer(api: PaymentApi) -> None:
    # The client's deadline starts before the request is sent and the fake's delay after it
    # arrives, on the same event loop: the deadline always passes first, however slow.
    api.delay = 3.0
    result = await charge(settings_for(api, timeout=1.0), request())
    assert result.status == "unavailable" and result.detail == "no answer in time"
    assert result.attempts == 2


@pytest.mark.parametrize(
    ("status", "outcome"), [(500, "unavailable"), (402, "declined"), (422, "rejected")]
)
async def test_error_answers(api: PaymentApi, status: int, outcome: str) -> None:
    api.fail_status = status
    result = await charge(settings_for(api), request())
    assert result.status == outcome
    assert CARD not in result.detail


async def test_declined(api: PaymentApi) -> None:
    api.decline_amounts.add("13.00")
    result = await charge(settings_for(api), request(amount="13"))
    assert result.status == "declined"


async def test_redirect_to_plain_http_is_refused_and_card_not_resent(
    api: PaymentApi, caplog: pytest.LogCaptureFixture
) -> None:
    """High 1 (M1, S6, PCI DSS 4.2.1): a trusted HTTPS API answering ``307 Location: http://``
    must not make reccontrol re-send the card in clear text: the outcome is
    ``unavailable``, an alert is logged and the plain-HTTP server sees no request."""
    plain_requests: list[bytes] = []

    async def capture(request: web.Request) -> web.Response:
        plain_requests.append(await request.read())
        return web.json_response({"status": "approved", "reference": "STOLEN"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", capture)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = int(runner.addresses[0][1])
        api.redirect_to = f"http://127.0.0.1:{port}/v1/payments"
        with caplog.at_level(logging.ERROR, logger="reccontrol.payments"):
            result = await charge(settings_for(api), request())
    finally:
        await runner.cleanup()
    assert result.status == "unavailable"
    assert result.detail == "redirect refused (HTTP 307)"
    assert result.attempts == 1
    assert len(api.received) == 1
    assert plain_requests == []
    assert any("ALERT" in r.getMessage() and "307" in r.getMessage() for r in caplog.records)
    assert CARD not in caplog.text


async def test_card_body_sent_is_wiped_no_unwiped_copy(api: PaymentApi) -> None:
    """Low, card digits (M1): the buffer handed to the HTTP client is the one reccontrol
    zeroes, not a ``bytes`` copy of it that stays in memory with the card number."""
    sent: list[object] = []
    async with aiohttp.ClientSession() as session:
        post = session.post

        def spy(*args: Any, **kwargs: Any) -> Any:
            sent.append(kwargs["data"])
            return post(*args, **kwargs)

        session.post = spy  # type: ignore[method-assign]
        result = await PaymentGateway(settings_for(api), session).charge(request())
    assert result.status == "approved"
    (data,) = sent
    assert isinstance(data, memoryview)
    assert len(data) > 100 and not any(data.tobytes())


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (DEEP, "HTTP 200, answer over 64 KiB"),
        ('{"status": ' + "[" * 200 + "]" * 200 + "}", "HTTP 200, answer nested over 8 levels"),
        ('{"status": "approved", "pad": "' + "x" * 70_000 + '"}', "HTTP 200, answer over 64 KiB"),
        ("approved", "HTTP 200, answer not JSON"),
        ('["approved"]', "HTTP 200, answer not a JSON object"),
    ],
    ids=["100000-deep", "200-deep", "70-KiB", "not-json", "array"],
)
async def test_m1_r2_hostile_answer_is_an_unavailable_payment_never_an_exception(
    api: PaymentApi, answer: str, detail: str
) -> None:
    """M1, R2: an answer nested 100,000 deep made ``json.loads`` raise RecursionError out
    of the gateway, so the call never heard an outcome. The answer is read up to 64 KiB
    and parsed only within 8 levels: a bad one is ``unavailable``, sent once, and says
    why."""
    api.raw_answer = answer
    req = request()
    result = await charge(settings_for(api), req)
    assert (result.status, result.detail, result.attempts) == ("unavailable", detail, 1)
    assert len(api.received) == 1
    assert len(req.card.number) == 0


async def test_m1_brackets_inside_strings_are_no_nesting(api: PaymentApi) -> None:
    api.raw_answer = '{"status": "approved", "reference": "[[[[[[[[[[[[{{{{{{{{\\"", "x": {}}'
    result = await charge(settings_for(api), request())
    # The escaped quote does not end the string: the brackets after it are text too.
    assert (result.status, result.reference) == ("approved", '[[[[[[[[[[[[{{{{{{{{"')
