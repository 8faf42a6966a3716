"""``reccontrol demo``: a sandbox Asterisk, the daemon, and a scripted set of calls.

Every call is real: Local channels play the callers and agents, Asterisk bridges and
records, and the daemon decides. Only the sampling draws are scripted, so the demo
shows the same outcomes on every run (the daemon itself draws from the OS CSPRNG). The
payment call goes to a stand-in payment API over HTTPS, with a CA made for the demo.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from controller.calls.ids import is_two_channel
from controller.config import load_config
from controller.config.windows import DAY_NAMES
from controller.demo.console import (
    SignIn,
    access_section,
)
from controller.demo.site import (
    RunningDaemon,
    SandboxSite,
    ScriptedRandom,
    Switchboard,
    free_port,
)
from controller.demo.sounds import write_speech, write_tones
from controller.sandbox import SandboxInstance
from controller.store import SqliteStore

PROMPTS = {
    "announce": "Cet appel peut être enregistré pour la formation et la qualité. "
    "Pour vous y opposer, tapez 9. Pour en savoir plus, tapez 0.",
    "notice": "Démo Relation Client enregistre certains appels pour la formation de ses "
    "conseillers et la qualité du service. Les enregistrements sont conservés trois mois "
    "au plus. Vous pouvez vous y opposer en tapant 9, et exercer vos droits d'accès et "
    "d'effacement auprès de notre délégué à la protection des données. Vous pouvez "
    "adresser une réclamation à la CNIL.",
    "no-agent": "Aucun conseiller n'est disponible. Merci de rappeler plus tard.",
    "pay-number": "Saisissez votre numéro de carte, suivi de dièse.",
    "pay-expiry": "Saisissez la date d'expiration, mois et année.",
    "pay-cvv": "Saisissez les trois chiffres au dos de la carte, suivis de dièse.",
    "pay-invalid": "Saisie incorrecte.",
    "pay-approved": "Paiement accepté. Merci.",
    "pay-declined": "Paiement refusé.",
    "pay-unavailable": "Le paiement est indisponible pour le moment.",
}
ORDER = {"RECCONTROL_PAYMENT_AMOUNT": "49.90", "RECCONTROL_PAYMENT_ORDER": "CMD-2026-0042"}


@dataclass(frozen=True)
class Scenario:
    title: str
    service: str
    caller_script: str
    caller: str
    """A label for the demo's fake caller; the number itself is never printed."""
    draw: float | None = None
    """The sampling draw this call consumes, if it reaches one."""
    variables: dict[str, str] = field(default_factory=dict)
    private: bool = False
    outbound: bool = False
    """Alice's phone calls the customer ``caller``; ``caller_script`` is then Alice's."""
    agi_agent: str | None = None
    """The call goes over FastAGI: a dialplan-only site runs the ``inbound`` script,
    then dials this agent (``Local/<agi_agent>@sim-agent``) with the shipped
    ``reccontrol-agi-connected`` subroutine; the daemon never sees it in Stasis."""
    transfer_to: str | None = None
    """Once the call is recorded, its agent transfers the caller, blind, to this agent
    (``<transfer_to>@sim-transfer``), as a phone's REFER would (R3)."""


CALLERS = {
    "A": "+33100000001",
    "B": "+33100000002",
    "C": "+33100000003",
    "D": "+33100000004",
    "E": "+33100000005",
    "F": "0600000006",
    "G": "+33100000007",
    "H": "+33100000008",
}

