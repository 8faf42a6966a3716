"""Every sound the config names, looked up in Asterisk each time ARI connects (C1, C3).

A call finds out too late that its announcement is missing: Asterisk fails the
playback, and the call goes on unrecorded (``announcement_not_played``). So the daemon
asks Asterisk's sound index (``GET /sounds/{id}``) for each configured sound as soon as
it is connected, and again after each reconnection (Asterisk may have restarted with
other sounds installed). A sound that is missing, or that exists only in other
languages than the one it is played in, is an alert naming its YAML key path: once
when it is found missing, again only if it went back and forth.

Where Asterisk looks for sound ``N`` played in language ``L`` (main/file.c): ``L/N``,
then ``L`` without its dialect (``fr_FR`` -> ``fr``), then ``N`` without a language,
then the default language ``en``. Its index takes each folder of the sounds folder for
a language, so a sound kept without a language (``reccontrol/fr/welcome``) is indexed
as ``fr/welcome`` in "language" ``reccontrol``. The English fallback does not count for
a caller's sound: a caller of a French service who hears English was not informed in
their language. An absolute path is outside the index: it is reported as not checked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.ari.errors import AriError
from controller.config.model import Config, Service

log = logging.getLogger("reccontrol.sounds")

DEFAULT_LANGUAGE = "en"
"""The language Asterisk falls back to for any channel."""
ALERT_KIND = "sound_missing"

Lookup = Callable[[str], Awaitable[frozenset[str]]]
"""Sound id -> the languages Asterisk's index holds it in (empty: no such sound)."""
AlertSink = Callable[[str, str], None]


@dataclass(frozen=True)
class WantedSound:
    key: str
    """The YAML key path that names the sound."""
    sound: str
    languages: tuple[str, ...]
    """The languages Asterisk tries, in order; empty for a sound played to an agent's
    channel in whatever language that channel has."""
    effect: str
    """What goes wrong while it is missing."""


class Finding(StrEnum):
    FOUND = "found"
    MISSING = "missing"
    OTHER_LANGUAGE = "other_language"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class SoundReport:
    wanted: WantedSound
    finding: Finding
    found_in: frozenset[str] = frozenset()
    why_not_checked: str = ""

    @property
    def alerting(self) -> bool:
        return self.finding in (Finding.MISSING, Finding.OTHER_LANGUAGE)

    def describe(self) -> str:
        wanted = self.wanted
        where = (
            f"in {' or '.join(repr(lang) for lang in wanted.languages)}"
            if wanted.languages
            else f"in Asterisk's default language {DEFAULT_LANGUAGE!r}"
        )
        head = f"{wanted.key}: the sound {wanted.sound!r}"
        match self.finding:
            case Finding.MISSING:
                return (
                    f"{head} does not exist in Asterisk {where} nor without a language: "
                    f"{wanted.effect}"
                )
            case Finding.OTHER_LANGUAGE:
                found = ", ".join(sorted(self.found_in))
                hearer = (
                    "a caller" if wanted.languages else "an agent whose phone has another language"
                )
                return (
                    f"{head} exists in Asterisk only in {found}, not {where}: {hearer} "
                    "would hear it in another language or not at all"
                )
            case Finding.NOT_CHECKED:
                return f"{head} was not checked: {self.why_not_checked}"
            case Finding.FOUND:
                return f"{head} exists {where}"


def language_chain(language: str) -> tuple[str, ...]:
    """``fr_FR`` -> ``("fr_FR", "fr")``: the languages Asterisk tries before none."""
    chain = [language]
    while "_" in language:
        language = language.rsplit("_", 1)[0]
        chain.append(language)
    return tuple(chain)


def wanted_sounds(config: Config) -> list[WantedSound]:
    """Every sound the config names, with the language it is played in."""
    wanted: list[WantedSound] = []
    for name, service in config.services.items():
        wanted.extend(_service_sounds(name, service))
    keys = config.agent_keys
    wanted.append(
        WantedSound(
            "agent_keys.ok_sound", keys.ok_sound, (), "agents hear nothing when a key takes effect"
        )
    )
    wanted.append(
        WantedSound(
            "agent_keys.refused_sound",
            keys.refused_sound,
            (),
            "agents hear nothing when a key is refused",
        )
    )
    if config.payment is not None:
        prompts = dataclasses.asdict(config.payment.prompts)
        # Prompts play in the language of the service whose caller pays.
        languages = sorted({s.language for s in config.services.values() if s.payments})
        for language in languages:
            for prompt, sound in prompts.items():
                wanted.append(
                    WantedSound(
                        f"payment.prompts.{prompt}",
                        sound,
                        language_chain(language),
                        "callers in the payment IVR miss this prompt",
                    )
                )
    return wanted


