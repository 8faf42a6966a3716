"""A recorded service on the sandbox for fault scenarios: every call is recorded (an
exemption), Alice may be recorded at any hour, so a daemon in its own process with the
real clock and random source behaves the same on every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from controller.ari import AriClient
from controller.config.model import AriSettings
from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from controller.secrets import Secret
from tests.faults.invariants import Invariants

ANYTIME = [{"days": "daily", "from": "00:00", "to": "24:00"}]


def fault_config(
    site: SandboxSite,
    *,
    target: str,
    ari_url: str | None = None,
    endpoint: str = "Local/alice-*",
    sales: dict[str, Any] | None = None,
    more_agents: dict[str, Any] | None = None,
    **sections: Any,
) -> Path:
    """``endpoint``: how Alice's channels are named (``PJSIP/alice`` for her SIP phone);
    ``sales``: more settings of the one service (its outbound section, say);
    ``more_agents``: agents besides Alice (a transfer's target)."""
    site.prepare()
    services = {
        "sales": {
            "language": "fr",
            "purposes": ["quality"],
            "announcement": {
                "sound": site.tone_sound("announce", [(1800.0, 3.0)]),
                "version": "2026-01",
            },
            "full_notice": site.tone_sound("notice", [(2000.0, 2.0)]),
            "no_agent_sound": site.tone_sound("no-agent", [(700.0, 1.0)]),
            "caller_keys": {"opt_out": "9", "full_notice": "0"},
            "exemption": {"legal_basis": "Fault-injection test site"},
            "target": target,
            "answer_timeout": 5,
            "retention_days": 90,
        }
        | (sales or {})
    }
    agents = {"alice": {"name": "Alice Martin", "endpoints": [endpoint], "windows": ANYTIME}}
    agents |= more_agents or {}
    data = site.config_data(services=services, agents=agents, **sections)
    if ari_url is not None:
        data["ari"]["url"] = ari_url
    return site.write_config(data)


def direct_client(instance: SandboxInstance, session: aiohttp.ClientSession) -> AriClient:
    settings = AriSettings(
        url=instance.ari_url,
        username=instance.ari_username,
        password=Secret(instance.ari_password, "sandbox"),
    )
    return AriClient(settings, session)


def asterisk_address(instance: SandboxInstance) -> tuple[str, int]:
    parts = urlsplit(instance.ari_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def invariants(site: SandboxSite, client: AriClient) -> Invariants:
    folder = site.instance.recording_dir
    return Invariants(
        client=client,
        app="reccontrol",
        recording_dir=folder,
        store=site.workdir / "reccontrol.sqlite3",
        vault=site.workdir / "vault",
        preexisting=frozenset(p.name for p in folder.iterdir()),
    )
