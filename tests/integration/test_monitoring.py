"""/metrics and /readyz against the real Asterisk (R4): a recorded call whose agent
pauses with *2 moves the key → pause histogram, the calls, decisions and recordings
counters; the daemon is ready while connected."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.demo.site import SandboxSite
from controller.sandbox import SandboxInstance
from tests.integration.flow import Flow, running_flow, service
from tests.waiting import eventually

CALLER_NUMBER = "+33611112222"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def site(asterisk: SandboxInstance, tmp_path: Path) -> SandboxSite:
    return SandboxSite(asterisk, tmp_path / "site")


async def scrape(flow: Flow) -> Samples:
    """Every sample of /metrics, by (name, labels), scraped over HTTP like Prometheus."""
    web = flow.daemon.config.web
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{web.host}:{web.port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_r4_a_paused_recorded_call_moves_the_histogram_and_the_counters(
    site: SandboxSite,
) -> None:
    services = {"sales": service(site, target="Local/alice-pause@sim-agent")}
    async with running_flow(site, services=services, draws=[0.0]) as flow:
        web = flow.daemon.config.web
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{web.host}:{web.port}/readyz") as response,
        ):
            assert response.status == 200, await response.text()
        before = await scrape(flow)
        await flow.board.call("sales", "c-talk-14", CALLER_NUMBER)
        (call,) = await flow.daemon.wait_for_calls(1)

        async def settled() -> Samples | None:
            samples = await scrape(flow)
            stored = one(samples, "reccontrol_recordings_total", state="stored")
            return samples if stored == 1 else None

        after = await eventually(settled, "the recording counted as stored")

    (pause,) = call["pauses"]
    assert pause["paused_by"] == "alice"
    histogram = "reccontrol_key_to_pause_seconds"
    assert one(before, f"{histogram}_count") == 0
    assert one(after, f"{histogram}_count") == 1
    assert one(after, f"{histogram}_bucket", le="+Inf") == 1
    # Asterisk answered the protective call in well under the last finite bucket.
    assert one(after, f"{histogram}_bucket", le="5.0") == 1
    assert 0 < one(after, f"{histogram}_sum") < 5
    outcome = call["outcome"]
    assert one(before, "reccontrol_calls_ended_total", outcome=outcome) == 0
    assert one(after, "reccontrol_calls_ended_total", outcome=outcome) == 1
    reason = call["decision"]["reason"]
    assert one(after, "reccontrol_decisions_total", reason=reason, record="true") == 1
    assert one(after, "reccontrol_active_calls") == 0
    assert one(after, "reccontrol_ari_connected") == 1
