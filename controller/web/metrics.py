"""``GET /metrics``: the daemon's figures in Prometheus text format (R4).

One :class:`CollectorRegistry` per application, never the library's global one: a test
process runs several daemons, and each must show its own figures. Nothing is counted
twice: the collector reads, at scrape time, the counters the daemon keeps anyway (the
event stream's, the call manager's, the FastAGI server's, the purge's), plus what the
store counted of its own writes, read on the store thread. Nothing here runs on the
protective keys' path; the key → pause histogram is filled where the call layer already
times each protective REST call (``CommandExecutor``).

Scrapes are limited (``web.metrics``): from an allowed address, 403 otherwise; and with
the token when one is configured, 401 otherwise. A refusal carries no figure.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from controller.audit.errors import AccessLogError
from controller.calls.latency import LatencyHistogram
from controller.config.model import MetricsSettings
from controller.store import SqliteStore
from controller.store.figures import StoreFigures
from controller.web.errors import error
from controller.web.keys import AGI, AMI, CALLS, CONFIG, PUMP, PURGE, SOUNDS, STORE, STREAM, WITNESS

# How long a scrape waits for the store thread; past it, the figures the store counts
# are left out (``reccontrol_store_answered`` 0) and the others still answer.
STORE_TIMEOUT = 2.0

ADDRESS_REFUSED = "metrics-address-refused"
TOKEN_REFUSED = "metrics-token-refused"  # noqa: S105 - an error_id, not a secret


@dataclass(frozen=True)
class Refusal:
    status: int
    error_id: str
    message: str


def _address(remote: str | None) -> IPv4Address | IPv6Address | None:
    if not remote:
        return None
    try:
        address = ip_address(remote.split("%", 1)[0])
    except ValueError:
        return None
    # An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def scrape_refusal(
    remote: str | None, authorization: str, settings: MetricsSettings
) -> Refusal | None:
    """Why this scrape is refused, or None. Behind a reverse proxy ``remote`` is the
    proxy's address: list it, and require the token."""
    address = _address(remote)
    if address is None or not any(address in network for network in settings.allow):
        return Refusal(403, ADDRESS_REFUSED, "this address may not scrape the metrics")
    if settings.token is not None:
        given = authorization[7:].strip() if authorization.startswith("Bearer ") else ""
        expected = settings.token.reveal()
        # Compared in constant time: the answer's timing tells nothing of the token.
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Refusal(401, TOKEN_REFUSED, "send the scrape token as Bearer")
    return None


@dataclass(frozen=True)
class StoreState:
    """What the scrape reads on the store thread."""

    figures: StoreFigures
    access_log: AccessLogError | None


def _store_state(store: SqliteStore) -> StoreState:
    try:
        blocker = store.access_log_blocker()
    except Exception as exc:
        # The log's own tables cannot be read: it cannot be written either.
        blocker = AccessLogError(f"the access log cannot be read ({type(exc).__name__})")
    return StoreState(store.figures.copy(), blocker)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def histogram(name: str, doc: str, tally: LatencyHistogram) -> HistogramMetricFamily:
    buckets = [
        ("+Inf" if bound == float("inf") else repr(bound), float(count))
        for bound, count in tally.cumulative()
    ]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=tally.sum)


def store_families(state: StoreState | None) -> Iterator[Metric]:
    yield _gauge(
        "reccontrol_store_answered",
        "1 if the store thread answered this scrape in time; 0 leaves out the store's figures",
        0 if state is None else 1,
    )
    if state is None:
        return
    calls = CounterMetricFamily(
        "reccontrol_calls_ended", "Calls ended since start, by outcome", labels=["outcome"]
    )
    for outcome, count in sorted(state.figures.calls_ended.items()):
        calls.add_metric([outcome], count)
    yield calls
    decisions = CounterMetricFamily(
        "reccontrol_decisions",
        "Recording decisions since start, by reason and whether to record",
        labels=["reason", "record"],
    )
    for (reason, record), count in sorted(state.figures.decisions.items()):
        decisions.add_metric([reason, "true" if record else "false"], count)
    yield decisions
    recordings = CounterMetricFamily(
        "reccontrol_recordings",
        "Recordings settled since start: stored in the vault, discarded, failed or missing",
        labels=["state"],
    )
    for state_name, count in sorted(state.figures.recordings.items()):
        recordings.add_metric([state_name], count)
    yield recordings
    yield _gauge(
        "reccontrol_access_log_writable",
        "1 if the access log can be written; 0: every audited access is refused (S7)",
        1 if state.access_log is None else 0,
    )


