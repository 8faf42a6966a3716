"""A reccontrol site on a sandbox Asterisk: config, daemon and a switchboard that places
scripted calls. The demo runs on it, and so do the integration tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from controller.ami.client import AmiClient
from controller.ari.client import AriClient
from controller.ari.models import Channel
from controller.calls.ids import agent_leg
from controller.calls.manager import CallManager
from controller.clock import Clock
from controller.config import Config
from controller.config.model import AmiSettings, AriSettings
from controller.daemon import build_app
from controller.demo.sounds import write_tones
from controller.sandbox import SandboxInstance
from controller.secrets import Secret
from controller.store import SqliteStore, StoreThread
from controller.web.keys import CALLS, STORE, STREAM
from controller.web.tls import server_context


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The ARI application of a sandbox site's daemon.
ARI_APP = "reccontrol"


@dataclass
class SandboxSite:
    """Files of one reccontrol installation pointed at a sandbox instance."""

    instance: SandboxInstance
    workdir: Path

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._secret_file("ari-password", self.instance.ari_password)
        if self.instance.ami_password:
            self._secret_file("ami-password", self.instance.ami_password)
        # Keys are made once per site: a new one would not match what the store holds.
        for name in ("caller-hmac-key", "audit-key"):
            if not (self.workdir / name).exists():
                self._secret_file(name, secrets.token_urlsafe(32))

    def _secret_file(self, name: str, value: str) -> None:
        path = self.workdir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")

    def sound(self, name: str) -> str:
        """The sound name to put in a service config for a file in the sounds folder."""
        return self.instance.media_uri(name).removeprefix("sound:")

    def tone_sound(self, name: str, parts: list[tuple[float, float]]) -> str:
        write_tones(self.instance.sounds_dir / f"{name}.wav", parts)
        return self.sound(name)

    def config_data(
        self, *, services: dict[str, Any], agents: dict[str, Any], **sections: Any
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "organisation": {
                "name": "Démo Relation Client SAS",
                "address": "1 rue de la Démo, 75011 Paris",
                "dpo": {"name": "Claire Dubois", "email": "dpo@demo.example"},
            },
            "timezone": "Europe/Paris",
            "ari": {
                "url": self.instance.ari_url,
                "username": self.instance.ari_username,
                "password_file": str(self.workdir / "ari-password"),
                "app": ARI_APP,
                "reconnect": {"initial_delay": 0.1, "max_delay": 1},
                "event_log": str(self.workdir / "ari-events.jsonl"),
            },
            "store": {"path": str(self.workdir / "reccontrol.sqlite3")},
            "recordings": {
                "asterisk_dir": str(self.instance.recording_dir),
                "vault_dir": str(self.workdir / "vault"),
            },
            "privacy": {"caller_hmac_key_file": str(self.workdir / "caller-hmac-key")},
            # S7: keyed like every shipped deployment (an unkeyed one raises an alert).
            "audit": {"checkpoint_key_file": str(self.workdir / "audit-key")},
            "web": {"host": "127.0.0.1", "port": free_port()},
            # A8: nothing is recorded before the staff representatives were informed.
            "legal": {"staff_representatives_informed": "2025-01-06"},
            "agents": agents,
            "services": services,
        }
        if "agi" in sections and "ami" not in sections:
            # The FastAGI path needs AMI: the instance's own user (manager.conf).
            data["ami"] = {
                "host": "127.0.0.1",
                "port": self.instance.ami_port,
                "username": self.instance.ami_username,
                "password_file": str(self.workdir / "ami-password"),
            }
        data.update(sections)
        return data

    def write_config(self, data: dict[str, Any], name: str = "reccontrol.yaml") -> Path:
        path = self.workdir / name
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return path


class ScriptedRandom(random.SystemRandom):
    """Draws come from a script, then from the OS CSPRNG; ids are always CSPRNG.

    Lets the demo and the tests say in advance whether a call will be sampled.
    """

    def __init__(self, draws: list[float] | None = None) -> None:
        super().__init__()
        self.draws = list(draws or [])

    def random(self) -> float:
        if self.draws:
            return self.draws.pop(0)
        return super().random()


class RunningDaemon:
    """The daemon, in this process and event loop, as ``reccontrol run`` builds it."""

    def __init__(
        self, config: Config, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.app = build_app(config, clock=clock, rng=rng)
        self._runner = web.AppRunner(self.app, access_log=None)

    async def start(self, within: float = 10.0) -> None:
        await self._runner.setup()
        web_settings = self.config.web
        site = web.TCPSite(
            self._runner,
            web_settings.host,
            web_settings.port,
            # HTTPS when web.tls names a certificate, as `reccontrol run` serves it.
            ssl_context=server_context(web_settings),
        )
        await site.start()
        deadline = time.monotonic() + within
        while self.app[STREAM].connections < 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the daemon did not connect to ARI")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def store(self) -> StoreThread[SqliteStore]:
        return self.app[STORE]

    @property
    def calls(self) -> CallManager:
        return self.app[CALLS]

    async def query(self, fn: Callable[[SqliteStore], Any]) -> Any:
        return await self.store.run(fn)

    async def wait_for_calls(self, count: int, within: float = 30.0) -> list[dict[str, Any]]:
        """Waits until ``count`` calls have ended and their recordings settled."""
        deadline = time.monotonic() + within
        while True:
            summaries = await self.query(lambda s: [s.call_summary(i) for i in s.call_ids()])
            done = [
                call
                for call in summaries
                if call["ended_at"] and all(r["state"] != "live" for r in call["recordings"])
            ]
            if len(done) >= count and self.calls.active_calls == 0:
                return list(summaries)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(done)} of {count} call(s) finished within {within} s: {summaries}"
                )
            await asyncio.sleep(0.1)


class Switchboard:
    """Places scripted calls into the sandbox, as a trunk and phones would."""

    def __init__(self, instance: SandboxInstance, session: aiohttp.ClientSession) -> None:
        settings = AriSettings(
            url=instance.ari_url,
            username=instance.ari_username,
            password=Secret(instance.ari_password, "sandbox"),
        )
        self.client = AriClient(settings, session)
        self._ami = AmiSettings(
            instance.ami_username,
            Secret(instance.ami_password, "sandbox"),
            port=instance.ami_port,
        )

    async def call(
        self,
        service: str,
        caller_script: str,
        number: str | None = None,
        variables: dict[str, str] | None = None,
        formats: str | None = None,
    ) -> Channel:
        """A call from ``number`` to ``service``; the caller follows ``caller_script``
        (an extension of the sim-caller context). ``formats``: the codecs of the caller's
        Local channel, as a trunk's would have (``ulaw``); by default every audio format,
        and Asterisk then runs the channel at 192 kHz. The agent's leg, which the daemon
        dials with the caller as originator, takes the same codecs."""
        channel_vars = dict(variables or {})
        if number:
            channel_vars["SIM_CALLER_NUMBER"] = number
        return await self.client.originate(
            f"Local/{service}@sim-entry",
            context="sim-caller",
            extension=caller_script,
            formats=formats,
            variables=channel_vars or None,
        )

    async def site_call(
        self,
        service: str,
        caller_script: str,
        number: str,
        *,
        agent: str,
        agi_address: str,
        tag: str | None = None,
    ) -> Channel:
        """A call from ``number`` into a dialplan-only site (``sim-agi-dial``): the
        ``inbound`` script of the daemon at ``agi_address`` announces ``service``, then
        the site's own ``Dial()`` reaches ``Local/<agent>@sim-agent/n`` with the shipped
        ``reccontrol-agi-connected`` subroutine. ``tag``: the suffix of the globals the
        site's dialplan copies what the script left into (``SIM_AGI_CALL_ID_<tag>``)."""
        return await self.client.originate(
            f"Local/{service}@sim-agi-dial",
            context="sim-caller",
            extension=caller_script,
            variables={
                # Inherited by every channel of the call, hang-up handlers included.
                "__RECCONTROL_AGI": agi_address,
                "SIM_TAG": tag or secrets.token_hex(4),
                "SIM_CALLER_NUMBER": number,
                # /n: the Local channel stays, so MixMonitor stays on the agent's channel.
                "SIM_AGENT": f"Local/{agent}@sim-agent/n",
            },
        )

    async def dial_out(self, agent: str, service: str, number: str, agent_script: str) -> Channel:
        """An outbound call: ``agent``'s phone dials ``number`` for ``service`` through
        reccontrol-outbound; the agent follows ``agent_script`` (an extension of the
        sim-agent context) once the customer answered."""
        return await self.client.originate(
            f"Local/{agent}-phone@sim-outphone",
            context="sim-agent",
            extension=agent_script,
            variables={"SIM_DIAL": f"{service}-{number}"},
        )

    async def blind_transfer(self, call_id: str, target: str, context: str) -> None:
        """The agent of ``call_id`` transfers the caller to ``target@context``, blind, as
        the agent's phone would with a SIP REFER: AMI's ``BlindTransfer`` makes Asterisk
        run the same transfer out of the application's bridge (a Local channel takes
        the agent's place, and the daemon sees exactly what a REFER makes it see)."""
        agent = await self.client.get_channel(agent_leg(call_id))
        ami = AmiClient(self._ami)
        await ami.connect()
        try:
            fields = {"Channel": agent.name, "Exten": target, "Context": context}
            await ami.send("BlindTransfer", fields)
        finally:
            await ami.close()


def paris_weekday_10h() -> dt.datetime:
    """A moment inside office hours (the next Wednesday, 10:00 in Paris), in UTC."""
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    today = dt.datetime.now(paris).date()
    wednesday = today + dt.timedelta(days=(2 - today.weekday()) % 7)
    return dt.datetime.combine(wednesday, dt.time(10), paris).astimezone(dt.UTC)
