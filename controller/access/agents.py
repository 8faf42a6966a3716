"""Agents' rights through the gate (S9): an agent's access to what is kept about them,
answered and audited like a caller's request (C5).

What concerns an agent: the calls they answered or were decided on (with the decision,
the consent events and the recordings), the summary sheets about them (with their
rectification notes, also those whose call's metadata has gone) and the count of their
private calls. Agents do not sign in: the DPO answers for them, so the log shows the
DPO, the purpose and the agent (``agent:<id>``), with the same actions as a caller's
request (``subject_find``, ``subject_export``, ``subject_erase``).

Erasure: an agent's recordings are also the callers' data and may be needed for a
mediation (GDPR Art. 17(3)(e)), so an agent's erasure request is not answered by
deleting them in bulk. It is answered by rectification (a note on a sheet), by the
agent's objection for a legitimate reason (``agents.<id>.protected``: nothing more is
recorded) and, where the DPO finds one recording must go, by deleting that recording.
``erase`` refuses with that rule, and the refusal is in the access log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controller.access.errors import AccessRefused
from controller.access.export import Exporter, ExportResult
from controller.access.gate import Gate, clean_id
from controller.config.governance_model import ALL_SERVICES, Person
from controller.config.model import Agent
from controller.logs import mask_digits
from controller.store.records import UNKNOWN_AGENT, RecordingRow
from controller.store.sqlite import SqliteStore
from controller.store.subjects import CallRecord
from controller.store.timestamps import to_text

MAX_AGENT_ID = 64

AGENT_ERASE_RULE = (
    "an agent's erasure request is answered by rectification and objection, not by "
    "deletion (S9): the recordings are also the callers' data and may be needed for a "
    "mediation. Add the agent's note to a sheet (reccontrol sheet rectify), protect the "
    "agent (agents.<id>.protected) so nothing more is recorded, or delete one recording "
    "the erasure is due for (reccontrol recording delete)"
)


@dataclass(frozen=True)
class AgentFindings:
    agent_id: str
    calls: list[CallRecord]
    sheets_without_call: list[str] = field(default_factory=list)
    """The agent's sheets that outlived their call's metadata."""
    private_counts: list[dict[str, Any]] = field(default_factory=list)
    """``{"day", "count"}`` of the agent's private calls (A2), for a person who sees
    every service: the counts belong to no service."""
    hidden: int = 0
    """Calls and sheets outside the person's service scope, left out."""

    @property
    def recordings(self) -> list[RecordingRow]:
        return [r for record in self.calls for r in record.recordings]

    @property
    def sheet_ids(self) -> list[str]:
        return [s for record in self.calls for s in record.sheet_ids] + self.sheets_without_call

    @property
    def empty(self) -> bool:
        return not (self.calls or self.sheets_without_call or self.private_counts or self.hidden)


def _range(start: dt.datetime | None, end: dt.datetime | None) -> dict[str, str | None]:
    return {
        "from": to_text(start) if start else None,
        "to": to_text(end) if end else None,
    }


def local_days(
    start: dt.datetime | None, end: dt.datetime | None, tz: ZoneInfo
) -> tuple[str | None, str | None]:
    """The first and last site-local day (inclusive) of [start, end): private calls are
    counted per local day."""
    first = start.astimezone(tz).date().isoformat() if start else None
    last = (end - dt.timedelta(microseconds=1)).astimezone(tz).date().isoformat() if end else None
    return first, last