class DaemonCollector:
    """Reads the daemon's figures when the registry is collected."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self.store_state: StoreState | None = None
        """Read on the store thread by the scrape, just before it collects."""

    def collect(self) -> Iterator[Metric]:
        app = self._app
        stream, calls, counters = app[STREAM], app[CALLS], app[PUMP].counters
        yield from store_families(self.store_state)
        yield histogram(
            "reccontrol_key_to_pause_seconds",
            "From the agent's key event to Asterisk's answer to the protective REST call "
            "(pause or stop the recording), ARI path",
            calls.key_to_pause,
        )
        yield _gauge("reccontrol_active_calls", "Calls in progress", calls.active_calls)
        yield _counter(
            "reccontrol_recording_failures",
            "Recordings lost since start (failed, never started, or ended by themselves)",
            calls.recording_failures,
        )
        yield _gauge(
            "reccontrol_ari_connected",
            "1 while ARI's events websocket is connected",
            int(stream.connected),
        )
        yield _counter(
            "reccontrol_ari_reconnects",
            "Events websocket connections after the first one since start",
            max(0, stream.connections - 1),
        )
        yield _counter(
            "reccontrol_ari_forced_reconnects",
            "Connections dropped because the watchdog's probe failed",
            counters.forced_reconnects,
        )
        yield _counter(
            "reccontrol_ari_events_dropped",
            "Event messages that could not be decoded",
            stream.dropped,
        )
        yield _counter(
            "reccontrol_ari_events_refused",
            "Events ignored: another application's, or about a channel not ours",
            calls.events_refused,
        )
        yield _counter(
            "reccontrol_event_handler_errors",
            "Events whose handling raised (logged, the loop went on)",
            counters.handler_errors,
        )
        yield _gauge(
            "reccontrol_store_queue_depth",
            "Calls waiting for the store thread, the one running included",
            app[STORE].queued,
        )
        purge = app[PURGE]
        yield _counter("reccontrol_purge_runs", "Scheduled purges completed", purge.runs)
        yield _counter(
            "reccontrol_purge_failures",
            "Scheduled purges that raised or ended with errors",
            purge.failures,
        )
        yield _gauge(
            "reccontrol_sounds_missing",
            "Configured sounds Asterisk lacks, at the last check",
            app[SOUNDS].missing,
        )
        yield from self._optional()

    def _optional(self) -> Iterator[Metric]:
        """The figures of what only some sites configure."""
        app = self._app
        witness = app[WITNESS]
        if witness is not None:
            yield _counter(
                "reccontrol_witness_failures",
                "Publications of the access log's head that failed (S7)",
                witness.failures,
            )
        ami = app[AMI]
        if ami is not None:
            connected = int(ami.connected.is_set())
            yield _gauge("reccontrol_ami_connected", "1 while AMI is logged in", connected)
        agi = app[AGI]
        if agi is not None:
            sessions = agi.counters.sessions
            yield _counter("reccontrol_agi_sessions", "FastAGI sessions since start", sessions)
            yield _gauge("reccontrol_agi_active", "FastAGI sessions open now", agi.active)
            yield _counter(
                "reccontrol_agi_refused",
                "FastAGI connections closed at once: the session cap was reached",
                agi.counters.refused,
            )
            yield _counter(
                "reccontrol_agi_script_errors",
                "FastAGI sessions whose script failed",
                agi.counters.script_errors,
            )


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    collector: DaemonCollector


METRICS = web.AppKey("metrics", Metrics)


async def scrape(request: web.Request) -> web.Response:
    app = request.app
    refusal = scrape_refusal(
        request.remote, request.headers.get("Authorization", ""), app[CONFIG].web.metrics
    )
    if refusal is not None:
        answer = error(refusal.status, refusal.error_id, refusal.message)
        if refusal.status == 401:
            answer.headers["WWW-Authenticate"] = 'Bearer realm="reccontrol metrics"'
        return answer
    state: StoreState | None
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            state = await app[STORE].run(_store_state)
    except TimeoutError:
        state = None
    metrics = app[METRICS]
    # Set and collected with no await in between: concurrent scrapes cannot mix.
    metrics.collector.store_state = state
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    collector = DaemonCollector(app)
    registry = CollectorRegistry()
    registry.register(collector)
    app[METRICS] = Metrics(registry, collector)
    app.router.add_get("/metrics", scrape)
