"""The typed, validated configuration. Built only by :mod:`controller.config.load`.

The site-wide sections and the agents are defined here; the services' part in
:mod:`controller.config.service_model`, the governance part in
:mod:`controller.config.governance_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from controller.ari.settings import AriConnection, ReconnectSettings
from controller.config.endpoints import (
    EndpointError,
    Name,
    channel_name,
    interface_name,
    parse_endpoint,
)
from controller.config.governance_model import (
    AccessSettings,
    AuditSettings,
    DocumentSettings,
    LegalSettings,
    Person,
    PurgeSettings,
    SheetSettings,
)
from controller.config.service_model import (
    AgentKeys,
    PaymentSettings,
    PrivateCalls,
    ProportionalitySettings,
    Service,
)
from controller.config.windows import WeeklyWindow
from controller.privacy import NumberError, to_e164
from controller.secrets import Secret


@dataclass(frozen=True)
class Organisation:
    """The data controller, named in every notice (C3, A6, D1)."""

    name: str
    address: str
    dpo_name: str
    dpo_email: str
    dpo_address: str
    complaint_authority: str


@dataclass(frozen=True)
class WatchdogSettings:
    interval: float = 15.0
    """Seconds between two probes of the event path."""
    timeout: float = 5.0
    """Seconds a probe may take to come back before the connection is replaced."""


@dataclass(frozen=True)
class AriSettings(AriConnection):
    """The ``ari`` section: how to reach Asterisk, plus what the daemon adds around it."""

    event_log: Path | None = None
    watchdog: WatchdogSettings = field(default_factory=WatchdogSettings)


@dataclass(frozen=True)
class StoreSettings:
    path: Path
    """The SQLite file (the embedded default); unused when ``url`` is set."""
    url: str | None = None
    """A PostgreSQL server shared by several nodes (N1): ``postgresql://user@host/db``."""
    password: Secret | None = None
    node: str = "local"
    """This node's name: each node adopts only its own calls after a restart."""


@dataclass(frozen=True)
class EncryptionSettings:
    """``recordings.encryption`` (S10): the vault's files sealed, their data keys in a
    keyring wrapped by the site key. Paths left out are set beside the vault."""

    enabled: bool = True
    site_key_file: Path | None = None
    """The site key's file (64 hex digits); generated at first start when missing."""
    site_key: Secret | None = None
    """The site key read from ``site_key_env`` (then ``site_key_file`` is None)."""
    keyring_dir: Path = Path()


@dataclass(frozen=True)
class RecordingSettings:
    asterisk_dir: Path
    """Where Asterisk writes ARI recordings, as this host sees that folder."""
    vault_dir: Path
    """Where reccontrol keeps them once finished: not world-readable, served only by the API."""
    format: str = "wav"
    channels: str = "mono"
    """``stereo``: the caller on the left, the agent on the right (R5)."""
    sweep_minutes: float = 10.0
    """Minutes between two orphan sweeps of Asterisk's folder (one also runs at start)."""
    encryption: EncryptionSettings = field(default_factory=EncryptionSettings)


# T5: calls, decisions and consent events hold the caller HMAC: one year at most.
MAX_CALL_METADATA_DAYS = 365


@dataclass(frozen=True)
class PrivacySettings:
    caller_hmac_key: Secret
    objection_memory_days: int = 365
    default_region: str = "FR"
    """Region of national numbers (``06…`` is French with FR), for E.164 (C5)."""
    call_metadata_days: int = MAX_CALL_METADATA_DAYS
    """T5: calls, their decisions and consent events are kept this long (<= 365)."""


LOOPBACK_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = (
    ip_network("127.0.0.0/8"),
    ip_network("::1/128"),
)


@dataclass(frozen=True)
class MetricsSettings:
    """``web.metrics``: who may scrape ``/metrics`` (R4). A scrape must come from an
    address in ``allow`` and, when a token is set, carry it as Bearer."""

    allow: tuple[IPv4Network | IPv6Network, ...] = LOOPBACK_NETWORKS
    token: Secret | None = None


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    behind_proxy: bool = False
    """The site says a reverse proxy doing TLS is the only way in: without ``tls``, the
    only case where the daemon may listen on an address other than this machine's
    loopback."""
    tls_certificate: Path | None = None
    """``web.tls``: the daemon speaks HTTPS itself with this certificate chain and key."""
    tls_key: Path | None = None
    session_idle_seconds: int = 900
    """A console session unused this long is over: the person signs in again."""
    language: str = "fr"
    """The console's language when the browser states no preference it has."""

    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    """``web.metrics``: who may scrape ``/metrics``."""

    @property
    def secure(self) -> bool:
        """Browsers reach the console over TLS: the daemon's own, or the proxy's."""
        return self.tls_certificate is not None or self.behind_proxy


DEFAULT_AGI_PORT = 4573
"""FastAGI's registered port, the one ``agi://host/`` means."""