class AgentRequests:
    def __init__(
        self,
        gate: Gate,
        store: SqliteStore,
        agents: Mapping[str, Agent],
        timezone: ZoneInfo,
        exporter: Exporter,
    ) -> None:
        self._gate = gate
        self._store = store
        self._agents = agents
        self._tz = timezone
        self._exporter = exporter

    def find(
        self,
        person: Person,
        purpose: str,
        agent_id: str,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> AgentFindings:
        stated, target = self._check(person, "subject_find", purpose, agent_id)
        found = self._find(person, "subject_find", target, stated, agent_id, start, end)
        self._gate.log(
            person,
            "subject_find",
            target,
            stated,
            "ok",
            {
                "subject": "agent",
                **_range(start, end),
                "calls": len(found.calls),
                "recordings": len(found.recordings),
                "sheets": len(found.sheet_ids),
                "private_count_days": len(found.private_counts),
                "outside_scope": found.hidden,
            },
        )
        return found

    def export(
        self,
        person: Person,
        purpose: str,
        agent_id: str,
        output: Path,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> ExportResult:
        stated, target = self._check(person, "subject_export", purpose, agent_id)
        self._gate.no_card_in_file_name(person, "subject_export", target, stated, output)
        found = self._find(person, "subject_export", target, stated, agent_id, start, end)
        agent = self._agents.get(agent_id)
        result = self._exporter.write_zip(
            output,
            found.calls,
            {**_range(start, end), "agent": agent_id},
            person.id,
            stated,
            sheets_without_call=found.sheets_without_call,
            extra={
                "agent": {"id": agent_id, "name": agent.name if agent else None},
                "private_call_counts": found.private_counts,
                "outside_scope": found.hidden,
            },
        )
        self._gate.log(
            person,
            "subject_export",
            target,
            stated,
            "ok" if not result.problems else "error",
            {
                "subject": "agent",
                **_range(start, end),
                "file": mask_digits(output.name),
                "calls": result.calls,
                "recordings": result.recordings,
                "sheets": result.sheets,
                "outside_scope": found.hidden,
                "problems": result.problems,
            },
        )
        return result

    def erase(self, person: Person, purpose: str, agent_id: str) -> AccessRefused:
        """Never deletes: returns the refusal (logged) that states the rule, for the caller
        to raise. Role and purpose are checked first, as for any request."""
        stated, target = self._check(person, "subject_erase", purpose, agent_id)
        return self._gate.refuse(person, "subject_erase", target, stated, AGENT_ERASE_RULE)

    def _check(self, person: Person, action: str, purpose: str, agent_id: str) -> tuple[str, str]:
        target = f"agent:{clean_id(agent_id)}"
        stated = self._gate.check(person, action, target, purpose)
        problem = agent_id_problem(agent_id)
        if problem:
            raise self._gate.refuse(person, action, target, stated, f"agent id: {problem}")
        return stated, target

    def _find(
        self,
        person: Person,
        action: str,
        target: str,
        stated: str,
        agent_id: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> AgentFindings:
        calls = self._store.calls_for_agent(agent_id, start, end)
        seen = [c for c in calls if person.sees(c.call["service"])]
        loose = self._store.agent_sheets_without_call(agent_id, start, end)
        loose_seen = [sheet_id for sheet_id, service in loose if person.sees(service)]
        counts: list[dict[str, Any]] = []
        # The private calls of agents nobody could name are counted together: they are
        # no one agent's data.
        unattributed = agent_id == UNKNOWN_AGENT and agent_id not in self._agents
        if ALL_SERVICES in person.services and not unattributed:
            counts = self._store.agent_private_counts(agent_id, *local_days(start, end, self._tz))
        found = AgentFindings(
            agent_id,
            seen,
            loose_seen,
            counts,
            hidden=len(calls) - len(seen) + len(loose) - len(loose_seen),
        )
        if agent_id not in self._agents and found.empty:
            # A mistyped id is refused, not answered with "nothing found"; a former agent
            # (no longer configured) with data kept is answered.
            raise self._gate.refuse(
                person,
                action,
                target,
                stated,
                f"unknown agent {clean_id(agent_id)!r}: not under agents, and nothing is "
                "kept under that id",
            )
        return found


def agent_id_problem(agent_id: str) -> str | None:
    """Why a typed agent id cannot be one, or None."""
    if not agent_id.strip():
        return "must not be empty"
    if len(agent_id) > MAX_AGENT_ID:
        return f"at most {MAX_AGENT_ID} characters"
    if not agent_id.isprintable() or agent_id != agent_id.strip():
        return "must be printable, without leading or trailing spaces"
    return None
