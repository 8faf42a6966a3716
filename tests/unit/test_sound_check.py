"""The configured sounds looked up in Asterisk's sound index (C1, C3): where Asterisk
would find each one, and an alert once per sound found missing, naming its key path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from controller.ari.errors import AriUnavailable
from controller.ari.models import Sound
from controller.calls.sounds import (
    ALERT_KIND,
    Finding,
    SoundCheck,
    WantedSound,
    judge,
    language_chain,
    look_up,
    wanted_sounds,
)
from tests.sites import load_site, site_config, write_site


class Index:
    """Asterisk's sound index as ``GET /sounds/{id}`` answers it: id -> languages."""

    def __init__(self, sounds: dict[str, set[str]]) -> None:
        self.sounds = sounds
        self.asked: list[str] = []
        self.down = False

    async def __call__(self, sound_id: str) -> frozenset[str]:
        self.asked.append(sound_id)
        if self.down:
            raise AriUnavailable("GET", "/sounds/x", None, "no answer in time")
        return frozenset(self.sounds.get(sound_id, ()))


def announcement(sound: str, languages: tuple[str, ...] = ("fr",)) -> WantedSound:
    return WantedSound("services.sales.announcement.sound", sound, languages, "no announcement")


def test_c1_language_chain_drops_the_dialect_as_asterisk_does() -> None:
    assert language_chain("fr_FR") == ("fr_FR", "fr")
    assert language_chain("en") == ("en",)


def test_c1_where_asterisk_finds_a_callers_sound() -> None:
    """C1: found in the service's language or without a language; only in English for a
    French service is another language, whatever Asterisk falls back to."""
    wanted = announcement("welcome", ("fr_FR", "fr"))
    assert judge(wanted, frozenset({"fr"}), False) is Finding.FOUND
    assert judge(wanted, frozenset(), True) is Finding.FOUND
    assert judge(wanted, frozenset({"en", "fr_CA_f_June"}), False) is Finding.OTHER_LANGUAGE
    assert judge(wanted, frozenset(), False) is Finding.MISSING
    tone = WantedSound("agent_keys.ok_sound", "beep", (), "agents hear nothing")
    assert judge(tone, frozenset({"en"}), False) is Finding.FOUND
    assert judge(tone, frozenset({"fr"}), False) is Finding.OTHER_LANGUAGE


async def test_c1_a_sound_kept_without_a_language_is_found_under_its_first_folder() -> None:
    """C1: Asterisk's index files ``<sounds>/reccontrol/fr/welcome`` as ``fr/welcome``
    in "language" ``reccontrol``; a call plays it as ``reccontrol/fr/welcome``."""
    index = Index({"fr/welcome": {"reccontrol"}})
    report = await look_up(announcement("reccontrol/fr/welcome"), index)
    assert report.finding is Finding.FOUND
    assert index.asked == ["reccontrol/fr/welcome", "fr/welcome"]
    report = await look_up(announcement("other/fr/welcome"), index)
    assert report.finding is Finding.MISSING


async def test_c1_an_absolute_path_or_a_silent_asterisk_is_not_checked_and_not_alerted() -> None:
    index = Index({})
    report = await look_up(announcement("/srv/sounds/welcome"), index)
    assert report.finding is Finding.NOT_CHECKED and "absolute path" in report.describe()
    assert index.asked == []
    index.down = True
    report = await look_up(announcement("welcome"), index)
    assert report.finding is Finding.NOT_CHECKED and "ari-unavailable" in report.describe()


