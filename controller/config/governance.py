"""The governance sections: who may access recordings, summary sheets, the access log,
the purge, the legal texts and the generated documents' language (S1-S3, T2-T4, D1,
D2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from controller.config.governance_model import (
    ALL_SERVICES,
    DEFAULT_CRITERIA,
    DOCUMENT_LANGUAGES,
    MAX_ACCESS_LOG_RETENTION_DAYS,
    MAX_SHEET_RETENTION_DAYS,
    MIN_ACCESS_LOG_RETENTION_DAYS,
    ROLES,
    AccessSettings,
    AuditSettings,
    CredentialSource,
    Criterion,
    DocumentSettings,
    LegalSettings,
    Person,
    PurgeSettings,
    PurposeBasis,
    SheetSettings,
    Transfer,
)
from controller.config.reader import ENV_NAME_PATTERN, NAME_HINT, NAME_PATTERN, Node, Secrets
from controller.config.service_model import PURPOSES, Service
from controller.secrets import Secret

PHONE_PATTERN = r"(PJSIP|SIP|IAX2|DAHDI|Local)/[A-Za-z0-9_.@+*#:-]+(/n)?"
PHONE_HINT = "must be an Asterisk dial string such as PJSIP/sup-anne or Local/200@phones"
_CREDENTIAL_KEYS = ("password_hash_env", "password_hash_file", "token_hash_env", "token_hash_file")
_INLINE_SECRETS = ("password", "password_hash", "token", "token_hash")


def _credential(node: Node) -> CredentialSource | None:
    """A person's credential: where the password hash or token hash is read from (S5)."""
    for key in _INLINE_SECRETS:
        if node[key].present:
            node[key].fail(
                "credentials are not written in the YAML; name a file with "
                "'password_hash_file' (see 'reccontrol access hash-password') or "
                "'token_hash_file' (see 'reccontrol access new-token'), or an environment "
                "variable with '..._env'"
            )
            return None
    given = [key for key in _CREDENTIAL_KEYS if node[key].present]
    if not given:
        node.problems.add(
            node.child_path("password_hash_file"),
            "is required (or password_hash_env, token_hash_file, token_hash_env)",
        )
        return None
    if len(given) > 1:
        node[given[1]].fail(f"give one credential only; '{given[0]}' is already set")
        return None
    key = given[0]
    origin: Literal["env", "file"] = "env" if key.endswith("_env") else "file"
    if origin == "env":
        location = node[key].string(
            "",
            pattern=ENV_NAME_PATTERN,
            pattern_hint="must be an environment variable name",
        )
    else:
        location = node[key].string("")
    return CredentialSource(
        kind="password" if key.startswith("password") else "token",
        origin=origin,
        location=location,
        key_path=node[key].path,
    )


def access(node: Node, services: dict[str, Service]) -> AccessSettings:
    if not node.present or not node.mapping(("persons",)):
        return AccessSettings()
    persons: dict[str, Person] = {}
    for person_id, pnode in node["persons"].items():
        if not re.fullmatch(NAME_PATTERN, person_id):
            pnode.fail(f"invalid person id: {NAME_HINT}")
        if not pnode.mapping(
            ("name", "role", "services", "phone", *_CREDENTIAL_KEYS, *_INLINE_SECRETS),
            required=("name", "role", "services"),
        ):
            continue
        scope = pnode["services"].string_list(())
        for index, service in enumerate(scope):
            if service != ALL_SERVICES and services and service not in services:
                pnode.problems.add(
                    pnode["services"].child_path(index),
                    f'unknown service {service!r}; use {", ".join(services)} or "*" for all',
                )
        credential = _credential(pnode)
        role = pnode["role"].string("", choices=ROLES)
        if credential is not None:
            persons[person_id] = Person(
                id=person_id,
                name=pnode["name"].string(""),
                role=role,
                services=scope,
                credential=credential,
                # S8: the phone a supervisor listens to calls live on.
                phone=pnode["phone"].string(None, pattern=PHONE_PATTERN, pattern_hint=PHONE_HINT),
            )
    return AccessSettings(persons)


def _criterion(node: Node) -> Criterion:
    if not node.mapping(("id", "label", "max_score"), required=("id", "label", "max_score")):
        return Criterion("", "", 1)
    return Criterion(
        id=node["id"].string("", pattern=NAME_PATTERN, pattern_hint=f"invalid id: {NAME_HINT}"),
        label=node["label"].string(""),
        max_score=node["max_score"].integer(5, minimum=1, maximum=100),
    )


