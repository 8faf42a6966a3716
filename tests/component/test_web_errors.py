"""What the web API answers to a request it cannot read, and what reaches the daemon's
log when something fails outside reccontrol's own code (R2, M1, C4): a clear 4xx with
an ``error_id``, and the records of aiohttp and asyncio masked like reccontrol's own.
Run on the real daemon application, against a fake ARI server."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller import daemon as daemon_module
from controller.config import load_config
from controller.daemon import build_app
from controller.logs import LogFormat, setup_logging
from tests.component.fake_ari import PASSWORD, FakeAri, ari_section
from tests.logstate import logging_restored
from tests.sites import ENV, site_config, write_site

CARD = "4111 1111 1111 1111"
PHONE = "06 12 34 56 78"
PAYMENT = {"person": "mleroy", "purpose": "card payment", "agent": "alice"}
PAYMENT |= {"amount": "10.00", "order_reference": "CMD-1"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    fake = FakeAri()
    ari = TestServer(fake.make_app())
    await ari.start_server()
    data = site_config(tmp_path)
    data["ari"] = ari_section(str(ari.make_url("")).rstrip("/"))
    config = load_config(
        write_site(tmp_path, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )
    test_client: TestClient[web.Request, web.Application] = TestClient(
        TestServer(build_app(config))
    )
    await test_client.start_server()
    yield test_client
    await test_client.close()
    await ari.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    with logging_restored():
        yield


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=foo", "application/json; charset=latin-1"],
)
async def test_r2_unknown_charset_is_a_415_with_an_error_id(
    client: TestClient[web.Request, web.Application], content_type: str
) -> None:
    """R2: ``Content-Type: application/json; charset=foo`` was a 500 and a raw
    traceback in the log."""
    response = await client.post(
        "/api/payments",
        data=json.dumps(PAYMENT).encode(),
        headers={"Content-Type": content_type, "Authorization": "Bearer x"},
    )
    assert response.status == 415
    body = await response.json()
    assert body["error_id"] == "unsupported-charset" and "UTF-8" in body["message"]


async def test_r2_utf8_charset_spellings_are_read(
    client: TestClient[web.Request, web.Application],
) -> None:
    for charset in ("utf-8", "UTF-8", "utf8"):
        response = await client.post(
            "/api/payments",
            data=json.dumps(PAYMENT).encode(),
            headers={
                "Content-Type": f"application/json; charset={charset}",
                "Authorization": "Bearer wrong",
            },
        )
        # Read, parsed, and refused for the token only.
        assert response.status == 401, charset
        assert (await response.json())["error_id"] == "unauthenticated"


def raised_with(text: str) -> BaseException:
    try:
        raise ValueError(text)
    except ValueError as exc:
        return exc


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_m1_c4_aiohttp_and_asyncio_records_are_masked_in_the_daemon_log(fmt: LogFormat) -> None:
    """M1, C4: loggers outside ``reccontrol`` wrote their records, tracebacks included,
    without the masking."""
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, fmt=fmt)
    error = raised_with(f"bad body: card {CARD}, caller {PHONE}")
    logging.getLogger("aiohttp.server").error(
        "Error handling request from %s", PHONE, exc_info=error
    )
    logging.getLogger("asyncio").error(
        "Task exception was never retrieved\nfuture: <Task %s>",
        CARD,
        exc_info=(type(error), error, error.__traceback__),
    )
    output = stream.getvalue()
    assert output.count("ValueError: bad body: card [card number], caller [redacted]") == 2
    assert "Error handling request from [redacted]" in output
    assert "future: <Task [card number]>" in output
    for secret in (CARD, CARD.replace(" ", ""), PHONE, PHONE.replace(" ", "")):
        assert secret not in output.replace("\\n", "\n")


@pytest.mark.usefixtures("restore_logging")
async def test_r2_unforeseen_failure_is_a_500_with_an_error_id_and_a_masked_traceback(
    client: TestClient[web.Request, web.Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    """R2, M1: a failure no handler foresaw answers JSON with an ``error_id``, and its
    traceback, quoting a card number, is masked in the daemon's log."""
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)

    async def broken(request: web.Request, **_: object) -> web.Response:
        await asyncio.sleep(0)
        raise RuntimeError(f"gateway said: {CARD}")

    monkeypatch.setattr(daemon_module, "request_payment", broken)
    response = await client.post("/api/payments", json=PAYMENT)
    assert response.status == 500
    assert (await response.json())["error_id"] == "internal-error"
    output = stream.getvalue()
    assert "RuntimeError: gateway said: [card number]" in output
    assert CARD not in output
