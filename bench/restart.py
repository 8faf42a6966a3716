"""Restart under load (R1): the daemon killed with SIGKILL while N calls are in progress
on the sandbox Asterisk, then started again; how long until every call is carried on,
and how long a protective key pressed meanwhile waits.

Every call is a Local channel pair (caller script ``c-talk``, agent ``waitpause``), goes
through the announcement, is recorded, then paused by its agent (``*2``) before the
kill. The restart is a gap in which the caller's opt-out key may have gone unheard: on
the safe side of C2, the restarted daemon discards every one of those recordings, paused
or not (DELETE), and records nothing more of those calls; each must end ``discarded``,
none left live, none stranded. A few *probe* calls have an agent whose keys the bench
presses at will (``waitkeys``).

Figures (flat keys, ``restart_<N>.``), each read from an effect, never a log line:

* ``ready_s``: restart -> ``/readyz`` answers ready (ARI connected);
* ``adopted_s``: restart -> the last call carried on (the ``call_carried_on`` alert the
  adoption stores for each call, its timestamp);
* ``key_ms``/``key_max_ms``: the probes' agents press ``*3`` as soon as the daemon is
  ready, then ``*2``: from Asterisk's ``ChannelDtmfReceived`` of the ``2`` to the
  ``PlaybackStarted`` of the key's feedback sound to the agent (both Asterisk's own
  timestamps, seen on a second ARI application subscribed to everything): the daemon
  heard the key and answered it, while the recording, discarded, has nothing left to
  pause; ``keys_during_adoption``: how many of those keys came before ``adopted_s``;
* ``key_anchor_ms``: the same probes' ``*2`` before the kill, same calls, same load:
  ``key_ratio`` is ``key_ms`` over it (timings on a loaded machine are noisy: only
  the ratio within one run means something);
* ``lost_calls``: calls not carried on; ``discarded_safe_side``: calls whose recording
  ended ``discarded`` (what the restart must do, C2); ``lost_recordings``: calls whose
  recording ended neither ``stored`` in the vault nor ``discarded`` once every call was
  hung up (the figure that must stay 0).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

from bench import results_file
from bench.asterisk import bench_instance
from bench.load import BOARD_TIMEOUT, CALLER_FORMATS, RATE, paced
from controller.ari.client import AriClient
from controller.ari.models import Channel
from controller.calls.ids import call_of
from controller.demo.site import SandboxSite, Switchboard
from controller.sandbox import SandboxError, SandboxInstance
from tests.faults.daemon import DaemonProcess
from tests.faults.site import ANYTIME

SECTION = "restart"
PROBES = 3
OBSERVER_APP = "bench-restart-observer"
PAUSE_TAG = "rsall"
FEEDBACK = re.compile(r"rc-[0-9a-f]+-f\d+")
"""A feedback sound's playback id (``controller.calls.ids.feedback_playback``)."""
T = TypeVar("T")


# -- pure parts ---------------------------------------------------------------------------
def prefix(calls: int) -> str:
    return f"restart_{calls}"


def ari_time(text: str) -> dt.datetime:
    """Asterisk's event timestamp (``2026-12-07T18:40:00.123+0000``), timezone-aware."""
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    return dt.datetime.fromisoformat(text)


def delays_ms(keys: dict[str, dt.datetime], done: dict[str, dt.datetime]) -> list[float]:
    """Per probe present in both: key -> effect, in milliseconds (never negative: the
    two clocks are the same machine's, rounded to the millisecond)."""
    return [max(0.0, (done[p] - keys[p]).total_seconds() * 1000) for p in keys if p in done]


def figures(
    calls: int,
    *,
    ready_s: float,
    adopted_s: float | None,
    key_ms: list[float],
    anchor_ms: list[float],
    during_adoption: int,
    lost_calls: int,
    lost_recordings: int,
    discarded_safe_side: int,
) -> dict[str, float | None]:
    """The section's flat keys (None: not measured)."""
    key = statistics.median(key_ms) if key_ms else None
    anchor = statistics.median(anchor_ms) if anchor_ms else None
    name = prefix(calls)
    return {
        f"{name}.ready_s": round(ready_s, 3),
        f"{name}.adopted_s": None if adopted_s is None else round(adopted_s, 3),
        f"{name}.key_ms": None if key is None else round(key, 2),
        f"{name}.key_max_ms": round(max(key_ms), 2) if key_ms else None,
        f"{name}.key_anchor_ms": None if anchor is None else round(anchor, 2),
        f"{name}.key_ratio": round(key / anchor, 2) if key is not None and anchor else None,
        f"{name}.keys_during_adoption": float(during_adoption),
        f"{name}.lost_calls": float(lost_calls),
        f"{name}.lost_recordings": float(lost_recordings),
        f"{name}.discarded_safe_side": float(discarded_safe_side),
    }


