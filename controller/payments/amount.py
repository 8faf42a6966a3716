"""The amount of a payment, checked the same way wherever it comes from: a channel
variable the CRM or the dialplan set, or the body of ``POST /api/payments``.

Amounts travel as decimal strings (``"49.90"``): a JSON number is a binary float, and
``0.1 + 0.2`` is no amount anyone should be charged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

AMOUNT = re.compile(r"\d{1,7}(\.\d{1,2})?")


@dataclass(frozen=True)
class AmountRefused(Exception):
    """Why an amount is refused. ``error_id`` names the field, for callers to branch on."""

    message: str
    error_id: str = "invalid-amount"

    def __str__(self) -> str:
        return self.message


def checked_amount(value: object, max_amount: Decimal | None) -> Decimal:
    """The amount as a :class:`Decimal`, or :class:`AmountRefused` saying what is wrong:
    not a string, not a plain decimal with at most 2 decimals (so no sign, exponent,
    ``NaN`` or ``Infinity``), zero, or above ``max_amount`` (None: no maximum known)."""
    if not isinstance(value, str):
        raise AmountRefused('amount: send it as a string of digits such as "42.50"')
    if not AMOUNT.fullmatch(value):
        raise AmountRefused(
            "amount: a positive decimal amount such as 42.50 (digits, at most 2 decimals)"
        )
    amount = Decimal(value)
    if amount <= 0:
        raise AmountRefused("amount: must be more than 0")
    if max_amount is not None and amount > max_amount:
        raise AmountRefused(f"amount: more than the maximum of {max_amount} (payment.max_amount)")
    return amount
