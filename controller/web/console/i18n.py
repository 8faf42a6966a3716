"""The console's words, in French and English.

One YAML file per area of the console in ``text/`` (``calls.yaml``, ``live.yaml``...):
each key maps to ``{fr: ..., en: ...}``, and keys are spelt ``<area>.<name>``. Templates
say ``{{ t("calls.title") }}``. A key missing from the catalogue raises: a page never
shows a half-translated screen silently (the unit tests render every template)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources

import yaml

LANGUAGES = ("fr", "en")


class MissingText(KeyError):
    pass


@cache
def catalogue() -> Mapping[str, Mapping[str, str]]:
    """Every key, from every area's file."""
    texts: dict[str, dict[str, str]] = {}
    folder = resources.files("controller.web.console") / "text"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        area = entry.name.removesuffix(".yaml")
        loaded = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        for name, words in loaded.items():
            key = f"{area}.{name}"
            if key in texts:
                raise ValueError(f"{entry.name}: {key} is defined twice")
            texts[key] = {str(lang): str(text) for lang, text in dict(words).items()}
    return texts


def text(key: str, language: str) -> str:
    words = catalogue().get(key)
    if words is None:
        raise MissingText(f"no text for {key!r} in controller/web/console/text/")
    return words.get(language) or words["en"]


def preferred(accept_language: str, default: str, offered: Sequence[str] = LANGUAGES) -> str:
    """The first of the browser's languages (``Accept-Language``) the console has, by the
    weights the browser gives; ``default`` when none is."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        weight = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag in offered and weight > 0:
            choices.append((-weight, index, tag))
    return min(choices)[2] if choices else default