def _service_sounds(name: str, service: Service) -> list[WantedSound]:
    chain = language_chain(service.language)
    at = f"services.{name}"
    return [
        WantedSound(
            f"{at}.announcement.sound",
            service.announcement.sound,
            chain,
            f"callers of {name} hear no announcement and go on unrecorded (C1)",
        ),
        WantedSound(
            f"{at}.full_notice",
            service.full_notice_sound,
            chain,
            f"callers of {name} who ask for the full notice hear nothing and go on unrecorded (C3)",
        ),
        WantedSound(
            f"{at}.no_agent_sound",
            service.no_agent_sound,
            chain,
            f"callers of {name} whom no agent answers hear nothing before the hang-up",
        ),
    ]


def judge(wanted: WantedSound, indexed_in: frozenset[str], without_language: bool) -> Finding:
    """Whether Asterisk finds the sound where it will look for it, pure."""
    if without_language:
        return Finding.FOUND
    accepted = set(wanted.languages) if wanted.languages else {DEFAULT_LANGUAGE}
    if indexed_in & accepted:
        return Finding.FOUND
    return Finding.OTHER_LANGUAGE if indexed_in else Finding.MISSING


async def look_up(wanted: WantedSound, languages: Lookup) -> SoundReport:
    sound = wanted.sound
    if sound.startswith("/"):
        why = "an absolute path is outside Asterisk's sound index; make sure Asterisk can read it"
        return SoundReport(wanted, Finding.NOT_CHECKED, why_not_checked=why)
    try:
        indexed_in = await languages(sound)
        without_language = False
        if "/" in sound:
            # Kept without a language: the index files it under its first folder.
            first, rest = sound.split("/", 1)
            without_language = first in await languages(rest)
    except AriError as exc:
        why = f"Asterisk did not answer ({exc.error_id}); checked again at the next connection"
        return SoundReport(wanted, Finding.NOT_CHECKED, why_not_checked=why)
    return SoundReport(wanted, judge(wanted, indexed_in, without_language), indexed_in)


class SoundCheck:
    """Looks the configured sounds up at each ARI connection; alerts once per sound
    found missing."""

    def __init__(self, wanted: Sequence[WantedSound], languages: Lookup, alert: AlertSink) -> None:
        self._wanted = tuple(wanted)
        self._languages = languages
        self._alert = alert
        self._alerted: set[tuple[str, tuple[str, ...]]] = set()
        self._unchecked: set[tuple[str, tuple[str, ...]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.reports: list[SoundReport] = []
        """The last check's findings, one per configured sound."""
        self.checks = 0
        """Checks completed since start."""

    @property
    def missing(self) -> int:
        """Sounds the last check found missing or only in other languages."""
        return sum(1 for r in self.reports if r.alerting)

    @property
    def not_checked(self) -> int:
        return sum(1 for r in self.reports if r.finding is Finding.NOT_CHECKED)

    def connected(self) -> None:
        """ARI (re)connected: checks the sounds in the background, never in the way of
        the events; a connection during a check asks for one more."""
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="reccontrol-sound-check")

    async def _run(self) -> None:
        while self._again:
            self._again = False
            try:
                await self.check()
            except Exception:
                log.exception("the sound check failed")

    async def check(self) -> list[SoundReport]:
        answers: dict[str, frozenset[str]] = {}

        async def languages(sound_id: str) -> frozenset[str]:
            # Services often share a sound: each id is asked once per check.
            if sound_id not in answers:
                answers[sound_id] = await self._languages(sound_id)
            return answers[sound_id]

        reports = [await look_up(wanted, languages) for wanted in self._wanted]
        alerted: set[tuple[str, tuple[str, ...]]] = set()
        unchecked: set[tuple[str, tuple[str, ...]]] = set()
        for report in reports:
            ident = (report.wanted.key, report.wanted.languages)
            if report.alerting:
                alerted.add(ident)
                if ident not in self._alerted:
                    message = report.describe()
                    log.error("ALERT: %s", message)
                    self._alert(ALERT_KIND, message)
            elif report.finding is Finding.NOT_CHECKED:
                unchecked.add(ident)
                if ident in self._alerted:
                    alerted.add(ident)  # unknown now: not a reason to alert again later
                if ident not in self._unchecked:
                    log.warning("%s", report.describe())
            elif ident in self._alerted:
                log.info("%s now", report.describe())
        self._alerted, self._unchecked = alerted, unchecked
        self.reports = reports
        self.checks += 1
        return reports

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
