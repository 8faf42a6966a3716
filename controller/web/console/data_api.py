"""The OpenAPI description of the console's calls and report routes
(:mod:`~controller.web.console.calls`, :mod:`~controller.web.console.report`), from
their handlers' documentation; the router walk keeps the two together."""

from __future__ import annotations

from typing import Any

from controller.web.openapi import Answer, Operation, path_parameter, query_parameter, register

_TEXT: dict[str, Any] = {"type": "string"}
_MAYBE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_MAYBE_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
_OBJECTS: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
_ERROR = {"$ref": "#/components/schemas/Error"}


def _object(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **optional},
    }


_PURPOSE = query_parameter(
    "purpose", "Why the person asks (S2); the console's own words by default", _TEXT
)
_DAY = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_LISTED_CALL = _object(
    {
        "id": _TEXT,
        "service": _TEXT,
        "direction": _TEXT,
        "started_at": _TEXT,
        "duration_seconds": _MAYBE_NUMBER,
        "agent": _MAYBE_TEXT,
        "decision": {
            "oneOf": [
                {"type": "null"},
                _object({"record": {"type": "boolean"}, "reason": _TEXT}),
            ]
        },
        "recordings": {"type": "array", "items": _TEXT},
        "pauses": {"type": "integer"},
        "payment": _MAYBE_TEXT,
        "caller": {**_MAYBE_TEXT, "description": "The short form of the caller's HMAC"},
    }
)
_DEADLINE = {"expires_at": _TEXT, "retention_rule": _TEXT}
_CALL = _object(
    {
        "id": _TEXT,
        "service": _TEXT,
        "direction": _TEXT,
        "started_at": _TEXT,
        "ended_at": _MAYBE_TEXT,
        "duration_seconds": _MAYBE_NUMBER,
        "outcome": _MAYBE_TEXT,
        "agent": _MAYBE_TEXT,
        "caller": _MAYBE_TEXT,
        "announcement": {"type": "object"},
        "decision": {"type": ["object", "null"]},
        "consent_events": _OBJECTS,
        "pauses": _OBJECTS,
        "payments": _OBJECTS,
        "recordings": {
            "type": "array",
            "items": _object(
                {"id": _TEXT, "state": _TEXT, "listenable": {"type": "boolean"}, **_DEADLINE},
                segment={"type": "integer"},
                agent=_MAYBE_TEXT,
            ),
        },
        "segments": {
            "type": "array",
            "description": "One per agent who took the call, in order (R3); one if never"
            " transferred",
            "items": _object(
                {
                    "segment": {"type": "integer"},
                    "agent": _MAYBE_TEXT,
                    "started_at": _MAYBE_TEXT,
                    "ended_at": _MAYBE_TEXT,
                    "decision": {"type": ["object", "null"]},
                    "recordings": {"type": "array", "items": _TEXT},
                }
            ),
        },
        "sheets": {
            "type": "array",
            "items": _object({"id": _TEXT, "evaluator": _TEXT, **_DEADLINE}),
        },
        "metadata_expires_at": _TEXT,
        "hold": {"type": ["object", "null"]},
    },
    path=_TEXT,
)
_DAY_ROW = _object(
    {
        "day": _TEXT,
        "configured_rate": {"type": "number"},
        "calls": {"type": "integer"},
        "eligible": {"type": "integer"},
        "recorded": {"type": "integer"},
        "achieved_rate": _MAYBE_NUMBER,
    }
)
_BAD_FILTER = Answer("A filter cannot be read (bad-filter); the message names it", _ERROR)

CALLS = register(
    Operation(
        "GET",
        "/api/calls",
        "Find calls of the person's services, newest first (S1)",
        {
            200: Answer(
                "One page of calls; no caller number, only the HMAC's short form",
                _object(
                    {
                        "calls": {"type": "array", "items": _LISTED_CALL},
                        "total": {"type": "integer"},
                        "total_capped": {"type": "boolean"},
                        "next": _MAYBE_TEXT,
                    }
                ),
            ),
            400: _BAD_FILTER,
        },
        parameters=(
            query_parameter("service", "A service's name", _TEXT),
            query_parameter("from", "First day, in the site's time zone", _DAY),
            query_parameter("to", "Last day, included", _DAY),
            query_parameter("agent", "An agent's id", _TEXT),
            query_parameter("reason", "A decision reason", _TEXT),
            query_parameter("recorded", "yes or no", {"enum": ["yes", "no"]}),
            query_parameter("paused", "yes or no", {"enum": ["yes", "no"]}),
            query_parameter("payment", "A payment status, or none", _TEXT),
            query_parameter("size", "1 to 200, 50 by default", {"type": "string"}),
            query_parameter("after", "The previous page's next", _TEXT),
            _PURPOSE,
        ),
    )
)
CALL = register(
    Operation(
        "GET",
        "/api/calls/{id}",
        "One call, as its page shows it (S1)",
        {200: Answer("The call, its recordings and sheets with their deadlines", _CALL)},
        parameters=(path_parameter("id", "The call's id"), _PURPOSE),
    )
)
REPORT = register(
    Operation(
        "GET",
        "/api/report",
        "The sampling report: configured against achieved rate per service and day (P3)",
        {
            200: Answer(
                "Each service's days and totals",
                _object(
                    {
                        "from": _TEXT,
                        "to": _TEXT,
                        "services": {
                            "type": "array",
                            "items": _object(
                                {
                                    "service": _TEXT,
                                    "days": {"type": "array", "items": _DAY_ROW},
                                    "totals": {"type": "object"},
                                }
                            ),
                        },
                    }
                ),
            ),
            400: _BAD_FILTER,
        },
        parameters=(
            query_parameter("from", "First day (the last 30 days by default)", _DAY),
            query_parameter("to", "Last day, included; 366 days at most", _DAY),
            _PURPOSE,
        ),
    )
)
OPERATIONS = (CALLS, CALL, REPORT)
