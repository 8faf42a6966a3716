"""``POST /api/payments``: sends a caller to the secure payment IVR (M1).

For a CRM or a supervisor's console. The request names the person (from the access
list), their token, the purpose, and the call (by id, or by the agent talking on it);
it is logged in the access log whether it is allowed or not. The recording pauses
before anything else happens, exactly as with the agent's payment key.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal

from aiohttp import web

from controller.access.credentials import Token
from controller.access.service import AccessRefused, AccessService
from controller.audit.errors import AccessLogError
from controller.calls.manager import CallManager
from controller.logs import contains_pan
from controller.payments.amount import AmountRefused, checked_amount
from controller.store import SqliteStore, StoreThread
from controller.web.errors import REFUSAL_STATUS, error, refused
from controller.web.guard import FailureLimiter, json_object, too_many
from controller.web.openapi import Answer, Operation, register

ORDER = re.compile(r"[A-Za-z0-9._-]{1,64}")
FIELDS = ("person", "purpose", "call_id", "agent", "amount", "order_reference")

log = logging.getLogger("reccontrol.web")

_TEXT = {"type": "string", "maxLength": 500}
OPERATION = register(
    Operation(
        "POST",
        "/api/payments",
        "Send a call's caller to the secure payment IVR (M1)",
        {
            202: Answer(
                "The recording paused and the payment IVR started",
                {
                    "type": "object",
                    "required": ["call_id", "status"],
                    "properties": {
                        "call_id": {"type": "string"},
                        "status": {"const": "payment_started"},
                    },
                },
            ),
            409: Answer(
                "Allowed, but not now: no call, payments off, already paying "
                "(payment-refused)",
                {"$ref": "#/components/schemas/Error"},
            ),
            415: Answer("The body is not JSON in UTF-8", {"$ref": "#/components/schemas/Error"}),
        },
        request={
            "type": "object",
            "additionalProperties": False,
            "required": ["person", "purpose", "amount", "order_reference"],
            "properties": {
                "person": {"type": "string", "description": "The person's id (access list)"},
                "purpose": _TEXT,
                "call_id": {"type": "string"},
                "agent": {"type": "string", "description": "Instead of call_id"},
                "amount": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$"},
                "order_reference": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
            },
        },
        description="The person's token as Bearer; the request is logged whether it is "
        "allowed or not.",
        security=("bearer",),
    )
)


def refused_status(exc: AccessRefused) -> int:
    """The HTTP status of a refusal, by its ``error_id``: not signed in, not allowed, a
    call outside the person's scope (answered as if there were none), or allowed but not
    possible in the call's state now."""
    return REFUSAL_STATUS.get(exc.error_id, 403)


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else ""


async def request_payment(
    request: web.Request,
    *,
    access: AccessService,
    store: StoreThread[SqliteStore],
    calls: CallManager,
    limiter: FailureLimiter,
    max_amount: Decimal | None,
) -> web.Response:
    """``access`` lives on the store thread: it is only used inside ``store.run``.
    ``max_amount`` is ``payment.max_amount``, None when payments are not configured."""
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        return error(400, "unknown-field", f"unknown field(s): {', '.join(unknown)}")
    # The amount is checked before anything else: the call would refuse it anyway, and
    # a 202 for a payment that never starts leaves the CRM waiting for nothing.
    try:
        amount = str(checked_amount(body.get("amount"), max_amount))
    except AmountRefused as exc:
        return error(400, exc.error_id, exc.message)
    values = {key: body.get(key) for key in FIELDS}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            return error(400, "invalid-field", f"{key}: must be a string")
    person_id, token = values["person"] or "", bearer(request)
    if not person_id or not token:
        return error(401, "unauthenticated", "name the person and send their token as Bearer")
    if limiter.blocked(person_id):
        return too_many(request)
    order = values["order_reference"] or ""
    if not ORDER.fullmatch(order):
        return error(400, "invalid-field", "order_reference: 1 to 64 letters, digits, . _ -")
    if contains_pan(order):
        return error(400, "invalid-field", "order_reference: must not contain a card number")
    if (values["call_id"] is None) == (values["agent"] is None):
        return error(400, "invalid-field", "give either call_id or agent")
    call_id = calls.find_call(call_id=values["call_id"], agent_id=values["agent"])
    refusal = "no call in progress" if call_id is None else calls.payment_refusal(call_id)
    service = calls.service_of(call_id) if call_id is not None else "-"
    purpose = values["purpose"] or ""

    def authorise(_: SqliteStore) -> None:
        person = access.authenticate(person_id, Token(token))
        access.payment_request(person, purpose, call_id or "-", service, refusal)

    try:
        await store.run(authorise)
    except AccessRefused as exc:
        if exc.sign_in:
            limiter.failed(person_id)
        return refused(exc, "call")
    except AccessLogError as exc:
        # S2, S7: an access that cannot be logged is not done. Counted like a failed
        # sign-in, so nobody can fill the log with these alerts.
        limiter.failed(person_id)
        log.error("ALERT: payment request refused: %s (%s)", exc, exc.error_id)
        return error(503, exc.error_id, "the access log cannot be written; nothing was done")
    assert call_id is not None
    calls.request_payment(call_id, amount, order)
    return web.json_response({"call_id": call_id, "status": "payment_started"}, status=202)
