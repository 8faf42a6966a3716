"""What a payment asks of the payment API and what it answers, pure.

The call state machines build and read these; only :mod:`controller.payments.gateway`
speaks HTTP, so nothing of aiohttp is reachable from the call code.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from controller.payments.card import CardData

APPROVED = "approved"
DECLINED = "declined"
REJECTED = "rejected"
UNAVAILABLE = "unavailable"
UNKNOWN = "unknown"
"""Sent, and no answer came in time: the card may or may not have been charged."""
REDIRECT_REFUSED = "redirect refused"
"""How ``ChargeResult.detail`` starts when the API answered a redirect (an alert)."""


@dataclass(frozen=True)
class ChargeRequest:
    amount: Decimal
    currency: str
    order_reference: str
    idempotency_key: str
    card: CardData


@dataclass(frozen=True)
class ChargeResult:
    status: str
    """``approved``, ``declined``, ``rejected`` (the API refused the request) or
    ``unavailable`` (no usable answer)."""
    reference: str
    attempts: int
    detail: str
    """Why, in a few words; never card data."""
    duration_ms: float
