"""What every call needs from the configuration, besides its service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from controller.config.service_model import AgentKeys, PaymentSettings


@dataclass(frozen=True)
class CallSettings:
    """What every call needs from the configuration, besides its service."""

    timezone: ZoneInfo
    recording_format: str
    agent_keys: AgentKeys = field(default_factory=AgentKeys)
    payment: PaymentSettings | None = None
    staff_informed: dt.date | None = None
    """``legal.staff_representatives_informed``: nothing is recorded before that day,
    and nothing at all without it (A8)."""