ARI_SCENARIOS = (
    Scenario("Caller objects during the announcement", "sales", "c-key-9-2-3", "A"),
    Scenario("Sampled: recorded after the announcement", "sales", "c-talk-16", "B", 0.05),
    Scenario("Caller objects mid-call: recording discarded", "sales", "c-key-9-13-2", "C", 0.05),
    Scenario("Not sampled: nothing recorded", "sales", "c-talk-11", "D", 0.95),
    Scenario("Agent outside her published periods", "support", "c-talk-9", "D"),
    Scenario("Protected agent (staff representative)", "union", "c-talk-9", "D"),
    Scenario("Caller A calls again: objection remembered", "sales", "c-talk-9", "A"),
    Scenario("Agent pauses (*2) and resumes (*3)", "pausing", "c-talk-18", "E", 0.05),
    Scenario("Unsampled; agent records for mediation (*1)", "mediation", "c-talk-15", "E", 0.95),
    Scenario(
        "Agent declares the call private (*7)", "private", "c-talk-14", "E", 0.05, private=True
    ),
    Scenario(
        "Card payment through the secure IVR (*8)", "shop", "c-pay-12", "E", 0.05, variables=ORDER
    ),
    Scenario(
        "Card payment, agent on the line (*8, assisted)",
        "assist",
        "c-pay-12",
        "E",
        0.05,
        variables=ORDER,
    ),
    Scenario("Queue call: the member who answered decides", "hotline", "c-talk-14", "B", 0.05),
    Scenario(
        "Blind transfer, Alice to David: two segments",
        "sales",
        "c-talk-22",
        "B",
        0.05,
        transfer_to="david",
    ),
    Scenario(
        "Outbound: the customer hears the announcement",
        "callback",
        "alice-talk",
        "F",
        0.05,
        outbound=True,
    ),
)
# Over FastAGI (docs/agi.md): the site's own dialplan announces through the daemon, then
# dials the agent itself; MixMonitor on the agent's channel records.
AGI_SCENARIOS = (
    Scenario(
        "FastAGI: recorded by MixMonitor; pause (*2/*3)",
        "sales",
        "c-talk-18",
        "G",
        0.05,
        agi_agent="alice-pause",
    ),
    Scenario(
        "FastAGI: caller objects (9), not recorded",
        "sales",
        "c-key-9-2-3",
        "H",
        agi_agent="alice-talk",
    ),
)
SCENARIOS = ARI_SCENARIOS + AGI_SCENARIOS


def _prompts(site: SandboxSite) -> dict[str, str]:
    """Writes the French prompts (spoken by espeak-ng when present, tones otherwise)."""
    names = {}
    for name, text in PROMPTS.items():
        path = site.instance.sounds_dir / f"{name}.wav"
        if not write_speech(path, text, "fr", marker=1800.0 if name == "announce" else None):
            write_tones(path, [(1800.0, 0.3), (425.0, 2.0)])
        names[name] = site.sound(name)
    return names


def demo_config(
    site: SandboxSite,
    payment_url: str,
    ca_bundle: Path,
    sign_ins: Sequence[SignIn] = (),
    console_port: int | None = None,
) -> dict[str, Any]:
    prompts = _prompts(site)
    paris = ZoneInfo("Europe/Paris")
    today = dt.datetime.now(paris).weekday()
    other_days = ",".join(DAY_NAMES[d] for d in range(7) if d != today)
    all_day = [{"days": "daily", "from": "00:00", "to": "24:00"}]

    def service(target: str, **extra: Any) -> dict[str, Any]:
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
            **extra,
        }

    agents = {
        "alice": {"name": "Alice Martin", "endpoints": ["Local/alice-*"], "windows": all_day},
        "chloe": {
            "name": "Chloé Roux",
            "endpoints": ["Local/chloe-*"],
            "windows": [{"days": other_days, "from": "00:00", "to": "24:00"}],
        },
        # The agent Alice transfers a call to (R3): recorded in a segment of his own.
        "david": {"name": "David Leroy", "endpoints": ["Local/david-*"], "windows": all_day},
        "bruno": {
            "name": "Bruno Petit",
            "endpoints": ["Local/bruno-*"],
            "windows": all_day,
            "protected": True,
            "protection_reason": "staff representative",
        },
    }
    services = {
        "sales": service("Local/alice-talk@sim-agent"),
        "support": service("Local/chloe-talk@sim-agent"),
        "union": service("Local/bruno-talk@sim-agent"),
        "pausing": service("Local/alice-pause@sim-agent"),
        "mediation": service("Local/alice-keys-*1@sim-agent"),
        "private": service("Local/alice-keys-*7@sim-agent"),
        "shop": service("Local/alice-keys-*8@sim-agent", payments=True),
        # M4: the caller keys the card with Alice still on the line, muted towards the call.
        "assist": service(
            "Local/alice-keys-*8@sim-agent", payments=True, payment_mode="assisted"
        ),
        # Through a real Queue() (queues.conf, hotline) of Local members: the agent is the
        # member who answered, named by Asterisk in MEMBERINTERFACE.
        "hotline": service("Local/hotline@sim-queues"),
        # Alice calls customers back; they answer and talk (C6).
        "callback": service(
            "Local/alice-talk@sim-agent",
            outbound={"dial": "Local/{number}@sim-customer-talks", "ring_timeout": 10},
        ),
    }
    payment = {
        "api_url": payment_url,
        "ca_bundle": str(ca_bundle),
        "prompts": {
            key: prompts[f"pay-{key}"]
            for key in ("number", "expiry", "cvv", "invalid", "approved", "declined", "unavailable")
        },
    }
    # The FastAGI calls reach the daemon on a port of its own (config_data adds the AMI
    # section the FastAGI path needs).
    agi = {"listen": f"127.0.0.1:{free_port()}"}
    data = site.config_data(services=services, agents=agents, payment=payment, agi=agi)
    data["legal"] = {**data.get("legal", {}), **DEMO_LEGAL}
    # R5: every recording on two channels, the caller left and the agent right.
    data["recordings"]["channels"] = "stereo"
    # The console's persons (S1): a supervisor, a quality analyst and the DPO.
    data["access"] = access_section(site.workdir / "access", sign_ins)
    if console_port is not None:
        data["web"]["port"] = console_port
    return data


