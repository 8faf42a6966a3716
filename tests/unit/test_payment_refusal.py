"""A refused payment request is answered by what refused it, never by its wording (M1):
the web API's status comes from the refusal's ``error_id``."""

from __future__ import annotations

from controller.access.errors import FORBIDDEN, NOT_NOW, UNAUTHENTICATED, AccessRefused
from controller.web.payments import refused_status

CALL_STATE = "payments are not enabled for this service"


def test_a_role_refusal_worded_like_the_calls_state_is_forbidden_M1() -> None:
    """A refusal by role, scope or purpose is 403 even when its reason reads like the
    call's state: comparing the two texts would have answered 409."""
    worded_alike = AccessRefused(CALL_STATE)
    assert worded_alike.error_id == FORBIDDEN
    assert refused_status(worded_alike) == 403


def test_the_calls_state_is_a_conflict_and_a_failed_sign_in_unauthenticated_M1() -> None:
    assert refused_status(AccessRefused(CALL_STATE, error_id=NOT_NOW)) == 409
    failed = AccessRefused("unknown person or wrong credential", sign_in=True)
    assert failed.error_id == UNAUTHENTICATED and refused_status(failed) == 401
