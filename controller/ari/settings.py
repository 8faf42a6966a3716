"""What the ARI client needs to reach Asterisk: its own type, so the client does not
depend on the application's configuration model."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.secrets import Secret


@dataclass(frozen=True)
class ReconnectSettings:
    initial_delay: float = 0.5
    max_delay: float = 3.0


@dataclass(frozen=True)
class AriConnection:
    url: str
    username: str
    password: Secret
    app: str = "reccontrol"
    request_timeout: float = 5.0
    reconnect: ReconnectSettings = field(default_factory=ReconnectSettings)