# What the documents, and so the inspection pack, need beyond the rest of the config (D1).
DEMO_LEGAL = {
    "purposes": {
        "training": {
            "description": "Formation des conseillers",
            "legal_basis": "Intérêt légitime (art. 6.1.f RGPD) : former les conseillers",
        },
        "quality": {
            "description": "Qualité du service",
            "legal_basis": "Intérêt légitime (art. 6.1.f RGPD) : améliorer le service",
        },
        "mediation": {
            "description": "Médiation en cas de litige",
            "legal_basis": "Intérêt légitime (art. 6.1.f RGPD) : permettre une médiation",
        },
    },
    "transfers": [],
}


async def _run_one(daemon: RunningDaemon, board: Switchboard, scenario: Scenario) -> dict[str, Any]:
    before = len(await daemon.query(lambda s: s.call_ids()))
    if scenario.outbound:
        number = CALLERS[scenario.caller]
        await board.dial_out("alice", scenario.service, number, scenario.caller_script)
        calls = await daemon.wait_for_calls(before + 1, within=90)
        return calls[-1]
    if scenario.agi_agent is not None:
        agi = daemon.config.agi
        if agi is None:
            raise RuntimeError(f"{scenario.title}: the site's config has no agi section")
        await board.site_call(
            scenario.service,
            scenario.caller_script,
            CALLERS[scenario.caller],
            agent=scenario.agi_agent,
            agi_address=f"{agi.host}:{agi.port}",
        )
        calls = await daemon.wait_for_calls(before + 1, within=90)
        return calls[-1]
    await board.call(
        scenario.service,
        scenario.caller_script,
        CALLERS[scenario.caller],
        variables=scenario.variables or None,
    )
    if scenario.transfer_to is not None:
        call_id = await _recorded_call(daemon, before)
        # A few seconds of Alice in the first segment, then her phone transfers.
        await asyncio.sleep(4)
        await board.blind_transfer(call_id, scenario.transfer_to, "sim-transfer")
    if scenario.private:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            counts = await daemon.query(lambda s: s.private_call_counts())
            if counts and daemon.calls.active_calls == 0:
                return {"private_count": sum(c["count"] for c in counts)}
            await asyncio.sleep(0.2)
        raise TimeoutError("the private call did not finish")
    calls = await daemon.wait_for_calls(before + 1, within=90)
    return calls[-1]


