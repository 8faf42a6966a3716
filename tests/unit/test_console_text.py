"""The console's words: every key in French and English, and every key a template
names exists (a page never shows a missing text)."""

from __future__ import annotations

import re
from pathlib import Path

from controller.web.console.i18n import LANGUAGES, catalogue, preferred

TEMPLATES = Path(__file__).resolve().parents[2] / "controller" / "web" / "templates"
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_]+)["']\s*\)""")


def test_every_text_is_in_french_and_english() -> None:
    missing = [
        (key, lang)
        for key, words in catalogue().items()
        for lang in LANGUAGES
        if not str(words.get(lang, "")).strip()
    ]
    assert missing == []


def test_every_key_a_template_names_exists() -> None:
    named = {
        (template.name, key)
        for template in TEMPLATES.glob("*.html")
        for key in LITERAL_KEY.findall(template.read_text(encoding="utf-8"))
    }
    assert named, "the pattern finds the templates' keys"
    assert sorted((name, key) for name, key in named if key not in catalogue()) == []


def test_the_browser_language_is_taken_by_weight() -> None:
    assert preferred("de-DE,en;q=0.5,fr;q=0.9", "en") == "fr"
    assert preferred("de-DE", "fr") == "fr"
    assert preferred("en-US,en;q=0.9", "fr") == "en"
    assert preferred("fr;q=0,en;q=0.1", "fr") == "en"
    assert preferred("garbage;;;q=x", "en") == "en"
