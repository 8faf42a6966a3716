"""Documents in French and English (D1) and the GDPR Art. 35 impact assessment (D2):
every document in both languages, chosen by documents.language or --language; the DPIA
states the processing, its measures with the requirement IDs that implement them, and
residual risks that follow the config."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import cli
from controller.config import Config, load_config
from controller.config.governance_model import AuditSettings
from controller.documents import (
    build_agent_notice,
    build_caller_notice,
    build_dpia,
    build_register,
    render,
)
from controller.documents.measures import MEASURES
from controller.documents.risks import risks
from controller.secrets import Secret
from tests.requirements import defined

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REPO = Path(__file__).resolve().parents[2]
ENV = {"ARI_PW": "x", "HMAC_KEY": "k" * 32}
# Words only the French documents use: none may be left in an English one.
FRENCH = ("Responsable du traitement", " jours", "Appels enregistrés", "Durées", "tapez", "touche")


@pytest.fixture
def site() -> Config:
    return load_config(GOLDEN / "site.yaml", environ=ENV)


def english_documents(site: Config) -> dict[str, str]:
    return {
        "callers": render(build_caller_notice(site, "en"), "md"),
        "agents": render(build_agent_notice(site, None, "en"), "md"),
        "bruno": render(build_agent_notice(site, "bruno", "en"), "md"),
        "register": render(build_register(site, "en"), "md"),
        "dpia": render(build_dpia(site, "en"), "md"),
    }


def test_d1_every_document_exists_in_english(site: Config) -> None:
    """D1: the register, both notices and the DPIA speak English when asked, with the
    same facts: no French wording is left (texts from the config stay as written)."""
    docs = english_documents(site)
    for name, text in docs.items():
        for word in FRENCH:
            assert word not in text, (name, word)
    assert "key 9 during the announcement or at any time of the call to object" in docs["callers"]
    assert "at most 60 days" in docs["callers"]
    assert "Your objection: 400 days" in docs["callers"]
    assert "| Bruno Petit | never recorded |" in docs["agents"]
    assert "never recorded (staff representative)" in docs["bruno"]
    assert "During a call, key \\*7: the call becomes private" in docs["agents"]
    headings = re.findall(r"^## \((\w)\)", docs["register"], flags=re.M)
    assert headings == ["a", "b", "c", "d", "e", "f", "g"]
    assert "| Recordings: Adhésions (adhesions) | 60 days |" in docs["register"]
    assert "Staff representative bodies informed on 2026-01-20, before" in docs["register"]
    page = render(build_register(site, "en"), "html")
    assert '<html lang="en">' in page


def test_d1_english_register_matches_the_golden_file(site: Config) -> None:
    """D1: the English register, word for word (UPDATE_GOLDEN=1 rewrites it)."""
    text = render(build_register(site, "en"), "md")
    golden = GOLDEN / "register.en.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def _site_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text((GOLDEN / "site.yaml").read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "command",
    [["register"], ["notice", "callers"], ["notice", "agents"], ["dpia"]],
    ids=" ".join,
)
def test_d1_d2_language_comes_from_the_config_and_the_option(
    tmp_path: Path, command: list[str]
) -> None:
    """D1, D2: documents.language chooses the language (fr when absent); --language
    overrides it for one command."""
    plain = _site_file(tmp_path, "")
    french = CliRunner().invoke(cli, [*command, "-c", str(plain)], env=ENV)
    assert french.exit_code == 0, french.output
    english_site = _site_file(tmp_path, "documents:\n  language: en\n")
    english = CliRunner().invoke(cli, [*command, "-c", str(english_site)], env=ENV)
    assert english.exit_code == 0, english.output
    forced = CliRunner().invoke(
        cli, [*command, "-c", str(english_site), "--language", "fr"], env=ENV
    )
    assert forced.exit_code == 0, forced.output
    assert forced.output == french.output
    assert english.output != french.output
    assert "Mutuelle Exemple" in english.output
    assert not any(word in english.output for word in FRENCH)


def test_d1_an_unknown_document_language_names_its_key(tmp_path: Path) -> None:
    """D1, R2: a language the documents do not speak is a config error on its key path."""
    path = _site_file(tmp_path, "documents:\n  language: de\n")
    result = CliRunner().invoke(cli, ["register", "-c", str(path)], env=ENV)
    assert result.exit_code == 2
    assert "error: documents.language: must be one of fr, en; got 'de'" in result.output
    bad_key = _site_file(tmp_path, "documents:\n  langage: en\n")
    result = CliRunner().invoke(cli, ["register", "-c", str(bad_key)], env=ENV)
    assert result.exit_code == 2
    assert "documents.langage" in result.output


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_d2_dpia_states_the_processing_measures_and_residual_risks(
    site: Config, lang: str
) -> None:
    """D2: the DPIA drafted from the config holds the purposes and legal bases, the data,
    the recipients by name, the retention, the measures with their requirement IDs, the
    risks with their residual level, and what the DPO must complete."""
    text = render(build_dpia(site, lang), "md")
    sections = re.findall(r"^## (\d)\. ", text, flags=re.M)
    assert sections == ["1", "2", "3", "4", "5"]
    for expected in (
        "Mutuelle Exemple",
        "Intérêt légitime (art. 6.1.f RGPD) : former les conseillers",  # legal basis
        "Paul Garnier",  # recipients by name
        "Hébergeur Exemple SAS",
        "Clauses contractuelles types",  # transfer and its safeguards
        "article R.9-9 du code exemple",  # the exemption (P2)
        "| P1, P3, P4 |",
        "| T1, T2, T3, T4, T5 |",
        "| S3, S7 |",
        "Chiffrement des disques du serveur (LUKS)",  # the site's own measure
    ):
        assert expected in text, expected
    if lang == "fr":
        assert "| Enregistrements : Adhésions (adhesions) | 60 jours |" in text
        assert "Avis du délégué à la protection des données : à compléter." in text
    else:
        assert "| Recordings: Adhésions (adhesions) | 60 days |" in text
        assert "Opinion of the data protection officer: to be completed." in text
    page = render(build_dpia(site, lang), "html")
    assert f'<html lang="{lang}">' in page and "<table>" in page


def test_d2_residual_risks_follow_the_config(site: Config) -> None:
    """D2: an access log without a key, or without a published head, is a high residual
    risk; with both it is low. A service recording every call and a transfer abroad each
    add a risk."""
    tampering = "Erasing or editing access traces to hide misuse."

    def residual(config: Config) -> str:
        return next(r.residual_en for r in risks(config) if r.en == tampering)

    unkeyed = dataclasses.replace(site, audit=AuditSettings(retention_days=365))
    assert residual(unkeyed).startswith("High: no key (audit.checkpoint_key)")
    keyed = AuditSettings(retention_days=365, checkpoint_key=Secret("k" * 32))
    assert residual(dataclasses.replace(site, audit=keyed)).startswith(
        "High: the log's head is published nowhere"
    )
    witnessed = dataclasses.replace(keyed, witness_file=Path("/somewhere/head.log"))
    assert residual(dataclasses.replace(site, audit=witnessed)).startswith("Low:")
    names = [r.en for r in risks(site)]
    assert "Recording every call (exemption): Assistance urgente." in names
    assert "Transfer outside the European Union." in names
    no_transfer = dataclasses.replace(site, legal=dataclasses.replace(site.legal, transfers=()))
    assert "Transfer outside the European Union." not in [r.en for r in risks(no_transfer)]


def test_d2_every_requirement_the_dpia_cites_is_defined_and_done() -> None:
    """D2: each measure and risk points at requirements an auditor can follow to tests."""
    requirements = defined()
    site = load_config(GOLDEN / "site.yaml", environ=ENV)
    cited = [m.requirements for m in MEASURES] + [r.requirements for r in risks(site)]
    for ids in cited:
        for rid in (part.strip() for part in ids.split(",")):
            if rid == "-":
                continue
            assert rid in requirements, rid
            assert not requirements[rid].planned, rid
