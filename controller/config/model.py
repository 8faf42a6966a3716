"""The typed, validated configuration. Built only by :mod:`controller.config.load`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
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
from controller.privacy import NumberError, to_e164
from controller.secrets import Secret

# Legal ceilings from the CNIL guidance (T1, T2, T3). A service may only exceed the
# recording ceiling with a written exemption.
MAX_RECORDING_RETENTION_DAYS = 183
MAX_SHEET_RETENTION_DAYS = 365
MAX_ACCESS_LOG_RETENTION_DAYS = 365
# Below six months the log no longer traces accesses over a useful period (CNIL
# guidance on logging: six months to one year).
MIN_ACCESS_LOG_RETENTION_DAYS = 180

PURPOSES = ("training", "quality", "mediation")

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WeeklyWindow:
    """A weekly time window in the site's time zone.

    ``days`` holds ISO weekday numbers (Monday = 0). When ``end`` is not after
    ``start`` the window runs past midnight into the next day, for night shifts.
    """

    days: frozenset[int]
    start: dt.time
    end: dt.time

    def contains(self, local: dt.datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        previous = (day - 1) % 7
        return (day in self.days and t >= self.start) or (previous in self.days and t < self.end)

    def describe(self) -> str:
        names = ", ".join(DAY_NAMES[d] for d in sorted(self.days))
        end = "24:00" if self.end == dt.time.max else f"{self.end:%H:%M}"
        return f"{names} {self.start:%H:%M}-{end}"


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


@dataclass(frozen=True)
class RecordingSettings:
    asterisk_dir: Path
    """Where Asterisk writes ARI recordings, as this host sees that folder."""
    vault_dir: Path
    """Where reccontrol keeps them once finished: not world-readable, served only by the API."""
    format: str = "wav"
    sweep_minutes: float = 10.0
    """Minutes between two orphan sweeps of Asterisk's folder (one also runs at start)."""


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


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    behind_proxy: bool = False
    """The site says a reverse proxy doing TLS is the only way in: the only case where
    the daemon may listen on an address other than this machine's loopback."""


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
class Announcement:
    sound: str
    version: str
    by: Literal["system", "agent"] = "system"
    """``agent``: on outbound calls the agent gives the notice and confirms it with the
    notice-given key; nothing is announced by the system (C6)."""


@dataclass(frozen=True)
class Outbound:
    """How the service's agents reach customers (C6)."""

    dial: str
    """Dial string with ``{number}`` where the dialled number goes."""
    caller_id: str = ""
    """The number presented to the customer; empty: Asterisk's default."""
    ring_timeout: int = 30

    def endpoint(self, number: str) -> str:
        return self.dial.replace("{number}", number)


@dataclass(frozen=True)
class CallerKeys:
    opt_out: str = "9"
    full_notice: str = "0"


