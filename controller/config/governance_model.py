"""The governance part of the configuration: who may access recordings, summary sheets,
the access log, the purge, the legal texts and the generated documents (S1-S3, T2-T4, D1,
D2). Built by :mod:`controller.config.governance`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from controller.secrets import Secret

# Legal ceilings from the CNIL guidance (T2, T3).
MAX_SHEET_RETENTION_DAYS = 365
MAX_ACCESS_LOG_RETENTION_DAYS = 365
# Below six months the log no longer traces accesses over a useful period (CNIL
# guidance on logging: six months to one year).
MIN_ACCESS_LOG_RETENTION_DAYS = 180

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
    phone: str | None = None
    """S8: the dial string of the phone this person listens to calls live on."""

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

