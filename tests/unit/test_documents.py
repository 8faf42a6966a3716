"""Documents generated from the config (D1, A6, C3): the golden register entry with every
Art. 30(1) field, the notices' content, HTML escaping, and missing legal texts."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from controller.config import Config, load_config
from controller.config.governance_model import LegalSettings
from controller.documents import (
    build_agent_notice,
    build_caller_notice,
    build_register,
    document_problems,
    render,
)
from tests.example_site import example_environ

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REPO = Path(__file__).resolve().parents[2]
ENV = {"ARI_PW": "x", "HMAC_KEY": "k" * 32}


@pytest.fixture
def site() -> Config:
    return load_config(GOLDEN / "site.yaml", environ=ENV)


def test_register_matches_the_golden_file(site: Config) -> None:
    text = render(build_register(site), "md")
    golden = GOLDEN / "register.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_register_has_every_art_30_1_field(site: Config) -> None:
    text = render(build_register(site), "md")
    headings = re.findall(r"^## \((\w)\)", text, flags=re.M)
    assert headings == ["a", "b", "c", "d", "e", "f", "g"]
    for expected in (
        "Mutuelle Exemple",  # (a) controller
        "Inès Faure, dpo@mutuelle.example",  # (a) DPO
        "Groupement Exemple",  # (a) joint controller
        "Intérêt légitime (art. 6.1.f RGPD) : former les conseillers",  # (b) legal basis
        "environ 15 % des appels",  # (b) proportionality
        "article R.9-9 du code exemple",  # (b) the exemption is printed (P2)
        "Appelants",  # (c)
        "Paul Garnier",  # (d) named recipients
        "Hébergeur Exemple SAS",  # (d)
        "Clauses contractuelles types",  # (e)
        "| Enregistrements : Adhésions (adhesions) | 60 jours |",  # (f)
        "| Fiches de synthèse (évaluations) | 300 jours |",  # (f)
        "| Journal des accès | 365 jours |",  # (f)
        "HMAC-SHA-256",  # (g) built-in measures
        "Chiffrement des disques du serveur (LUKS)",  # (g) configured measures
        "20/01/2026",
    ):
        assert expected in text, expected


def test_example_register_prints_the_emergency_exemption(tmp_path: Path) -> None:
    config = load_config(REPO / "config" / "example.yaml", environ=example_environ(tmp_path))
    assert document_problems(config, register=True) == []
    text = render(build_register(config), "md")
    assert "Emergency-service obligation under article L.1234-5 of the example code" in text


def test_agent_notice(site: Config) -> None:
    text = render(build_agent_notice(site), "md")
    for expected in (
        "Mutuelle Exemple",
        "Inès Faure",
        "Paul Garnier",
        "Léa Roux",  # authorised persons by name
        "mon, tue, wed, thu, fri 09:00-12:30",  # Alice's published periods
        "| Bruno Petit | jamais enregistré(e) |",  # protected, reason kept private
        "tapez \\*7",  # private-call key
        "composez \\*77 avant le numéro",  # private-call prefix
        "| \\*1 | enregistrer l'appel en vue d'une médiation",
        "| \\*2 | mettre l'enregistrement en pause |",
        "| \\*3 | reprendre l'enregistrement |",
        "jamais couplé à une capture d'écran",
        "Droit d'opposition pour motif légitime",
        "Droit d'accès",
        "Droit de rectification",
        "Formation des conseillers",
    ):
        assert expected in text, expected
    assert "staff representative" not in text
    personal = render(build_agent_notice(site, "bruno"), "md")
    assert "jamais enregistré(e) (staff representative)" in personal
    assert "Alice Martin" not in personal


def test_caller_notice(site: Config) -> None:
    text = render(build_caller_notice(site), "md")
    for expected in (
        "Mutuelle Exemple",
        "Intérêt légitime (art. 6.1.f RGPD) : améliorer le service aux adhérents",
        "touche 9 pendant l'annonce",
        "touche 0 pour entendre cette notice",
        "au plus 60 jours",
        "400 jours",  # objection memory
        "dpo@mutuelle.example",
        "réclamation auprès de la Commission nationale de l'informatique et des libertés",
        "CNIL, 3 place de Fontenoy",
        "droit d'accès, de rectification, d'effacement",
        "Maroc",
    ):
        assert expected in text, expected


def test_html_is_escaped(site: Config) -> None:
    hostile = dataclasses.replace(site.organisation, name='<script>alert("x")</script> & Cie')
    page = render(build_register(dataclasses.replace(site, organisation=hostile)), "html")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Cie" in page
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    md = render(build_register(dataclasses.replace(site, organisation=hostile)), "md")
    assert "<script>" not in md and "\\<script\\>" in md


def test_missing_legal_texts_are_named(site: Config) -> None:
    bare = dataclasses.replace(site, legal=LegalSettings())
    assert [str(p) for p in document_problems(bare, register=True)] == [
        "legal.purposes.training: is required: the documents state the description and the "
        "legal basis of each purpose",
        "legal.purposes.quality: is required: the documents state the description and the "
        "legal basis of each purpose",
        "legal.purposes.mediation: is required: the documents state the description and the "
        "legal basis of each purpose",
        "legal.transfers: is required for the register (Art. 30(1)(e)); an empty list [] "
        "states that there are none",
    ]
    assert len(document_problems(bare, register=False)) == 3


def test_notices_tell_about_outbound_calls(site: Config) -> None:
    """C6, A6: the agent notice says what the person called hears, or that the agent
    gives the notice and confirms it by key; the caller notice covers people called."""
    text = render(build_agent_notice(site), "md")
    assert "## Appels sortants" in text
    assert "Services Adhésions : au décroché, la personne appelée entend l'annonce" in text
    assert "\\*4" not in text  # no service is announced by its agents here
    caller = render(build_caller_notice(site), "md")
    assert "Si nous vous appelons (Adhésions), vous êtes informé" in caller

    service = site.services["adhesions"]
    by_agent = dataclasses.replace(
        service, announcement=dataclasses.replace(service.announcement, by="agent")
    )
    changed = dataclasses.replace(site, services={**site.services, "adhesions": by_agent})
    text = render(build_agent_notice(changed), "md")
    assert "c'est à vous d'informer la personne appelée" in text
    assert "| \\*4 | appel sortant : j'ai informé la personne appelée |" in text

    without = dataclasses.replace(
        site, services={**site.services, "adhesions": dataclasses.replace(service, outbound=None)}
    )
    assert "Appels sortants" not in render(build_agent_notice(without), "md")
    assert "Si nous vous appelons" not in render(build_caller_notice(without), "md")
