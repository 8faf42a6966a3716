"""The web console on a large store: the calls list, a call's page, the 30-day sampling
report, the /metrics and /readyz scrapes, and a large recording streamed.

Everything goes through the daemon's own application (:func:`controller.daemon.build_app`,
with the console, against a fake ARI), served on a free loopback port and asked over a
real socket by aiohttp's client, as a person's script would (token as Bearer with
``X-Reccontrol-Person``): each request passes the sign-in, the gate and the access log.
The client shares the process and event loop with the application, so a figure is the
whole round trip, both sides' CPU included.

The store is filled first with generated calls. A template of 1,000 is written by the
store's own methods (``begin_call``, ``record_decision``, ``open_recording``, ``end_call``...),
so the rows are the ones the daemon writes, in one transaction; the rest are copies of
those rows, ids and times moved, inserted set-based: the store's methods one call at a
time would take minutes for 100,000 calls.

The recording's memory is the process's peak RSS (``VmHWM``) while it streams, against its
RSS just before: the peak is reset first (``/proc/self/clear_refs``), so what the store's
generation used earlier does not hide it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import secrets
import tempfile
import time
import wave
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bench.stats import summarize
from controller.config import Config, load_config
from controller.daemon import build_app
from controller.privacy import caller_hash
from controller.records import Decision
from controller.store import SqliteStore
from controller.store.records import CallStart
from controller.store.timestamps import from_text, to_text
from tests.component.fake_ari import PASSWORD, FakeAri, ari_section
from tests.sites import ENV, add_recording, open_site, site_config, write_site

MIB = 1024 * 1024
# Generated calls spread over the last 29 days: inside the 30-day report, and younger
# than every service's retention, so no purge runs on them during the bench.
SPREAD_DAYS = 29
AGENTS = tuple(f"agent{n:02d}" for n in range(20))
SERVICES = ("sales", "support")
# The decision reasons in roughly the proportions of a contact centre, one in ten
# outside the windows, one in fifty a remembered objection (P3, C4).
REASONS = (
    ("sampled", 40),
    ("not_sampled", 45),
    ("outside_service_window", 8),
    ("outside_agent_window", 5),
    ("remembered_objection", 2),
)
# The reason filtered on: a rare one, the listing's hardest case with the cursor order.
FILTER_REASON = "remembered_objection"
PERSON = "cdubois"  # the DPO: every service
LISTENER = "mleroy"  # a sales supervisor: may listen
PURPOSE = "quality review"
BATCH = 5000
TEMPLATE = 1000
"""Calls written one by one by the store's methods; the others are copies of them.
A multiple of 100 and of the agents and services: each copy keeps the proportions."""
PAGE = 50
DEEP_PAGES = 100
"""The deep page: 100 pages of 50 in (the 5,001st call), followed cursor by cursor."""
MIN_CALLS = PAGE * (DEEP_PAGES + 1)
STREAM_CHUNK = 64 * 1024


@dataclass(frozen=True)
class GeneratedCall:
    """One generated call: what the store's methods are called with."""

    call_id: str
    service: str
    started_at: dt.datetime
    seconds: int
    agent: str
    reason: str
    number: str


def reason_at(index: int) -> str:
    """The decision reason of the ``index``-th call, in :data:`REASONS`' proportions."""
    total = sum(weight for _, weight in REASONS)
    slot = (index * 37) % total  # 37 is prime to 100: the reasons interleave
    for reason, weight in REASONS:
        if slot < weight:
            return reason
        slot -= weight
    raise AssertionError("unreachable: the slots cover the weights")


def generated_call(index: int, total: int, now: dt.datetime) -> GeneratedCall:
    """The ``index``-th of ``total`` calls: started evenly over :data:`SPREAD_DAYS` days
    before ``now``, newest first, agents and services in turn. Its id begins with its
    index in 8 hex digits (see :func:`shifted_key`)."""
    span = dt.timedelta(days=SPREAD_DAYS).total_seconds()
    started = now - dt.timedelta(seconds=span * (index + 1) / total)
    return GeneratedCall(
        call_id=f"{index:08x}{secrets.token_hex(4)}",
        service=SERVICES[index % len(SERVICES)],
        started_at=started.replace(microsecond=0),
        seconds=60 + (index * 7919) % 600,
        agent=AGENTS[index % len(AGENTS)],
        reason=reason_at(index),
        number=f"+336{index % 100_000_000:08d}",
    )