async def _recorded_call(daemon: RunningDaemon, before: int, within: float = 60) -> str:
    """The id of the call placed after the first ``before``, once it is recording."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ids = await daemon.query(lambda s: s.call_ids())
        if len(ids) > before:
            call_id = str(ids[-1])
            call = await daemon.query(functools.partial(SqliteStore.call_summary, call_id=call_id))
            if any(r["state"] == "live" for r in call["recordings"]):
                return call_id
        await asyncio.sleep(0.2)
    raise TimeoutError("the call to transfer was not recorded in time")


WhileRunning = Callable[[RunningDaemon, list[dict[str, Any]]], Awaitable[None]]


async def run_scenarios(
    instance: SandboxInstance,
    workdir: Path,
    echo: Callable[[str], None],
    scenarios: Sequence[Scenario] = SCENARIOS,
    *,
    sign_ins: Sequence[SignIn] = (),
    console_port: int | None = None,
    while_running: WhileRunning | None = None,
) -> list[dict[str, Any]]:
    """Puts the scenarios' calls through the daemon; ``while_running``, if given, is
    awaited with the daemon and the calls before the daemon stops."""
    from controller.demo.payment_api import PaymentApi, make_certificates

    site = SandboxSite(instance, workdir)
    site.prepare()
    api = PaymentApi(make_certificates(workdir / "payment-api-ca"))
    await api.start()
    data = demo_config(site, api.url, api.certificates.ca, sign_ins, console_port)
    config = load_config(site.write_config(data))
    draws = [s.draw for s in scenarios if s.draw is not None]
    daemon = RunningDaemon(config, rng=ScriptedRandom(draws))
    await daemon.start()
    results = []
    try:
        async with aiohttp.ClientSession() as session:
            board = Switchboard(instance, session)
            for number, scenario in enumerate(scenarios, start=1):
                echo(f"  call {number:>2}: {scenario.title} ...")
                results.append(await _run_one(daemon, board, scenario))
        if while_running is not None:
            await while_running(daemon, results)
    finally:
        await daemon.stop()
        await api.stop()
    return results


def _outcome(call: dict[str, Any]) -> tuple[str, str, str, str]:
    if "private_count" in call:
        return "private", "-", "-", f"none; only a count is kept ({call['private_count']})"
    agent = (call["decision"] or {}).get("agent_id") or call.get("agent_id") or "-"
    decision = call["decision"]["reason"] if call["decision"] else "-"
    consent = [e for e in call["consent_events"] if e["kind"] == "opt_out"]
    if consent:
        decision += f" (key {consent[0]['key']} in {consent[0]['phase']})"
    recordings = call["recordings"]
    if not recordings:
        recording = "none"
    elif len(recordings) == 1:
        recording = _file(recordings[0])
    else:
        # A transferred call (R3): one recording per segment, each with its agent.
        recording = "; ".join(
            f"segment {rec['segment']} ({rec['agent_id'] or '?'}) {_file(rec)}"
            for rec in recordings
        )
    for pause in call["pauses"]:
        start = dt.datetime.fromisoformat(pause["started_at"])
        end = dt.datetime.fromisoformat(pause["ended_at"]) if pause["ended_at"] else start
        recording += (
            f"; paused {(end - start).total_seconds():.1f} s ({pause['reason']}, resumed by "
            f"{pause['resumed_by']})"
        )
    for payment in call.get("payments", []):
        recording += f"; payment {payment['status']} {payment['amount']} {payment['currency']}"
    for span in call.get("masked_spans", []):
        start = dt.datetime.fromisoformat(span["started_at"])
        end = dt.datetime.fromisoformat(span["ended_at"]) if span["ended_at"] else start
        recording += f"; caller's keys masked {(end - start).total_seconds():.1f} s, not paused"
    return call["outcome"], agent, decision, recording


def _file(rec: dict[str, Any]) -> str:
    if rec["state"] != "stored":
        return str(rec["state"])
    purposes = "+".join(json.loads(rec["purposes"]))
    layout = "stereo WAV" if is_two_channel(rec["name"]) else "WAV"
    return f"{rec['duration_seconds']:.1f} s {layout} ({purposes})"


def report(
    results: list[dict[str, Any]],
    echo: Callable[[str], None],
    scenarios: Sequence[Scenario] = SCENARIOS,
) -> None:
    """One line a call. ``path``: the call row's, ``agi`` for a call that came over
    FastAGI, ``-`` for a private call, whose row is gone."""
    echo("")
    echo(
        f"{'#':>2}  {'scenario':<48} {'caller':<6} {'path':<4} {'outcome':<16} {'agent':<6} "
        f"{'decision':<40} recording"
    )
    for number, (scenario, call) in enumerate(zip(scenarios, results, strict=True), start=1):
        outcome, agent, decision, recording = _outcome(call)
        path = call.get("path") or "-"
        echo(
            f"{number:>2}  {scenario.title:<48} {scenario.caller:<6} {path:<4} {outcome:<16} "
            f"{agent:<6} {decision:<40} {recording}"
        )