def probe_tag(n: int) -> str:
    return f"rsp{n}"


# -- the site --------------------------------------------------------------------------
def site_config(site: SandboxSite) -> Path:
    site.prepare()
    announcement = {"sound": site.tone_sound("announce", [(1800.0, 1.0)]), "version": "2026-01"}

    def service(target: str) -> dict[str, Any]:
        return {
            "language": "fr",
            "purposes": ["quality"],
            "announcement": announcement,
            "full_notice": site.tone_sound("notice", [(2000.0, 1.0)]),
            "no_agent_sound": site.tone_sound("no-agent", [(700.0, 1.0)]),
            "exemption": {"legal_basis": "Restart-under-load benchmark site"},
            "target": target,
            "answer_timeout": 120,  # a burst of calls on a loaded machine answers late
            "retention_days": 90,
        }

    services = {"sales": service(f"Local/alice-waitpause-{PAUSE_TAG}@sim-agent")}
    for n in range(PROBES):
        services[f"probe{n}"] = service(f"Local/alice-waitkeys-{probe_tag(n)}@sim-agent")
    agents = {"alice": {"name": "Alice Martin", "endpoints": ["Local/alice-*"], "windows": ANYTIME}}
    return site.write_config(site.config_data(services=services, agents=agents))


def rows(store: Path, sql: str, *params: object) -> list[sqlite3.Row]:
    with sqlite3.connect(store, timeout=30) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(sql, params))


