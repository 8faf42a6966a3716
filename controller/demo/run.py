"""``reccontrol demo``: a sandbox Asterisk, the daemon, and a scripted set of calls.

Every call is real: Local channels play the callers and agents, Asterisk bridges and
records, and the daemon decides. Only the sampling draws are scripted, so the demo
shows the same outcomes on every run (the daemon itself draws from the OS CSPRNG).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import click

from controller.config import load_config
from controller.config.model import DAY_NAMES
from controller.demo.site import RunningDaemon, SandboxSite, ScriptedRandom, Switchboard
from controller.demo.sounds import write_speech, write_tones
from controller.logs import setup_logging
from controller.sandbox import Sandbox, SandboxInstance

ANNOUNCEMENT = (
    "Bonjour. Cet appel est susceptible d'être enregistré pour la formation et la qualité. "
    "Pour vous y opposer, tapez 9. Pour en savoir plus, tapez 0."
)
FULL_NOTICE = (
    "Démo Relation Client enregistre certains appels pour la formation de ses conseillers "
    "et la qualité du service. Les enregistrements sont conservés trois mois au plus. "
    "Vous pouvez vous opposer à l'enregistrement en tapant 9, et exercer vos droits "
    "d'accès et d'effacement auprès de notre délégué à la protection des données. "
    "Vous pouvez adresser une réclamation à la CNIL."
)
NO_AGENT = "Aucun conseiller n'est disponible. Merci de rappeler plus tard."


@dataclass(frozen=True)
class Scenario:
    title: str
    service: str
    caller_script: str
    caller: str
    """A label for the demo's fake caller; the number itself is never printed."""
    draw: float | None = None
    """The sampling draw this call consumes, if it reaches one."""


CALLERS = {"A": "+33100000001", "B": "+33100000002", "C": "+33100000003", "D": "+33100000004"}

SCENARIOS = (
    Scenario("Caller objects during the announcement", "sales", "c-key-9-2-4", "A"),
    Scenario("Sampled call: recorded after the announcement", "sales", "c-talk-17", "B", 0.05),
    Scenario(
        "Caller objects mid-call: live recording discarded", "sales", "c-key-9-14-3", "C", 0.05
    ),
    Scenario("Not sampled: nothing recorded", "sales", "c-talk-10", "D", 0.95),
    Scenario("Agent outside her published periods", "support", "c-talk-10", "D"),
    Scenario("Protected agent (staff representative)", "union", "c-talk-10", "D"),
    Scenario("Caller A calls again: objection remembered", "sales", "c-talk-10", "A"),
)


def _prompts(site: SandboxSite) -> dict[str, str]:
    """Writes the French prompts (spoken by espeak-ng when present, tones otherwise)."""
    sounds = site.instance.sounds_dir
    prompts = {"announce": ANNOUNCEMENT, "notice": FULL_NOTICE, "no-agent": NO_AGENT}
    names = {}
    for name, text in prompts.items():
        path = sounds / f"{name}.wav"
        if not write_speech(path, text, "fr", marker=1800.0 if name == "announce" else None):
            write_tones(path, [(1800.0, 0.3), (425.0, 3.0)])
        names[name] = site.sound(name)
    return names


def demo_config(site: SandboxSite) -> dict[str, Any]:
    prompts = _prompts(site)
    paris = ZoneInfo("Europe/Paris")
    today = dt.datetime.now(paris).weekday()
    other_days = ",".join(DAY_NAMES[d] for d in range(7) if d != today)
    all_day = [{"days": "daily", "from": "00:00", "to": "24:00"}]

    def service(target: str) -> dict[str, Any]:
        return {
            "label": "Demo service",
            "language": "fr",
            "purposes": ["training", "quality"],
            "announcement": {"sound": prompts["announce"], "version": "demo-2026-11"},
            "full_notice": prompts["notice"],
            "no_agent_sound": prompts["no-agent"],
            "sampling": {"rate": 0.3},
            "target": target,
            "answer_timeout": 10,
            "retention_days": 90,
        }

    agents = {
        "alice": {"name": "Alice Martin", "endpoints": ["Local/alice"], "windows": all_day},
        "chloe": {
            "name": "Chloé Roux",
            "endpoints": ["Local/chloe"],
            "windows": [{"days": other_days, "from": "00:00", "to": "24:00"}],
        },
        "bruno": {
            "name": "Bruno Petit",
            "endpoints": ["Local/bruno"],
            "windows": all_day,
            "protected": True,
            "protection_reason": "staff representative",
        },
    }
    services = {
        "sales": service("Local/alice-talk@sim-agent"),
        "support": service("Local/chloe-talk@sim-agent"),
        "union": service("Local/bruno-talk@sim-agent"),
    }
    return site.config_data(services=services, agents=agents)