def status_kib(status: str, field: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (``VmRSS``, ``VmHWM``)."""
    found = re.search(rf"^{field}:\s+(\d+) kB$", status, re.MULTILINE)
    if found is None:
        raise ValueError(f"/proc status has no {field} line")
    return int(found.group(1))


def growth_mib(before_kib: int, peak_kib: int) -> float:
    """How far the peak RSS rose above the RSS before, in MiB (0 when it did not)."""
    return max(0, peak_kib - before_kib) / 1024


class BatchedStore(SqliteStore):
    """The store with its one-transaction-per-method rule relaxed inside :meth:`batch`:
    there, each method's writes join the batch's transaction. For generating data only."""

    _batched = False

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if self._batched:
            yield self.db
            return
        with super().transaction() as db:
            yield db

    @contextmanager
    def batch(self) -> Iterator[None]:
        with super().transaction():
            self._batched = True
            try:
                yield
            finally:
                self._batched = False


def write_template(
    store: BatchedStore, config: Config, calls: Sequence[GeneratedCall], audio_path: str
) -> None:
    """The calls as the call flow writes them: the call, its decision, a recording for
    the sampled ones (its file at ``audio_path``), its end; in one transaction."""
    key = config.privacy.caller_hmac_key
    with store.batch():
        for call in calls:
            _write_call(store, config, call, caller_hash(key, call.number), audio_path)


def _write_call(
    store: SqliteStore, config: Config, call: GeneratedCall, hashed: str | None, audio_path: str
) -> None:
    start = call.started_at
    end = start + dt.timedelta(seconds=call.seconds)
    sampled = call.reason == "sampled"
    store.begin_call(CallStart(call.call_id, call.service, "inbound", start, hashed), "v1")
    drawn = call.reason in ("sampled", "not_sampled")
    draw = (0.2 if sampled else 0.8) if drawn else None
    in_window = not call.reason.startswith("outside")
    store.record_decision(
        Decision(call.call_id, start, sampled, call.reason, 0.5, draw, in_window, "office",
                 call.agent)
    )  # fmt: skip
    if sampled:
        # The listing and the call's page read rows, never the file: all share one.
        recording_id = call.call_id + "r"
        retention = config.services[call.service].retention_days
        store.open_recording(
            recording_id, call.call_id, call.call_id, "wav", ("quality",), start, retention
        )
        store.finish_recording(
            recording_id,
            audio_path,
            float(call.seconds),
            "0" * 64,
            end,
        )
    store.end_call(call.call_id, end, "completed", call.agent, True)


# Per table the store's call methods write: the columns naming a call (its index in the
# first 8 hex digits, see generated_call) and the timestamps.
KEYS = {"calls": ("id",), "decisions": ("call_id",), "recordings": ("id", "call_id", "name")}
TIMES = {
    "calls": ("started_at", "ended_at"),
    "decisions": ("decided_at",),
    "recordings": ("created_at", "expires_at", "ended_at"),
}


def shifted_key(key: str, offset: int) -> str:
    """The id of the call ``offset`` places further than the one ``key`` names."""
    return f"{int(key[:8], 16) + offset:08x}{key[8:]}"


def shifted_time(text: str | None, back: dt.timedelta) -> str | None:
    return None if text is None else to_text(from_text(text) - back)


def copied_row(table: str, row: dict[str, Any], offset: int, back: dt.timedelta) -> dict[str, Any]:
    """A template row as the store would have written it for the call ``offset`` places
    further, started ``back`` earlier."""
    copy = dict(row)
    for column in KEYS[table]:
        copy[column] = shifted_key(row[column], offset)
    for column in TIMES[table]:
        copy[column] = shifted_time(row[column], back)
    return copy


def copy_template(store: SqliteStore, template: int, total: int, step: dt.timedelta) -> None:
    """Fills the store up to ``total`` calls with copies of the ``template`` calls it
    holds (calls 0 to template - 1), set-based: copy ``n`` of call ``i`` is call
    ``i + n * template``, ``n * template`` steps earlier, with the same service, agent,
    decision and caller. :data:`BATCH` rows to a statement batch, one transaction."""
    with store.transaction() as db:
        for table in KEYS:
            rows = list(db.query(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
            if not rows:
                continue
            columns = list(rows[0])
            insert = (
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - fixed names
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            batch: list[list[Any]] = []
            for copy in range(1, -(-total // template)):
                offset = copy * template
                for row in rows:
                    if int(row[KEYS[table][0]][:8], 16) + offset >= total:
                        continue
                    moved = copied_row(table, row, offset, step * offset)
                    batch.append([moved[c] for c in columns])
                    if len(batch) >= BATCH:
                        store.sqlite.conn.executemany(insert, batch)
                        batch.clear()
            store.sqlite.conn.executemany(insert, batch)


def write_calls(
    store: BatchedStore, config: Config, total: int, now: dt.datetime, audio_path: str
) -> str:
    """``total`` calls: :data:`TEMPLATE` written by the store's methods, the rest copied
    from them. Returns the id of the call halfway down the listing."""
    template = [generated_call(i, total, now) for i in range(min(TEMPLATE, total))]
    write_template(store, config, template, audio_path)
    step = dt.timedelta(days=SPREAD_DAYS) / total
    copy_template(store, len(template), total, step)
    middle = total // 2
    return shifted_key(template[middle % len(template)].call_id, middle - middle % len(template))


def large_wav(mib: int) -> bytes:
    """A mono 8 kHz WAV of ``mib`` MiB of noise (noise: nothing compresses it away)."""
    frames = (mib * MIB - 44) // 2
    out = tempfile.SpooledTemporaryFile()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(os.urandom(frames * 2))
    out.seek(0)
    return out.read()


@dataclass(frozen=True)
class Site:
    config: Config
    headers: dict[str, str]
    listener_headers: dict[str, str]
    call_id: str
    recording_id: str
    recording_bytes: int
    generated_seconds: float


def build_site(root: Path, ari_url: str, calls: int, recording_mib: int) -> Site:
    data = site_config(root)
    data["ari"] = ari_section(ari_url)
    windows = [{"days": "daily", "from": "00:00", "to": "24:00"}]
    data["agents"] = {
        agent: {"name": agent.capitalize(), "endpoints": [f"PJSIP/{agent}"], "windows": windows}
        for agent in AGENTS
    }
    config = load_config(
        write_site(root, data), environ={**ENV, "RECCONTROL_ARI_PASSWORD": PASSWORD}
    )
    now = dt.datetime.now(dt.UTC)
    # Real files adopted into the vault, as the call flow does: the recording streamed,
    # and a short one every generated recording's row names, so that the daemon's
    # scheduled purge finds no file missing and changes nothing while the bench runs.
    store, vault = open_site(config)
    try:
        audio = large_wav(recording_mib)
        _, recording_id = add_recording(
            store, vault, config, service="sales", created_at=now - dt.timedelta(hours=1),
            audio=audio,
        )  # fmt: skip
        _, short_id = add_recording(store, vault, config, service="sales", created_at=now)
        shared = store.db.execute("SELECT path FROM recordings WHERE id = ?", [short_id])
        shared_path = str(shared.fetchone()[0])
    finally:
        store.close()
    started = time.perf_counter()
    store = BatchedStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    # SqliteStore.open builds the class it is called on.
    assert isinstance(store, BatchedStore)
    try:
        middle = write_calls(store, config, calls, now, shared_path)
    finally:
        store.close()
    seconds = time.perf_counter() - started

    def person(pid: str) -> dict[str, str]:
        token = (root / "access" / f"{pid}.token").read_text().strip()
        return {"Authorization": f"Bearer {token}", "X-Reccontrol-Person": pid}

    return Site(
        config, person(PERSON), person(LISTENER), middle, recording_id, len(audio), seconds
    )


Timed = Callable[[aiohttp.ClientSession], Awaitable[None]]


async def _timed(session: aiohttp.ClientSession, request: Timed, n: int) -> dict[str, Any]:
    """Milliseconds for ``n`` requests, after one not counted (warms caches)."""
    await request(session)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await request(session)
        samples.append((time.perf_counter() - start) * 1000)
    return summarize(samples).as_dict()


def _get(url: str, headers: dict[str, str], expect: int = 200) -> Timed:
    async def request(session: aiohttp.ClientSession) -> None:
        async with session.get(url, headers=headers) as response:
            await response.read()
            if response.status != expect:
                raise RuntimeError(f"console bench: GET {url} answered {response.status}")

    return request


async def _deep_cursor(session: aiohttp.ClientSession, base: str, site: Site, pages: int) -> str:
    """The URL ``pages`` pages in, its cursor followed from the first page as a client does."""
    url, cursor = f"{base}/api/calls?size={PAGE}", ""
    for _ in range(pages):
        async with session.get(url, headers=site.headers) as response:
            body = await response.json()
        cursor = body["next"]
        url = f"{base}/api/calls?size={PAGE}&after={cursor}"
    return url


def _proc_status() -> str:
    return Path("/proc/self/status").read_text()


def _reset_peak() -> bool:
    """Resets the peak RSS to the current RSS (Linux 4.0 and later)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _stream(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> int:
    received = 0
    async with session.get(url, headers=headers) as response:
        if response.status not in (200, 206):
            raise RuntimeError(f"console bench: GET {url} answered {response.status}")
        async for chunk in response.content.iter_chunked(STREAM_CHUNK):
            received += len(chunk)
    return received


async def _audio(session: aiohttp.ClientSession, base: str, site: Site, n: int) -> dict[str, Any]:
    url = f"{base}/api/recordings/{site.recording_id}/audio?purpose={PURPOSE.replace(' ', '+')}"
    headers = site.listener_headers
    await _stream(session, url, headers)  # the grant, the access-log entry, warm caches
    walls, growths, sizes = [], [], []
    peak_reset = True
    for _ in range(n):
        peak_reset = _reset_peak() and peak_reset
        before = status_kib(_proc_status(), "VmRSS")
        start = time.perf_counter()
        sizes.append(await _stream(session, url, headers))
        walls.append((time.perf_counter() - start) * 1000)
        growths.append(growth_mib(before, status_kib(_proc_status(), "VmHWM")))
    if any(size != site.recording_bytes for size in sizes):
        raise RuntimeError(f"console bench: streamed {sizes}, not {site.recording_bytes} bytes")
    # A player's seek: the last MiB but one, from deep in the file.
    offset = site.recording_bytes - 2 * MIB
    ranged = {**headers, "Range": f"bytes={offset}-{offset + MIB - 1}"}
    seek = await _timed(session, _get(url, ranged, expect=206), n)
    wall = summarize(walls)
    return {
        "bytes": site.recording_bytes,
        "wall_ms": wall.as_dict(),
        "mib_per_s": round(site.recording_bytes / MIB / (wall.median / 1000), 1),
        "rss_growth_mib": summarize(growths).as_dict(),
        "peak_reset": peak_reset,
        "range_mib_ms": seek,
        "range_offset": offset,
    }


async def _measure(base: str, site: Site, n: int, deep_pages: int) -> dict[str, Any]:
    headers = site.headers
    today = dt.datetime.now(site.config.timezone).date()
    first = today - dt.timedelta(days=29)
    async with aiohttp.ClientSession() as session:
        deep = await _deep_cursor(session, base, site, deep_pages)
        requests: dict[str, Timed] = {
            "calls_first_page": _get(f"{base}/api/calls", headers),
            "calls_by_agent": _get(f"{base}/api/calls?agent={AGENTS[7]}", headers),
            "calls_by_reason": _get(f"{base}/api/calls?reason={FILTER_REASON}", headers),
            "calls_deep_page": _get(deep, headers),
            "call_page": _get(f"{base}/api/calls/{site.call_id}", headers),
            "report_30_days": _get(f"{base}/api/report?from={first}&to={today}", headers),
            "metrics": _get(f"{base}/metrics", {}),
            "readyz": _get(f"{base}/readyz", {}),
        }
        timings = {name: await _timed(session, request, n) for name, request in requests.items()}
        audio = await _audio(session, base, site, max(3, n // 10))
    return {"requests_ms": timings, "audio": audio}


async def measure(
    calls: int = 100_000, n: int = 50, recording_mib: int = 50, deep_pages: int = DEEP_PAGES
) -> dict[str, Any]:
    """The console's figures on ``calls`` generated calls; ``n`` requests each."""
    with tempfile.TemporaryDirectory(prefix="reccontrol-bench-console-") as folder:
        root = Path(folder)
        fake = FakeAri()
        ari = TestServer(fake.make_app())
        await ari.start_server()
        try:
            site = build_site(root, str(ari.make_url("")).rstrip("/"), calls, recording_mib)
            server = TestServer(build_app(site.config))
            await server.start_server()
            try:
                base = str(server.make_url("")).rstrip("/")
                await _ready(base)
                figures = await _measure(base, site, n, deep_pages)
            finally:
                await server.close()
        finally:
            await ari.close()
    return {
        "calls": calls,
        "requests": n,
        "deep_pages": deep_pages,
        "generation_seconds": round(site.generated_seconds, 2),
        **figures,
    }


async def _ready(base: str, within: float = 30.0) -> None:
    """Until /readyz answers 200: the daemon is connected to the fake ARI."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
                body = await response.text()
            if time.monotonic() > deadline:
                raise RuntimeError(f"console bench: the daemon is not ready: {body}")
            # Polled: readiness is the daemon's own state, with no event to await.
            await asyncio.sleep(0.05)
