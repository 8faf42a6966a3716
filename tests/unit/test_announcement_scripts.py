"""The words to record for each service's announcement (C1) and full notice (C3),
generated from the config in the service's language."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from controller.cli import cli

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ENV = {"ARI_PW": "x", "HMAC_KEY": "k" * 32}


def site(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = (GOLDEN / "site.yaml").read_text(encoding="utf-8")
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def script(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["announcement-script", *args, "-c", str(path)], env=ENV)
    return result.exit_code, result.output


def test_c1_c3_script_says_what_the_announcement_and_the_notice_owe(tmp_path: Path) -> None:
    """C1, C3: the announcement names the controller, the purposes, the key that objects
    and the notice key; the full notice the legal bases, the retention, who listens, the
    rights, the DPO and the CNIL; each under the sound the service plays."""
    code, text = script(site(tmp_path), "adhesions")
    assert code == 0, text
    announcement, notice = text.split("# Notice complète")
    assert "son reccontrol/fr/adhesions, version 2026-02" in announcement
    for expected in (
        "Mutuelle Exemple",
        "susceptible d'être enregistré",
        "formation des téléconseillers, et évaluation et amélioration de la qualité du service",
        "tapez 9, maintenant ou à tout moment de l'appel",
        "tapez 0",
    ):
        assert expected in announcement, expected
    assert "son reccontrol/fr/notice" in notice
    for expected in (
        "Le responsable de l'enregistrement des appels est Mutuelle Exemple.",
        "Intérêt légitime (art. 6.1.f RGPD) : former les conseillers",
        "environ 15 % des appels, tirés au hasard",
        "au plus 60 jours",
        "votre choix vaut 400 jours",
        "droit d'accès, de rectification, d'effacement",
        "Inès Faure, dpo@mutuelle.example",
        "réclamation à la CNIL : CNIL, 3 place de Fontenoy",
    ):
        assert expected in notice, expected
    code, urgent = script(site(tmp_path), "urgences")
    assert code == 0 and "Nous enregistrons tous les appels (dérogation)" in urgent
    assert "au plus 183 jours" in urgent


def test_c1_c3_script_follows_the_service_language(tmp_path: Path) -> None:
    """C1, C3: a service that speaks English gets its script in English; --language
    overrides; keys with a star are said as words."""
    english = site(
        tmp_path,
        "    language: fr\n    purposes: [training, quality]",
        "    language: en\n    caller_keys: {opt_out: '*', full_notice: '#'}\n"
        "    purposes: [training, quality]",
    )
    code, text = script(english, "adhesions")
    assert code == 0, text
    assert "Your call may be recorded, for the following purposes: training of the agents" in text
    assert "press star, now or at any time during the call" in text
    assert "press hash." in text
    assert "kept at most 60 days" in text and "jours" not in text
    code, french = script(english, "adhesions", "--language", "fr")
    assert code == 0 and "tapez étoile" in french


def test_c1_script_errors_name_what_is_wrong(tmp_path: Path) -> None:
    """C1, R2: an unknown service, or a service language the scripts are not written in,
    is exit 2 with one line naming it."""
    code, text = script(site(tmp_path), "nosuch")
    assert code == 2 and "unknown service 'nosuch'; the services are adhesions, urgences" in text
    german = site(tmp_path, "    language: fr\n    purposes: [training, quality]",
                  "    language: de\n    purposes: [training, quality]")
    code, text = script(german, "adhesions")
    assert code == 2
    assert "services.adhesions.language: 'de': the scripts are written in fr or en" in text
    code, text = script(german, "adhesions", "--language", "en")
    assert code == 0 and "Welcome to Mutuelle Exemple" in text