def count(store: Path, sql: str, *params: object) -> int:
    (row,) = rows(store, sql, *params)
    return int(row[0])


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float) -> T:
    """Polls ``check`` until it answers; ``within`` is generous, sized on the calls:
    never a deadline that a loaded machine turns into a failure."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"restart bench: {what} not within {within:.0f} s")
        await asyncio.sleep(0.05)


# -- one run ---------------------------------------------------------------------------
@dataclass
class Observer:
    """A second ARI application subscribed to every event source: Asterisk's own time
    of each probe's keys, and of the feedback sounds the daemon plays its agent,
    whatever the daemon is doing."""

    keys: dict[tuple[str, str], list[dt.datetime]] = field(default_factory=dict)
    calls: dict[str, str] = field(default_factory=dict)
    """The call id of each probe, by probe tag (from its agent's channel id)."""
    feedbacks: dict[str, list[dt.datetime]] = field(default_factory=dict)
    """When each call's feedback sounds to the agent started, by call id."""
    task: asyncio.Task[None] | None = None

    async def run(self, instance: SandboxInstance, session: aiohttp.ClientSession) -> None:
        base = instance.ari_url.replace("http", "ws", 1).rstrip("/")
        url = base + ("/events" if base.endswith("/ari") else "/ari/events")
        auth = aiohttp.BasicAuth(instance.ari_username, instance.ari_password)
        params = {"app": OBSERVER_APP, "subscribeAll": "true"}
        async with session.ws_connect(url, params=params, auth=auth, heartbeat=30) as ws:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(message.data)
                if event.get("type") == "PlaybackStarted":
                    self.playback_started(event)
                if event.get("type") != "ChannelDtmfReceived":
                    continue
                channel = event.get("channel", {})
                for n in range(PROBES):
                    channel_id = str(channel.get("id", ""))
                    if f"waitkeys-{probe_tag(n)}@" in channel.get("name", "") and call_of(
                        channel_id
                    ):
                        self.calls[probe_tag(n)] = call_of(channel_id)
                        key = (probe_tag(n), str(event.get("digit")))
                        self.keys.setdefault(key, []).append(ari_time(event["timestamp"]))

    def playback_started(self, event: dict[str, Any]) -> None:
        playback_id = str(event.get("playback", {}).get("id", ""))
        call_id = call_of(playback_id)
        if call_id and FEEDBACK.fullmatch(playback_id):
            self.feedbacks.setdefault(call_id, []).append(ari_time(event["timestamp"]))

    def answered(self, keys: dict[str, dt.datetime]) -> dict[str, dt.datetime]:
        """Per probe in ``keys``: the first feedback sound to its agent after its key."""
        found = {}
        for tag, key in keys.items():
            later = [t for t in self.feedbacks.get(self.calls.get(tag, ""), []) if t >= key]
            if later:
                found[tag] = min(later)
        return found

    def last(self, digit: str, after: dt.datetime) -> dict[str, dt.datetime]:
        return {
            tag: max(moments)
            for (tag, d), moments in self.keys.items()
            if d == digit and moments and max(moments) > after
        }


async def set_global(board: Switchboard, name: str, value: str) -> None:
    await board.client.request(
        "POST", "/asterisk/variable", params={"variable": name, "value": value}
    )


async def ready(session: aiohttp.ClientSession, port: int, daemon: DaemonProcess) -> bool | None:
    if daemon.process is not None and daemon.process.returncode is not None:
        raise RuntimeError(f"restart bench: the daemon exited ({daemon.process.returncode})")
    with suppress(aiohttp.ClientError):
        async with session.get(f"http://127.0.0.1:{port}/readyz") as answer:
            return True if answer.status == 200 else None
    return None


async def measure(
    instance: SandboxInstance, site: SandboxSite, config: Path, calls: int
) -> dict[str, float | None]:
    """One run: ``calls`` calls (and the probes) recorded, paused, the daemon killed and
    started again, every call then hung up."""
    workdir = site.workdir
    port = _web_port(config)
    store = site.workdir / "reccontrol.sqlite3"
    total = calls + PROBES
    patience = 120.0 + 2.0 * total
    daemon = DaemonProcess(config, workdir / "daemon.log")
    observer = Observer()
    async with aiohttp.ClientSession() as session:
        board = Switchboard(instance, session)
        settings = dataclasses.replace(board.client.settings, request_timeout=BOARD_TIMEOUT)
        board.client = AriClient(settings, session)
        observer.task = asyncio.create_task(observer.run(instance, session))
        callers: list[Channel] = []
        try:
            await daemon.start()
            await until(lambda: ready(session, port, daemon), "the daemon ready", patience)
            # Placed at a trunk's pace, as the load bench's: all at once, the sandbox
            # Asterisk's own requests time out before the daemon is measured at all.
            placed = await paced(
                calls,
                RATE,
                lambda n: board.call(
                    "sales", "c-talk-3600", f"+336111{n:05d}", formats=CALLER_FORMATS
                ),
            )
            failed = [str(p) for p in placed if isinstance(p, BaseException)]
            if failed:
                raise RuntimeError(f"restart bench: {len(failed)} call(s) not placed: {failed[0]}")
            callers.extend(placed)
            for n in range(PROBES):
                probe = await board.call(
                    f"probe{n}", "c-talk-3600", f"+336222{n:05d}", formats=CALLER_FORMATS
                )
                callers.append(probe)

            async def recording() -> bool | None:
                live = "SELECT COUNT(*) FROM recordings WHERE state = 'live'"
                return True if await asyncio.to_thread(count, store, live) >= total else None

            await until(recording, "every call recorded", patience)
            before = dt.datetime.now(dt.UTC)
            await set_global(board, f"SIM_GO_{PAUSE_TAG}", "1")
            for n in range(PROBES):
                await set_global(board, f"SIM_KEYS_{probe_tag(n)}", "*2")

            async def paused() -> bool | None:
                open_ = "SELECT COUNT(*) FROM pauses WHERE ended_at IS NULL"
                return True if await asyncio.to_thread(count, store, open_) >= total else None

            await until(paused, "every call paused", patience)

            async def answered_before() -> dict[str, dt.datetime] | None:
                done = observer.answered(observer.last("2", before))
                return done if len(done) == PROBES else None

            await until(answered_before, "the probes' pause keys answered", patience)
            anchor_keys = observer.last("2", before)
            anchor = delays_ms(anchor_keys, observer.answered(anchor_keys))

            await daemon.kill()
            restarted = dt.datetime.now(dt.UTC)
            started = time.monotonic()
            await daemon.start()
            back = "the restarted daemon ready"
            await until(lambda: ready(session, port, daemon), back, patience)
            ready_s = time.monotonic() - started
            for n in range(PROBES):
                await set_global(board, f"SIM_KEYS_{probe_tag(n)}", "*3")

            async def resumed() -> bool | None:
                return True if len(observer.last("3", restarted)) == PROBES else None

            await until(resumed, "the probes' resume keys", patience)
            for n in range(PROBES):
                await set_global(board, f"SIM_KEYS_{probe_tag(n)}", "*2")

            carried = "SELECT COUNT(*), MAX(at) FROM alerts WHERE kind = 'call_carried_on'"

            async def adopted() -> dt.datetime | None:
                (row,) = await asyncio.to_thread(rows, store, carried)
                return dt.datetime.fromisoformat(row[1]) if row[0] >= total else None

            last_adopted = await until(adopted, "every call carried on", patience)

            async def keys_done() -> dict[str, dt.datetime] | None:
                done = observer.answered(observer.last("2", restarted))
                return done if len(done) == PROBES else None

            after_restart = "the probes' keys answered after the restart"
            key_done = await until(keys_done, after_restart, patience)
            pressed = observer.last("2", restarted)
            key_ms = delays_ms(pressed, key_done)
            during = sum(1 for moment in pressed.values() if moment < last_adopted)
            carried_on = count(store, "SELECT COUNT(*) FROM alerts WHERE kind = 'call_carried_on'")

            for caller in callers:
                with suppress(Exception):
                    await board.client.hangup(caller.id)

            async def settled() -> bool | None:
                open_ = "SELECT COUNT(*) FROM recordings WHERE state = 'live'"
                return True if await asyncio.to_thread(count, store, open_) == 0 else None

            await until(settled, "every recording settled", patience)
            stored = count(
                store, "SELECT COUNT(DISTINCT call_id) FROM recordings WHERE state = 'stored'"
            )
            discarded = count(
                store,
                "SELECT COUNT(DISTINCT call_id) FROM recordings WHERE state = 'discarded' AND "
                "call_id NOT IN (SELECT call_id FROM recordings WHERE state = 'stored')",
            )
        except BaseException:
            # What the daemon said last: why it never got ready, or what went wrong.
            print("\n".join(daemon.seen[-30:]), file=sys.stderr)
            if observer.task is not None and observer.task.done():
                print(f"the observer stopped: {observer.task.exception()!r}", file=sys.stderr)
            raise
        finally:
            if observer.task is not None:
                observer.task.cancel()
            await daemon.stop()
    return figures(
        calls,
        ready_s=ready_s,
        adopted_s=(last_adopted - restarted).total_seconds(),
        key_ms=key_ms,
        anchor_ms=anchor,
        during_adoption=during,
        lost_calls=total - carried_on,
        lost_recordings=total - stored - discarded,
        discarded_safe_side=discarded,
    )


def _web_port(config: Path) -> int:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    return int(data["web"]["port"])


# -- command line ------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--restart",
        action="store_true",
        help="restart under load alone: kill -9 with calls in progress, then start again",
    )
    parser.add_argument(
        "--restart-calls", type=int, default=200, help="calls in progress at the kill (200)"
    )