def _recording_text(call: dict[str, Any]) -> str:
    recordings = call["recordings"]
    if not recordings:
        return "none"
    rec = recordings[0]
    if rec["state"] == "stored":
        return f"{rec['duration_seconds']:.1f} s WAV, sha256 {rec['sha256'][:12]}…"
    return str(rec["state"])


async def run_scenarios(
    instance: SandboxInstance, workdir: Path, echo: Callable[[str], None]
) -> list[dict[str, Any]]:
    site = SandboxSite(instance, workdir)
    site.prepare()
    config_path = site.write_config(demo_config(site))
    config = load_config(config_path)
    draws = [s.draw for s in SCENARIOS if s.draw is not None]
    daemon = RunningDaemon(config, rng=ScriptedRandom(draws))
    await daemon.start()
    results = []
    try:
        async with aiohttp.ClientSession() as session:
            board = Switchboard(instance, session)
            for number, scenario in enumerate(SCENARIOS, start=1):
                echo(f"  call {number}: {scenario.title} ...")
                await board.call(scenario.service, scenario.caller_script, CALLERS[scenario.caller])
                calls = await daemon.wait_for_calls(number, within=90)
                results.append(calls[-1])
    finally:
        await daemon.stop()
    return results


def report(results: list[dict[str, Any]], echo: Callable[[str], None]) -> None:
    echo("")
    echo(f"{'#':>2}  {'scenario':<52} {'caller':<6} {'outcome':<15} {'decision':<40} recording")
    for number, (scenario, call) in enumerate(zip(SCENARIOS, results, strict=True), start=1):
        decision = call["decision"]["reason"] if call["decision"] else "-"
        consent = [e for e in call["consent_events"] if e["kind"] == "opt_out"]
        if consent:
            decision += f" (key {consent[0]['key']} in {consent[0]['phase']})"
        echo(
            f"{number:>2}  {scenario.title:<52} {scenario.caller:<6} {call['outcome']:<15} "
            f"{decision:<40} {_recording_text(call)}"
        )


def run_demo(workdir: Path, port: int, keep: bool) -> None:
    echo = click.echo
    box = Sandbox.from_environment()
    echo("reccontrol demo: building or reusing the Asterisk sandbox ...")
    box.ensure_built()
    instance = box.up("demo", http_port=port)
    echo(f"reccontrol demo: Asterisk up, ARI at {instance.ari_url}; site files in {workdir}")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, mode=0o700)
    log_file = (workdir / "reccontrol.log").open("a", encoding="utf-8")
    setup_logging("INFO", stream=log_file)
    logging.getLogger("reccontrol").info("demo starting")
    try:
        results = asyncio.run(run_scenarios(instance, workdir, echo))
        report(results, echo)
        echo("")
        from controller.cli import cli

        echo("Sampling audit (reccontrol sampling-audit):")
        cli.main(["sampling-audit", "-c", str(workdir / "reccontrol.yaml")], standalone_mode=False)
        echo("")
        echo(f"Recordings (vault, mode 0600): {workdir / 'vault'}")
        echo(f"Store: {workdir / 'reccontrol.sqlite3'}   Daemon log: {workdir / 'reccontrol.log'}")
        echo(f"ARI event log (digits and numbers redacted): {workdir / 'ari-events.jsonl'}")
    finally:
        log_file.close()
        if keep:
            echo(f"The sandbox stays up ('reccontrol sandbox down --name {instance.name}').")
        else:
            box.down(instance.name)
