"""``GET /metrics`` (R4) on the real daemon application against a fake ARI: Prometheus
text format, every family present, each application with its own registry, and scrapes
limited by address and token, a refusal carrying no figure."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.component.daemon_rig import Rig, running
from tests.waiting import eventually

TOKEN = "scrape-token-0123456789"

# Always there (the witness's with a witness file); a FastAGI site adds its own.
FAMILIES = {
    "reccontrol_store_answered": "gauge",
    "reccontrol_calls_ended": "counter",
    "reccontrol_decisions": "counter",
    "reccontrol_recordings": "counter",
    "reccontrol_access_log_writable": "gauge",
    "reccontrol_key_to_pause_seconds": "histogram",
    "reccontrol_active_calls": "gauge",
    "reccontrol_recording_failures": "counter",
    "reccontrol_ari_connected": "gauge",
    "reccontrol_ari_reconnects": "counter",
    "reccontrol_ari_forced_reconnects": "counter",
    "reccontrol_ari_events_dropped": "counter",
    "reccontrol_ari_events_refused": "counter",
    "reccontrol_event_handler_errors": "counter",
    "reccontrol_store_queue_depth": "gauge",
    "reccontrol_purge_runs": "counter",
    "reccontrol_purge_failures": "counter",
    "reccontrol_sounds_missing": "gauge",
    "reccontrol_witness_failures": "counter",
}


async def scrape(rig: Rig, headers: dict[str, str] | None = None) -> dict[str, Metric]:
    response = await rig.client.get("/metrics", headers=headers or {})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    return {f.name: f for f in text_string_to_metric_families(await response.text())}


def value(families: dict[str, Metric], name: str, sample: str | None = None) -> float:
    (found,) = [s.value for s in families[name].samples if s.name == (sample or name)]
    return float(found)


async def test_r4_every_family_is_there_in_prometheus_text_format(tmp_path: Path) -> None:
    witness = {"witness_file": str(tmp_path / "audit-head.log")}
    async with running(tmp_path, audit_extra=witness) as rig:
        await rig.ready()
        families = await scrape(rig)
    assert {name: f.type for name, f in families.items() if name in FAMILIES} == FAMILIES
    assert value(families, "reccontrol_ari_connected") == 1
    assert value(families, "reccontrol_ari_reconnects", "reccontrol_ari_reconnects_total") == 0
    assert value(families, "reccontrol_store_answered") == 1
    assert value(families, "reccontrol_access_log_writable") == 1
    assert value(families, "reccontrol_active_calls") == 0
    assert value(families, "reccontrol_witness_failures", "reccontrol_witness_failures_total") == 0
    key = families["reccontrol_key_to_pause_seconds"]
    buckets = [s for s in key.samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels == {"le": "+Inf"} and buckets[-1].value == 0
    # No call yet: the labelled counters have no sample, not a made-up zero.
    assert families["reccontrol_calls_ended"].samples == []


async def test_r4_each_daemon_shows_its_own_figures_and_reconnects_are_counted(
    tmp_path: Path,
) -> None:
    """Two daemons in one process: one reconnects after its websocket drops, the other
    does not; each /metrics tells its own (no global registry)."""
    async with running(tmp_path / "one") as one, running(tmp_path / "two") as two:
        await one.ready()
        await two.ready()
        await one.fake.drop()

        async def reconnected() -> dict[str, Metric] | None:
            families = await scrape(one)
            total = "reccontrol_ari_reconnects_total"
            return families if value(families, "reccontrol_ari_reconnects", total) == 1 else None

        await eventually(reconnected, "the reconnection counted")
        others = await scrape(two)
    assert value(others, "reccontrol_ari_reconnects", "reccontrol_ari_reconnects_total") == 0


async def test_r4_a_scrape_from_an_address_not_allowed_gets_403_and_no_figure(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, web_extra={"metrics": {"allow": ["192.0.2.0/24"]}}) as rig:
        response = await rig.client.get("/metrics")
        body = await response.text()
    assert response.status == 403
    assert (await response.json())["error_id"] == "metrics-address-refused"
    assert "reccontrol_" not in body


async def test_r4_with_a_token_a_scrape_without_it_gets_401_and_no_figure(
    tmp_path: Path,
) -> None:
    extra = {"metrics": {"token_env": "RECCONTROL_METRICS_TOKEN"}}
    env = {"RECCONTROL_METRICS_TOKEN": TOKEN}
    async with running(tmp_path, web_extra=extra, environ=env) as rig:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            response = await rig.client.get("/metrics", headers=headers)
            body = await response.text()
            assert response.status == 401, headers
            assert (await response.json())["error_id"] == "metrics-token-refused"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "reccontrol_" not in body and TOKEN not in body
        families = await scrape(rig, {"Authorization": f"Bearer {TOKEN}"})
    assert "reccontrol_active_calls" in families