def run(instance: SandboxInstance, workdir: Path, calls: int, output: Path) -> int:
    """Measures, merges the figures into ``output`` and prints them beside the previous
    run's, with the load average."""
    load = [round(x, 2) for x in os.getloadavg()]
    workdir.mkdir(parents=True, exist_ok=True)
    site = SandboxSite(instance, workdir / "site")
    config = site_config(site)
    found = asyncio.run(measure(instance, site, config, calls))
    load_end = [round(x, 2) for x in os.getloadavg()]
    before, after = results_file.update(SECTION, found, output, load=load_end)
    print(
        f"restart: {calls} calls (+{PROBES} probes) killed and adopted; load average at "
        f"start {load}, at end {load_end} (noisy on a shared machine: read key_ratio)"
    )
    print("\n".join(results_file.comparison(before, after)))
    return 0 if found[f"{prefix(calls)}.lost_recordings"] == 0 else 1


def main(args: argparse.Namespace) -> int:
    if args.restart_calls < 1:
        print("--restart-calls must be at least 1")
        return 2
    try:
        with (
            tempfile.TemporaryDirectory(prefix="reccontrol-restart-") as folder,
            bench_instance() as instance,
        ):
            return run(instance, Path(folder), args.restart_calls, args.results)
    except SandboxError as exc:
        print(f"error: {exc}\n(run as root)")
        return 2
