"""What every call needs from the configuration, besides its service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from controller.config.model import Config
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
    recording_channels: str = "mono"
    """``recordings.channels``: ``stereo`` records each party on its own side (R5)."""


def call_settings(config: Config) -> CallSettings:
    """The settings of every call, on the ARI and the FastAGI path alike."""
    return CallSettings(
        config.timezone,
        config.recordings.format,
        config.agent_keys,
        config.payment,
        staff_informed=config.legal.staff_representatives_informed,
        recording_channels=config.recordings.channels,
    )
