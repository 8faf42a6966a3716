"""Sends card data to the payment API over HTTPS, certificates verified.

The request carries an ``Idempotency-Key`` per payment attempt; a retry after a lost
answer reuses it, so the API can answer again without charging twice. The body is
built in a buffer that is zeroed once sent; nothing of it is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from typing import Any

import aiohttp

from controller.config.service_model import PaymentSettings
from controller.payments.card import SensitiveDigits
from controller.payments.charge import (
    APPROVED,
    DECLINED,
    REDIRECT_REFUSED,
    REJECTED,
    UNAVAILABLE,
    ChargeRequest,
    ChargeResult,
)

log = logging.getLogger("reccontrol.payments")

MAX_ANSWER_BYTES = 64 * 1024
"""An answer is a status and a reference: anything near this size is not one, and is
not read further."""
MAX_ANSWER_DEPTH = 8
"""Nesting an answer may have. ``json.loads`` recurses once per level: an answer nested
thousands deep would raise ``RecursionError``, which no ``ValueError`` handler catches."""


def nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings
    do not count). Linear, and never recursive."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def answer_object(raw: bytes) -> dict[str, Any] | str:
    """The payment API's answer as a JSON object, or what is wrong with it, in a few
    words for ``ChargeResult.detail``. An empty answer is an empty object."""
    if len(raw) > MAX_ANSWER_BYTES:
        return f"answer over {MAX_ANSWER_BYTES // 1024} KiB"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "answer not UTF-8"
    if not text.strip():
        return {}
    if nesting_depth(text) > MAX_ANSWER_DEPTH:
        return f"answer nested over {MAX_ANSWER_DEPTH} levels"
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        return "answer not JSON"
    return data if isinstance(data, dict) else "answer not a JSON object"


async def read_bounded(content: aiohttp.StreamReader, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """At most ``limit + 1`` bytes of a body: enough to tell it is too large without
    holding all of it."""
    data = bytearray()
    while len(data) <= limit:
        chunk = await content.read(limit + 1 - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def ssl_context(settings: PaymentSettings) -> ssl.SSLContext:
    """Verification on, hostname checked; the CA bundle if one is configured."""
    cafile = str(settings.ca_bundle) if settings.ca_bundle else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _body(request: ChargeRequest) -> bytearray:
    """The JSON body, in one buffer allocated at its final size: growing a bytearray
    reallocates it and leaves the old, unwiped bytes in freed memory."""
    card = request.card
    head = json.dumps(
        {
            "amount": f"{request.amount:.2f}",
            "currency": request.currency,
            "order_reference": request.order_reference,
        }
    )[:-1].encode()
    parts: list[bytes | SensitiveDigits] = [
        head,
        b', "card": {"number": "',
        card.number,
        b'", "expiry": "',
        card.expiry,
        b'", "cvv": "',
        card.cvv,
        b'"}}',
    ]
    body = bytearray(sum(len(part) for part in parts))
    offset = 0
    for part in parts:
        if isinstance(part, SensitiveDigits):
            offset = part.copy_into(body, offset)
        else:
            body[offset : offset + len(part)] = part
            offset += len(part)
    return body


def _wipe(buffer: bytearray) -> None:
    for index in range(len(buffer)):
        buffer[index] = 0


class PaymentGateway:
    def __init__(self, settings: PaymentSettings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._ssl = ssl_context(settings)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Sends the payment; wipes the card data before returning, whatever happens."""
        started = time.monotonic()
        body = _body(request)
        try:
            return await self._send(request, body, started)
        finally:
            _wipe(body)
            request.card.wipe()

    async def _send(self, request: ChargeRequest, body: bytearray, started: float) -> ChargeResult:
        settings = self._settings
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.idempotency_key,
        }
        if settings.token is not None:
            headers["Authorization"] = f"Bearer {settings.token.reveal()}"
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        detail = ""
        for attempt in range(1, settings.max_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(min(2.0, 0.25 * 2 ** (attempt - 2)))
            try:
                async with self._session.post(
                    settings.api_url,
                    # A view, not bytes(body): no copy of the card that is never wiped.
                    data=memoryview(body),
                    headers=headers,
                    timeout=timeout,
                    ssl=self._ssl,
                    # A redirect would re-send the card to wherever it points, maybe
                    # over plain HTTP: never follow one (PCI DSS 4.2.1).
                    allow_redirects=False,
                ) as response:
                    raw = await read_bounded(response.content)
                    status = response.status
            except aiohttp.ClientConnectorCertificateError:
                # Never retried and never sent elsewhere: the server is not who it says.
                return self._result(UNAVAILABLE, "", attempt, "server certificate refused", started)
            except aiohttp.ClientSSLError:
                return self._result(UNAVAILABLE, "", attempt, "TLS handshake failed", started)
            except TimeoutError:
                detail = "no answer in time"
                continue
            except aiohttp.ClientError as exc:
                detail = f"connection failed ({type(exc).__name__})"
                continue
            if 300 <= status < 400:
                log.error(
                    "ALERT: the payment API answered HTTP %d (a redirect); card data was "
                    "not re-sent anywhere and the payment is unavailable. Fix payment.api_url.",
                    status,
                )
                return self._result(
                    UNAVAILABLE, "", attempt, f"{REDIRECT_REFUSED} (HTTP {status})", started
                )
            if status >= 500 or status == 429:
                detail = f"HTTP {status}"
                continue
            return self._interpret(status, raw, attempt, started)
        return self._result(UNAVAILABLE, "", settings.max_attempts, detail, started)

    def _interpret(self, status: int, raw: bytes, attempt: int, started: float) -> ChargeResult:
        parsed = answer_object(raw)
        data = parsed if isinstance(parsed, dict) else {}
        reference = data.get("reference")
        reference = reference if isinstance(reference, str) else ""
        if 200 <= status < 300:
            if isinstance(parsed, str):
                # Not retried: the card would go out again for an API that did answer.
                log.error("the payment API answered HTTP %d, unusable: %s", status, parsed)
                return self._result(UNAVAILABLE, "", attempt, f"HTTP {status}, {parsed}", started)
            answer = data.get("status")
            if answer in (APPROVED, DECLINED):
                return self._result(str(answer), reference[:64], attempt, f"HTTP {status}", started)
            return self._result(
                UNAVAILABLE, "", attempt, f"HTTP {status}, no usable status", started
            )
        if status == 402:
            return self._result(DECLINED, reference[:64], attempt, "HTTP 402", started)
        return self._result(REJECTED, "", attempt, f"HTTP {status}", started)

    @staticmethod
    def _result(
        status: str, reference: str, attempts: int, detail: str, started: float
    ) -> ChargeResult:
        return ChargeResult(
            status, reference, attempts, detail, (time.monotonic() - started) * 1000
        )


async def charge_or_unavailable(
    gateway: PaymentGateway | None, request: ChargeRequest, call_id: str
) -> ChargeResult:
    """The API's answer, or ``unavailable`` whatever broke: the call must hear an
    outcome, and a caller waiting in the IVR for an answer that never comes is a caller
    lost (R2)."""
    if gateway is None:
        request.card.wipe()
        return ChargeResult(UNAVAILABLE, "", 0, "no payment API configured", 0.0)
    try:
        return await gateway.charge(request)
    except Exception as exc:
        log.error("call %s: the payment failed: %s", call_id, type(exc).__name__)
        detail = f"payment API answer unusable ({type(exc).__name__})"
        return ChargeResult(UNAVAILABLE, "", 0, detail, 0.0)
