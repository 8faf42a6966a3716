"""How a recording's row reads back: with its call's service, the deletion under way
(if any) and the legal hold standing on its call (if any)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from controller.store.records import Condemned, RecordingRow
from controller.store.timestamps import from_text

RECORDING_COLUMNS = (
    "r.id AS id, r.call_id AS call_id, c.service AS service, r.name AS name, "
    "r.format AS format, r.path AS path, r.state AS state, r.sha256 AS sha256, "
    "r.created_at AS created_at, r.expires_at AS expires_at, r.duration_seconds AS duration, "
    "d.rule AS d_rule, d.actor AS d_actor, d.role AS d_role, d.purpose AS d_purpose, "
    "d.file_present AS d_file_present, d.condemned_at AS d_condemned_at, "
    "h.reference AS h_reference, r.segment AS segment, r.agent_id AS agent_id"
)
# At most one standing hold per call (a unique index), so the join adds no rows.
RECORDING_FROM = (
    "FROM recordings r JOIN calls c ON c.id = r.call_id "
    "LEFT JOIN recording_deletions d ON d.recording_id = r.id "
    "LEFT JOIN legal_holds h ON h.call_id = r.call_id AND h.released_at IS NULL"
)

# A batch of ids as one parameter (a JSON array): no limit on how many, one statement.
IDS_PARAMETER = "(SELECT value FROM json_each(?))"


def ids_parameter(ids: Iterable[str]) -> str:
    """The value for :data:`IDS_PARAMETER`."""
    return json.dumps(list(ids))


def recording_from_row(row: dict[str, Any]) -> RecordingRow:
    condemned = None
    if row["d_rule"] is not None:
        condemned = Condemned(
            rule=row["d_rule"],
            actor=row["d_actor"],
            role=row["d_role"],
            purpose=row["d_purpose"],
            file_present=bool(row["d_file_present"]),
            condemned_at=from_text(row["d_condemned_at"]),
        )
    return RecordingRow(
        id=row["id"],
        call_id=row["call_id"],
        service=row["service"],
        name=row["name"],
        format=row["format"],
        path=row["path"],
        state=row["state"],
        sha256=row["sha256"],
        created_at=from_text(row["created_at"]),
        expires_at=from_text(row["expires_at"]),
        condemned=condemned,
        hold=row["h_reference"],
        segment=row["segment"],
        agent_id=row["agent_id"],
    )