@dataclass(frozen=True)
class Campaign:
    start: dt.date | None = None
    end: dt.date | None = None

    def contains(self, day: dt.date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Exemption:
    """A service's written exemption from the proportionality rules (P2, P5, T1)."""

    legal_basis: str
    max_retention_days: int | None = None
    """The longest the exemption lets this service keep recordings; required when the
    service keeps them longer than the general ceiling (T1)."""

    def retention_ceiling(self) -> int:
        """The retention this exemption allows: its own maximum, or the general one."""
        return self.max_retention_days or MAX_RECORDING_RETENTION_DAYS


# P5: recording more than half of the calls is close to recording them all; above this
# rate a service needs the same written exemption as one that records every call.
DEFAULT_MAX_RATE_WITHOUT_EXEMPTION = 0.5


@dataclass(frozen=True)
class ProportionalitySettings:
    """The site's threshold of systematic recording (P5)."""

    max_rate_without_exemption: float = DEFAULT_MAX_RATE_WITHOUT_EXEMPTION
    """A sampling rate above this needs an exemption with a written legal basis."""
    reason: str = ""
    """Why the site states another threshold than the default; required then."""


@dataclass(frozen=True)
class AgentKeys:
    """DTMF sequences agents press on a bridged call (A2, A4, A5, M1)."""

    start: str = "*1"
    pause: str = "*2"
    resume: str = "*3"
    private: str = "*7"
    payment: str = "*8"
    card: str = "*5"
    notice_given: str = "*4"
    """On an outbound call of a service announced by its agents: the notice was given."""
    inter_digit_timeout: float = 2.0
    """Seconds allowed between two keys of one sequence."""
    ok_sound: str = "beep"
    """Played to the agent only when a key sequence took effect."""
    refused_sound: str = "beeperr"
    """Played to the agent only when a key sequence was refused or had nothing to do."""

    def sequences(self) -> dict[str, str]:
        """Action name to key sequence."""
        return {
            "start": self.start,
            "pause": self.pause,
            "resume": self.resume,
            "private": self.private,
            "payment": self.payment,
            "card": self.card,
            "notice_given": self.notice_given,
        }


@dataclass(frozen=True)
class PrivateCalls:
    dial_prefix: str = "*77"
    """Agents dial this before a number to make a private outbound call (A2)."""


@dataclass(frozen=True)
class PauseSettings:
    mode: Literal["skip", "silence"] = "skip"
    """``skip`` leaves the paused time out of the file; ``silence`` writes silence."""
    max_seconds: int = 120
    """A pause longer than this resumes by itself and raises an alert (A5)."""
    card_max_seconds: int = 120
    """A card-entry pause (M2) resumes by itself after this long."""
    card_resume: Literal["key_or_timeout", "timeout"] = "key_or_timeout"
    """``timeout``: the resume key cannot end a card-entry pause early."""


@dataclass(frozen=True)
class PaymentPrompts:
    number: str
    expiry: str
    cvv: str
    invalid: str
    approved: str
    declined: str
    unavailable: str


@dataclass(frozen=True)
class PaymentSettings:
    """The secure IVR and the payment API it sends card data to (M1)."""

    api_url: str
    prompts: PaymentPrompts
    ca_bundle: Path | None = None
    token: Secret | None = None
    timeout: float = 10.0
    max_attempts: int = 2
    currency: str = "EUR"
    max_amount: Decimal = Decimal("10000")
    first_digit_timeout: float = 10.0
    digit_timeout: float = 5.0
    max_entry_attempts: int = 3
    hold_music_class: str = "default"


@dataclass(frozen=True)
class Service:
    name: str
    label: str
    language: str
    purposes: tuple[str, ...]
    announcement: Announcement
    full_notice_sound: str
    caller_keys: CallerKeys
    sampling_rate: float
    """Probability that a call is recorded; 1.0 only with an exemption (P2)."""
    target: str
    """Dial string that reaches the agents: ``PJSIP/…`` or ``Local/…@queue-context``."""
    answer_timeout: int
    retention_days: int
    campaign: Campaign = field(default_factory=Campaign)
    windows: tuple[WeeklyWindow, ...] = ()
    """Weekly windows when recording is allowed; empty means at any time."""
    exemption: Exemption | None = None
    no_agent_sound: str = "sorry"
    pause: PauseSettings = field(default_factory=PauseSettings)
    payments: bool = False
    """Whether agents of this service may send callers to the payment IVR."""
    outbound: Outbound | None = None
    """None: the service takes no outbound calls."""


# -- access, sheets, audit, retention, legal (S1-S3, T2-T4, D1) ------------------------
ROLES = ("supervisor", "quality", "dpo", "admin")
ALL_SERVICES = "*"


@dataclass(frozen=True)
class CredentialSource:
    """Where a person's credential verifier lives: a password hash or a token hash.

    Only the location is part of the config; the verifier is read when the person
    signs in, so one unreadable file locks out that person, never the daemon.
    """

    kind: Literal["password", "token"]
    origin: Literal["env", "file"]
    location: str
    """The environment variable name or the file path."""
    key_path: str
    """The YAML key path, for error messages (e.g. ``access.persons.cd.password_hash_file``)."""


@dataclass(frozen=True)
class Person:
    """An authorised person, by name (S1)."""

    id: str
    name: str
    role: str
    services: tuple[str, ...]
    """Service names this person may see, or ``("*",)`` for every service."""
    credential: CredentialSource

    def sees(self, service: str) -> bool:
        return ALL_SERVICES in self.services or service in self.services


@dataclass(frozen=True)
class AccessSettings:
    persons: dict[str, Person] = field(default_factory=dict)


@dataclass(frozen=True)
class Criterion:
    """One line of a summary sheet's structured evaluation."""

    id: str
    label: str
    max_score: int


DEFAULT_CRITERIA = (
    Criterion("greeting", "Accueil", 5),
    Criterion("listening", "Écoute et reformulation", 5),
    Criterion("answer", "Qualité de la réponse", 5),
    Criterion("closing", "Conclusion de l'appel", 5),
)


@dataclass(frozen=True)
class SheetSettings:
    retention_days: int = MAX_SHEET_RETENTION_DAYS
    criteria: tuple[Criterion, ...] = DEFAULT_CRITERIA


@dataclass(frozen=True)
class AuditSettings:
    retention_days: int = MAX_ACCESS_LOG_RETENTION_DAYS
    checkpoint_key: Secret | None = None
    """The audit key: HMAC of every entry and signature of every checkpoint and witness
    line; hash chain only without it."""
    witness_file: Path | None = None
    """Append-only file outside the store where the daemon publishes the signed head."""
    witness_interval_seconds: int = 300
    witness_syslog: bool = False
    """Also send each published head to syslog (facility auth)."""


@dataclass(frozen=True)
class PurgeSettings:
    interval_minutes: int = 60


@dataclass(frozen=True)
class PurposeBasis:
    description: str
    legal_basis: str


@dataclass(frozen=True)
class Transfer:
    destination: str
    safeguards: str


@dataclass(frozen=True)
class LegalSettings:
    """What the generated notices and the Art. 30 register need beyond the rest of the
    config. Absent values are reported by the document commands, with their key paths."""

    purposes: dict[str, PurposeBasis] = field(default_factory=dict)
    representative: str = ""
    joint_controllers: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    transfers: tuple[Transfer, ...] | None = None
    """None when the config does not say; an empty tuple states there are none."""
    security_measures: tuple[str, ...] = ()
    """Measures taken outside reccontrol, added to those it applies itself."""
    staff_representatives_informed: dt.date | None = None
    """When the system was presented to the staff representatives: nothing is recorded
    before that day (A8). The loader requires it; None only in configs built in code."""
    notice_url: str = ""


DOCUMENT_LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class DocumentSettings:
    """The generated documents (D1, D2): the language they are written in unless a command
    is given ``--language``."""

    language: str = "fr"


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


# The ARI section's parts are defined with the client that uses them.
__all__ = ["AriConnection", "ReconnectSettings"]