def sheets(node: Node) -> SheetSettings:
    if not node.present or not node.mapping(("retention_days", "criteria")):
        return SheetSettings()
    retention = node["retention_days"].integer(MAX_SHEET_RETENTION_DAYS, minimum=1)
    if isinstance(retention, int) and retention > MAX_SHEET_RETENTION_DAYS:
        node["retention_days"].fail(
            f"must be <= {MAX_SHEET_RETENTION_DAYS}: summary sheets are kept at most one year (T2)"
        )
    criteria: tuple[Criterion, ...] = DEFAULT_CRITERIA
    if node["criteria"].present:
        criteria = node["criteria"].each(_criterion)
        if not criteria:
            node["criteria"].fail("must list at least one evaluation criterion")
        seen: set[str] = set()
        for index, criterion in enumerate(criteria):
            if criterion.id and criterion.id in seen:
                node.problems.add(
                    f"{node['criteria'].child_path(index)}.id",
                    f"duplicate criterion id {criterion.id!r}",
                )
            seen.add(criterion.id)
    return SheetSettings(
        retention_days=retention if isinstance(retention, int) else MAX_SHEET_RETENTION_DAYS,
        criteria=criteria,
    )


def audit(node: Node, secrets: Secrets) -> AuditSettings:
    keys = ("checkpoint_key", "checkpoint_key_env", "checkpoint_key_file")
    witness_keys = ("witness_file", "witness_interval_seconds", "witness_syslog")
    if not node.present or not node.mapping(("retention_days", *keys, *witness_keys)):
        return AuditSettings()
    retention = node["retention_days"].integer(
        MAX_ACCESS_LOG_RETENTION_DAYS, minimum=MIN_ACCESS_LOG_RETENTION_DAYS
    )
    if isinstance(retention, int) and retention > MAX_ACCESS_LOG_RETENTION_DAYS:
        node["retention_days"].fail(
            f"must be <= {MAX_ACCESS_LOG_RETENTION_DAYS}: access-log entries are kept at most "
            "365 days (T3)"
        )
    key: Secret | None = None
    if any(node[k].present for k in keys):
        key = node.secret("checkpoint_key", secrets, min_length=16)
    witness = node["witness_file"].string(None)
    interval = node["witness_interval_seconds"].integer(300, minimum=10, maximum=86400)
    return AuditSettings(
        retention_days=retention if isinstance(retention, int) else MAX_ACCESS_LOG_RETENTION_DAYS,
        checkpoint_key=key,
        witness_file=Path(witness) if witness else None,
        witness_interval_seconds=interval if isinstance(interval, int) else 300,
        witness_syslog=node["witness_syslog"].boolean(False) is True,
    )


def purge(node: Node) -> PurgeSettings:
    if not node.present or not node.mapping(("interval_minutes",)):
        return PurgeSettings()
    return PurgeSettings(node["interval_minutes"].integer(60, minimum=1, maximum=1440))


def _transfer(node: Node) -> Transfer:
    if not node.mapping(("destination", "safeguards"), required=("destination", "safeguards")):
        return Transfer("", "")
    return Transfer(node["destination"].string(""), node["safeguards"].string(""))


def legal(node: Node) -> LegalSettings:
    if not node.present or not node.mapping(
        (
            "purposes",
            "representative",
            "joint_controllers",
            "recipients",
            "transfers",
            "security_measures",
            "staff_representatives_informed",
            "notice_url",
        )
    ):
        return LegalSettings()
    purposes: dict[str, PurposeBasis] = {}
    for purpose, pnode in node["purposes"].items():
        if purpose not in PURPOSES:
            pnode.fail(f"unknown purpose; use {', '.join(PURPOSES)}")
            continue
        if pnode.mapping(("description", "legal_basis"), required=("description", "legal_basis")):
            basis = pnode["legal_basis"].string("")
            if basis and len(basis.strip()) < 10:
                pnode["legal_basis"].fail(
                    "must state the legal basis in full, e.g. 'Intérêt légitime (art. 6.1.f "
                    "RGPD) : ...'"
                )
            purposes[purpose] = PurposeBasis(pnode["description"].string(""), basis)
    transfers: tuple[Transfer, ...] | None = None
    if node["transfers"].present:
        transfers = node["transfers"].each(_transfer)
    return LegalSettings(
        purposes=purposes,
        representative=node["representative"].string("", allow_empty=True),
        joint_controllers=node["joint_controllers"].string_list((), allow_empty=True),
        recipients=node["recipients"].string_list((), allow_empty=True),
        transfers=transfers,
        security_measures=node["security_measures"].string_list((), allow_empty=True),
        staff_representatives_informed=node["staff_representatives_informed"].date(None),
        notice_url=node["notice_url"].string(
            "", pattern=r"https://\S+", pattern_hint="must be an https:// URL"
        ),
    )


def documents(node: Node) -> DocumentSettings:
    """The documents' language: what a DPO hands the CNIL (fr) or an auditor abroad (en)."""
    if not node.present or not node.mapping(("language",)):
        return DocumentSettings()
    language = node["language"].string("fr", choices=DOCUMENT_LANGUAGES)
    return DocumentSettings(language if language in DOCUMENT_LANGUAGES else "fr")
