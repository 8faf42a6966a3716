"""Config sections for access, sheets, audit, purge and legal texts: refusals name the
key path (S1, S5, T2, T3, D1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.config.governance_model import DEFAULT_CRITERIA
from tests.unit.test_config import ENV, Loader, load, mutate, problems_of

__all__ = ["load"]  # the fixture, shared with test_config

PERSON = {"name": "Claire Dubois", "role": "dpo", "services": ["*"]}


def with_person(**changes: Any) -> dict[str, Any]:
    person = {**PERSON, "password_hash_file": "/etc/reccontrol/cd.scrypt", **changes}
    return mutate(lambda d: d.update(access={"persons": {"cdubois": person}}))


def test_defaults_without_the_new_sections(load: Loader) -> None:
    config = load(mutate(lambda d: None))
    assert config.sheets.retention_days == 365 and config.sheets.criteria == DEFAULT_CRITERIA
    assert config.audit.retention_days == 365 and config.audit.checkpoint_key is None
    assert config.purge.interval_minutes == 60 and config.access.persons == {}
    assert config.legal.transfers is None


def test_person_with_a_credential_file(load: Loader) -> None:
    person = load(with_person()).access.persons["cdubois"]
    assert (person.role, person.services, person.name) == ("dpo", ("*",), "Claire Dubois")
    assert person.credential.kind == "password" and person.credential.origin == "file"
    assert person.credential.key_path == "access.persons.cdubois.password_hash_file"
    assert person.sees("sales")


def test_sheet_retention_above_a_year_refused(load: Loader) -> None:
    data = mutate(lambda d: d.update(sheets={"retention_days": 400}))
    assert problems_of(load, data) == [
        "sheets.retention_days: must be <= 365: summary sheets are kept at most one year (T2)"
    ]


def test_access_log_retention_limits(load: Loader) -> None:
    data = mutate(lambda d: d.update(audit={"retention_days": 366}))
    assert problems_of(load, data) == [
        "audit.retention_days: must be <= 365: access-log entries are kept at most 365 days (T3)"
    ]
    data = mutate(lambda d: d.update(audit={"retention_days": 30}))
    assert problems_of(load, data) == ["audit.retention_days: must be >= 180; got 30"]


def test_recording_retention_above_the_limit_still_refused(load: Loader) -> None:
    data = mutate(lambda d: d["services"]["sales"].update(retention_days=184))
    assert problems_of(load, data) == [
        "services.sales.retention_days: must be <= 183 (6 months); keeping recordings longer "
        "needs an exemption"
    ]


def test_checkpoint_key_from_the_environment(load: Loader) -> None:
    data = mutate(lambda d: d.update(audit={"checkpoint_key_env": "AUDIT_KEY"}))
    config = load(data, {**ENV, "AUDIT_KEY": "a" * 20})
    assert config.audit.checkpoint_key is not None
    assert config.audit.checkpoint_key.reveal() == "a" * 20
    assert problems_of(load, data, {**ENV, "AUDIT_KEY": "short"}) == [
        "audit.checkpoint_key_env: the key must be at least 16 characters long"
    ]
    inline = mutate(lambda d: d.update(audit={"checkpoint_key": "in-the-yaml-0123456"}))
    (problem,) = problems_of(load, inline)
    assert problem.startswith("audit.checkpoint_key: secrets are not written in the YAML")
    assert "in-the-yaml" not in problem


def test_person_problems_all_reported(load: Loader) -> None:
    data = mutate(
        lambda d: d.update(
            access={
                "persons": {
                    "Bad Id": {**PERSON, "token_hash_file": "/x"},
                    "mleroy": {"name": "Marc", "role": "boss", "services": ["sales", "hr"]},
                    "snguyen": {
                        **PERSON,
                        "password": "hunter2",
                    },
                    "tadmin": {
                        **PERSON,
                        "password_hash_file": "/a",
                        "token_hash_env": "TOKEN_HASH",
                    },
                }
            }
        )
    )
    problems = problems_of(load, data)
    assert problems[0].startswith("access.persons.Bad Id: invalid person id")
    assert (
        "access.persons.mleroy.services[1]: unknown service 'hr'; use sales or \"*\" for all"
        in (problems)
    )
    assert (
        "access.persons.mleroy.password_hash_file: is required (or password_hash_env, "
        "token_hash_file, token_hash_env)" in problems
    )
    assert (
        "access.persons.mleroy.role: must be one of supervisor, quality, dpo, admin; got 'boss'"
        in (problems)
    )
    assert any(
        p.startswith("access.persons.snguyen.password: credentials are not written in the YAML")
        for p in problems
    )
    assert not any("hunter2" in p for p in problems)
    assert (
        "access.persons.tadmin.token_hash_env: give one credential only; "
        "'password_hash_file' is already set" in problems
    )


def test_criteria_checked(load: Loader) -> None:
    data = mutate(
        lambda d: d.update(
            sheets={
                "criteria": [
                    {"id": "greeting", "label": "Accueil", "max_score": 5},
                    {"id": "greeting", "label": "Encore", "max_score": 0},
                    {"id": "x", "label": "X"},
                ]
            }
        )
    )
    assert problems_of(load, data) == [
        "sheets.criteria[1].max_score: must be >= 1; got 0",
        "sheets.criteria[2].max_score: is required",
        "sheets.criteria[1].id: duplicate criterion id 'greeting'",
    ]


def test_legal_section(load: Loader) -> None:
    legal = {
        "purposes": {
            "training": {"description": "Formation", "legal_basis": "Intérêt légitime, art. 6.1.f"},
            "spying": {"description": "x", "legal_basis": "none at all"},
            "quality": {"description": "Qualité", "legal_basis": "short"},
        },
        "transfers": [{"destination": "Maroc (centre d'appels)"}],
        "notice_url": "http://insecure.example",
        "staff_representatives_informed": "2025-11-15",
    }
    problems = problems_of(load, mutate(lambda d: d.update(legal=legal)))
    assert problems == [  # the test writes the YAML with sorted keys
        "legal.purposes.quality.legal_basis: must state the legal basis in full, e.g. "
        "'Intérêt légitime (art. 6.1.f RGPD) : ...'",
        "legal.purposes.spying: unknown purpose; use training, quality, mediation",
        "legal.transfers[0].safeguards: is required",
        "legal.notice_url: must be an https:// URL",
    ]


def test_example_documents_every_new_section() -> None:
    text = (Path(__file__).resolve().parents[2] / "config" / "example.yaml").read_text()
    for key in ("access:", "sheets:", "audit:", "purge:", "legal:", "password_hash_file"):
        assert key in text


def test_s8_a_persons_phone_for_live_listening(load: Loader) -> None:
    person = load(with_person(role="supervisor", phone="PJSIP/sup-anne")).access.persons["cdubois"]
    assert person.phone == "PJSIP/sup-anne"
    assert load(with_person()).access.persons["cdubois"].phone is None


def test_s8_a_phone_that_is_no_dial_string_names_its_key_path(load: Loader) -> None:
    for phone in ("sup-anne", "PJSIP/a&Local/900@evil", "PJSIP/a b"):
        assert problems_of(load, with_person(phone=phone)) == [
            "access.persons.cdubois.phone: must be an Asterisk dial string such as "
            "PJSIP/sup-anne or Local/200@phones"
        ]
