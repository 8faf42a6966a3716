"""``reccontrol run`` with an ``agi`` section: the FastAGI server starts and stops with
the daemon, and a busy FastAGI port stops the daemon with one line naming
``agi.listen`` before it touches ARI (R1, R2)."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.component.fake_agi import FakeAsterisk, header
from tests.component.test_single_instance import Site, finished, reccontrol_run, site
from tests.integration.conftest import free_port
from tests.waiting import eventually

__all__ = ["site"]


async def healthz(site: Site) -> dict[str, Any]:
    """``/healthz`` with its figures, as a person of the access list asks for it."""
    data = yaml.safe_load(site.config.read_text())
    token = (site.config.parent / "access" / "tadmin.token").read_text().strip()
    url = f"http://127.0.0.1:{data['web']['port']}/healthz"
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url, params={"person": "tadmin"}, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        body: dict[str, Any] = await response.json()
        return body


async def metrics(site: Site) -> dict[str, float]:
    """``/metrics``, each unlabelled sample by name."""
    data = yaml.safe_load(site.config.read_text())
    url = f"http://127.0.0.1:{data['web']['port']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


# Far below any open-file limit, so the cap is the configured one.
CAP = 40


def add_agi(site: Site, port: int) -> None:
    data = yaml.safe_load(site.config.read_text())
    data["agi"] = {
        "listen": f"127.0.0.1:{port}", "read_timeout_seconds": 5, "max_connections": CAP
    }
    # Required with agi; nobody answers on the port, and the FastAGI server does not wait
    # for AMI.
    secret = {k: v for k, v in data["ari"].items() if k.startswith("password")}
    data["ami"] = {"username": "reccontrol", "port": free_port(), **secret}
    site.config.write_text(yaml.safe_dump(data))


async def test_r1_busy_fastagi_port_stops_the_daemon_before_ari(site: Site) -> None:
    port = free_port()
    add_agi(site, port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        code, lines = await finished(await reccontrol_run(site))
    assert code == 1
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "(agi.listen)" in lines[0]
    assert "Traceback" not in "\n".join(lines)
    assert site.fake.requests == []


async def test_r2_the_daemon_serves_fastagi_until_sigterm(site: Site) -> None:
    port = free_port()
    add_agi(site, port)
    daemon = await reccontrol_run(site)
    try:
        await asyncio.wait_for(site.fake.connected.wait(), 60)
        asterisk = await FakeAsterisk.connect(port)
        await asterisk.send(header("inbound?service=nosuch"))
        await asterisk.serve({})
        assert asterisk.commands == ['SET VARIABLE "RECCONTROL_ERROR" "unknown-service"']
        junk = await FakeAsterisk.connect(port)
        await junk.send(b"GET / HTTP/1.1\r\n\r\n")
        await junk.closed_after()
        health = await healthz(site)
        assert {k: v for k, v in health.items() if k.startswith("agi_")} == {
            "agi_sessions": 2,
            "agi_active": 0,
            "agi_cap": CAP,
            "agi_refused": 0,
            "agi_bad_headers": 1,
            "agi_unknown_scripts": 0,
            "agi_script_errors": 0,
        }
        # Nobody answers on the AMI port: FastAGI serves all the same.
        assert health["ami_connected"] is False
        # R4: /metrics tells the same of the FastAGI path, to a scraper on the loopback.
        figures = await metrics(site)
        assert figures["reccontrol_agi_sessions_total"] == 2
        assert figures["reccontrol_agi_active"] == 0
        assert figures["reccontrol_ami_connected"] == 0
    finally:
        daemon.send_signal(signal.SIGTERM)
        await asyncio.wait_for(daemon.wait(), 60)
    assert daemon.returncode == 0

    async def refused() -> bool | None:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return True
        writer.close()
        return None

    assert await eventually(refused, "the FastAGI port closed with the daemon")