@dataclass(frozen=True)
class AgiSettings:
    """The ``agi`` section: the FastAGI server of dialplan-only sites."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_AGI_PORT
    max_connections: int = 100
    """Sessions open at once; one more is closed at once, with a log line."""
    read_timeout_seconds: float = 10.0
    """How long the header block, and each answer to a command, may take to arrive."""
    allow_remote: bool = False
    """The site states that only its Asterisk hosts can reach a non-loopback address (a
    firewall, a private network): FastAGI has no authentication."""


@dataclass(frozen=True)
class AmiSettings:
    """The ``ami`` section: Asterisk's manager interface, on this machine."""

    username: str
    password: Secret = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 5038


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    format: Literal["text", "json"] = "text"
    """``json``: one object per line, for journald or ELK; redacted as the text is."""


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    endpoints: tuple[str, ...]
    """What Asterisk calls this agent's phones, e.g. ``PJSIP/alice`` (see
    :mod:`controller.config.endpoints`)."""
    windows: tuple[WeeklyWindow, ...]
    """The published periods during which this agent may be recorded (A1)."""
    protected: bool = False
    protection_reason: str = ""
    private_lines: tuple[str, ...] = ()
    """In E.164 form, as the loader normalised them (A2)."""

    def fit(self, name: Name) -> tuple[int, int, int] | None:
        """How closely the closest of this agent's endpoints fits ``name``, or None."""
        fits = [f for f in (_fit(endpoint, name) for endpoint in self.endpoints) if f]
        return max(fits) if fits else None

    def matches_channel(self, channel: str) -> bool:
        name = channel_name(channel)
        return name is not None and self.fit(name) is not None


def _fit(endpoint: str, name: Name) -> tuple[int, int, int] | None:
    try:
        return parse_endpoint(endpoint).specificity(name)
    except EndpointError:
        # The loader refuses such endpoints; one built in code simply fits nothing.
        return None


@dataclass(frozen=True)
class Config:
    source: Path
    organisation: Organisation
    timezone: ZoneInfo
    ari: AriSettings
    store: StoreSettings
    recordings: RecordingSettings
    privacy: PrivacySettings
    logging: LoggingSettings
    web: WebSettings
    agents: dict[str, Agent]
    services: dict[str, Service]
    agent_keys: AgentKeys = field(default_factory=AgentKeys)
    private_calls: PrivateCalls = field(default_factory=PrivateCalls)
    payment: PaymentSettings | None = None
    access: AccessSettings = field(default_factory=AccessSettings)
    sheets: SheetSettings = field(default_factory=SheetSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    purge: PurgeSettings = field(default_factory=PurgeSettings)
    legal: LegalSettings = field(default_factory=LegalSettings)
    proportionality: ProportionalitySettings = field(default_factory=ProportionalitySettings)
    documents: DocumentSettings = field(default_factory=DocumentSettings)
    agi: AgiSettings | None = None
    ami: AmiSettings | None = None
    """Required with ``agi``."""
    """The FastAGI server for dialplan-only sites; None: none, the ARI path alone."""
    canonical_yaml: str = ""
    """The file as loaded, keys sorted and comments dropped: what the daemon records as
    the configuration in force (D3). Secrets are never in it: the YAML only names where
    they come from."""

    @property
    def lock_anchor(self) -> Path:
        """The file this node's lock files sit beside (``<anchor>.lock``, ...): the
        SQLite store; with a store several nodes share (N1), this node's vault."""
        return self.recordings.vault_dir if self.store.url else self.store.path

    def agent_for_private_line(self, number: str) -> Agent | None:
        """The agent whose private line ``number`` is, in whatever form the trunk or the
        dialplan wrote it: read by the same rule as callers' numbers (A2, C5)."""
        region = self.privacy.default_region
        try:
            wanted = to_e164(number, region)
        except NumberError:
            return None
        for agent in self.agents.values():
            if any(_same_line(line, wanted, region) for line in agent.private_lines):
                return agent
        return None

    def agent_for_channel(self, channel: str) -> Agent | None:
        """The agent whose phone Asterisk's channel name ``channel`` is (A3, A7)."""
        name = channel_name(channel)
        return self._closest_agent(name) if name is not None else None

    def agent_for_interface(self, interface: str) -> Agent | None:
        """The agent of a queue member's interface, e.g. ``PJSIP/alice`` (A3, A7)."""
        name = interface_name(interface)
        return self._closest_agent(name) if name is not None else None

    def _closest_agent(self, name: Name) -> Agent | None:
        fits = [(fit, agent) for agent in self.agents.values() if (fit := agent.fit(name))]
        if not fits:
            return None
        best = max(fit for fit, _ in fits)
        closest = [agent for fit, agent in fits if fit == best]
        # Two agents fitting equally well: the loader refuses such endpoints, and a
        # guess could record the wrong person, so nobody (A7).
        return closest[0] if len(closest) == 1 else None


def _same_line(line: str, wanted: str, region: str) -> bool:
    try:
        return to_e164(line, region) == wanted
    except NumberError:
        return False


# The ARI section's parts are defined with the client that uses them; the service and the
# person are imported from here by most of the code that reads the config.
__all__ = ["AriConnection", "Person", "ReconnectSettings", "Service"]