def test_c1_c3_every_configured_sound_with_its_key_path_and_language(tmp_path: Path) -> None:
    """C1, C3: the announcement, the full notice and the no-agent sound of each service
    in its language, the agent tones, and the payment prompts in the language of each
    service that takes payments."""
    data = site_config(tmp_path)
    data["services"]["support"]["language"] = "en_GB"
    data["services"]["support"]["payments"] = True
    prompts = {k: f"pay/{k}" for k in ("number", "expiry", "cvv", "invalid")}
    prompts |= {k: f"pay/{k}" for k in ("approved", "declined", "unavailable")}
    data["payment"] = {"api_url": "https://pay.example/charge", "prompts": prompts}
    config = load_site(write_site(tmp_path, data))
    wanted = {(w.key, w.sound, w.languages) for w in wanted_sounds(config)}
    assert {
        ("services.sales.announcement.sound", "reccontrol/fr/announce", ("fr",)),
        ("services.sales.full_notice", "reccontrol/fr/notice", ("fr",)),
        ("services.sales.no_agent_sound", "sorry", ("fr",)),
        ("services.support.announcement.sound", "reccontrol/fr/announce", ("en_GB", "en")),
        ("agent_keys.ok_sound", "beep", ()),
        ("agent_keys.refused_sound", "beeperr", ()),
        ("payment.prompts.cvv", "pay/cvv", ("en_GB", "en")),
    } <= wanted
    assert len(wanted) == 2 * 3 + 2 + 7


async def test_c1_a_missing_sound_is_alerted_once_naming_its_key_and_again_if_it_comes_back() -> (
    None
):
    """C1: one alert per sound found missing, at the first check; a reconnection that
    finds it still missing says nothing new; installed, then gone again: a new alert."""
    alerts: list[tuple[str, str]] = []
    index = Index({"beep": {"en"}})
    wanted = [
        announcement("reccontrol/fr/welcome"),
        WantedSound("agent_keys.ok_sound", "beep", (), ""),
    ]
    check = SoundCheck(wanted, index, lambda kind, message: alerts.append((kind, message)))
    await check.check()
    assert [kind for kind, _ in alerts] == [ALERT_KIND]
    message = alerts[0][1]
    assert message.startswith(
        "services.sales.announcement.sound: the sound 'reccontrol/fr/welcome'"
    )
    assert "does not exist in Asterisk in 'fr'" in message
    assert (check.missing, check.not_checked, check.checks) == (1, 0, 1)

    await check.check()
    index.down = True
    await check.check()  # Asterisk silent: unknown, not a reason to alert later
    index.down = False
    await check.check()
    assert len(alerts) == 1 and check.missing == 1

    index.sounds["fr/welcome"] = {"reccontrol"}
    await check.check()
    assert check.missing == 0
    del index.sounds["fr/welcome"]
    await check.check()
    assert len(alerts) == 2 and check.missing == 1


async def test_c1_a_sound_only_in_another_language_is_alerted_with_the_languages_found() -> None:
    alerts: list[str] = []
    index = Index({"vm-intro": {"en", "fr_CA_f_June"}})
    check = SoundCheck(
        [dataclasses.replace(announcement("vm-intro"), key="services.ventes.full_notice")],
        index,
        lambda _, message: alerts.append(message),
    )
    await check.check()
    (message,) = alerts
    assert message.startswith("services.ventes.full_notice: the sound 'vm-intro' exists")
    assert "only in en, fr_CA_f_June, not in 'fr'" in message


def test_r2_c1_an_odd_sound_answer_reads_as_no_language() -> None:
    """R2, C1: formats that are not what ARI documents are skipped, never a crash."""
    answer = {"id": "x", "formats": [1, {"language": 5}, {"format": "gsm"}, {"language": "fr"}]}
    assert Sound.parse(answer).languages == {"fr"}
    assert Sound.parse(["not", "a", "sound"]).languages == frozenset()
    assert Sound.parse({"formats": "fr"}).languages == frozenset()


async def test_c1_each_sound_id_is_asked_once_per_check() -> None:
    index = Index({"shared": {"fr"}})
    wanted = [announcement("shared"), dataclasses.replace(announcement("shared"), key="b")]
    check = SoundCheck(wanted, index, lambda *_: None)
    await check.check()
    assert index.asked == ["shared"] and check.missing == 0
