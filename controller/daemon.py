"""The one place that builds and wires everything the daemon runs.

The daemon is an aiohttp application: its ``cleanup_ctx`` opens the store thread, the
ARI client and the event loop task in order and closes them in reverse, and
``run_app`` turns SIGTERM into a clean shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from controller.access.service import AccessService
from controller.agi.hooks import (
    ConnectedScript,
    HangupScript,
    KeyScript,
    PausesAfterRestart,
    PauseTimeouts,
)
from controller.agi.inbound import InboundScript
from controller.agi.outbound import AnsweredScript, OutboundScript
from controller.agi.recorder import AgiRecorder
from controller.agi.server import AgiServer, Script
from controller.ami import AmiClient
from controller.ari.client import AriClient
from controller.ari.stream import EventStream
from controller.ari.watchdog import EventPump, Watchdog
from controller.audit.errors import AccessLogError
from controller.audit.witness import WitnessPublisher
from controller.calls.agi_opening import KEY_ACTIONS
from controller.calls.manager import CallManager
from controller.calls.sounds import SoundCheck, wanted_sounds
from controller.clock import Clock, SystemClock
from controller.config.encryption import site_vault
from controller.config.model import Config
from controller.config.warnings import unkeyed_audit_alert
from controller.eventlog import EventLog
from controller.instance import InstanceLock, bind_address, bind_web, lock_path
from controller.payments.gateway import PaymentGateway
from controller.recordings import LocalVault
from controller.retention.purge import run_purge
from controller.retention.purge_store import PurgeStoreFromThread
from controller.retention.scheduler import PurgeScheduler
from controller.retention.sweep import OrphanSweeper
from controller.retention.unkept import delete_all_unkept_audio
from controller.store import SqliteStore, StoreThread
from controller.store.opening import open_configured
from controller.store.worker import FromAnotherThread
from controller.web import monitoring
from controller.web.console import add_console
from controller.web.errors import unexpected_errors
from controller.web.guard import FailureLimiter
from controller.web.keys import (
    ACCESS,
    AGI,
    AGI_RECORDER,
    AGI_SOCKET,
    AMI,
    ARI,
    CALLS,
    CLOCK,
    CONFIG,
    LIMITER,
    PUMP,
    PURGE,
    RNG,
    SOUNDS,
    STORE,
    STREAM,
    SWEEPER,
    VAULT,
    WITNESS,
)
from controller.web.payments import request_payment
from controller.web.security import add_security_headers
from controller.web.tls import server_context

log = logging.getLogger("reccontrol.daemon")


# Seconds before trying again a sweep Asterisk could not answer for.
SWEEP_RETRY = 5.0
# The kind of the alert row written at start when the access log has no key (S7).
UNKEYED_ALERT = "audit_unkeyed"
ARI_CONNECTIONS = 50
# Seconds after start before the first scheduled purge, so start-up stays quick.
PURGE_FIRST_DELAY = 30.0
ACCESS_LOG_ALERT = "access_log_unwritable"


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    key = config.audit.checkpoint_key
    store: StoreThread[SqliteStore] = StoreThread(
        lambda: open_configured(config.store, audit_key=key), SqliteStore.close
    )
    await store.start()
    app[STORE] = store
    vault = open_site_vault(config)
    app[VAULT] = vault
    clock = app[CLOCK]
    app[ACCESS] = await store.run(lambda db: AccessService(config, db, vault, clock))
    now = app[CLOCK].now()
    # D3: which rules were in force when is part of what an inspection is owed; only the
    # daemon's loads count, as only they govern calls.
    await store.run(lambda s: s.record_config_load(config.canonical_yaml, now))
    # Calls a previous run left open stay open: once connected to Asterisk, the call
    # router carries on those still bridged and closes the others (R1).
    # S7: with a key, a new log is keyed from its first entry. A keyed log that lost its
    # key start is not keyed again: the daemon runs, refuses every access it cannot log,
    # and says so (ALERT, /readyz) until a person looks.
    try:
        await store.run(lambda s: s.ensure_audit_keyed(now))
    except AccessLogError as exc:
        message = f"{exc} ({exc.error_id})"
        log.error("ALERT: %s", message)
        await store.run(lambda s: s.add_alert(None, ACCESS_LOG_ALERT, message, now))
    # S11: a redaction a crash interrupted ends before anyone listens: finished if its
    # new version was in place, else undone. A failure is said and retried at each
    # redaction; it never keeps the daemon from recording calls.
    try:
        await store.run(lambda s: app[ACCESS].finish_redactions())
    except Exception as exc:  # the calls matter more than this chore
        log.error("ALERT: interrupted redactions not finished: %s", exc)
    # C2, A2, R1: a process killed between storing a caller's objection (or a call's
    # private key) and deleting the call's files in the vault left them there; they go
    # before any call is taken (each reason's failure is logged; the next start retries).
    await delete_all_unkept_audio(store, vault, clock)
    if key is None:
        # S7: an unkeyed log can be rewritten unseen by whoever can write the store.
        message = unkeyed_audit_alert()
        log.error("ALERT: %s", message)
        await store.run(lambda s: s.add_alert(None, UNKEYED_ALERT, message, now))
    witness: WitnessPublisher | None = None
    audit = config.audit
    if audit.witness_file is not None or audit.witness_syslog:
        witness = WitnessPublisher(
            lambda: store.run(lambda s: s.audit_head()),
            app[CLOCK],
            key,
            audit.witness_file,
            interval=audit.witness_interval_seconds,
            to_syslog=audit.witness_syslog,
            alert=_alert_writer(app),
            read_key_start=lambda: store.run(lambda s: _key_start_mac(s)),
        )
        witness.start()
    app[WITNESS] = witness
    yield
    if witness is not None:
        await witness.stop()
    await store.stop()


async def _ari_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    event_log = EventLog(config.ari.event_log) if config.ari.event_log else None
    if event_log is not None:
        event_log.start()
    # Capped below Asterisk's HTTP session limit (100 by default): past it Asterisk
    # refuses every new connection, protective REST calls included.
    connector = aiohttp.TCPConnector(limit=ARI_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = AriClient(config.ari, session)
        sounds = SoundCheck(wanted_sounds(config), client.sound_languages, _alert_writer(app))
        app[SOUNDS] = sounds
        stream = EventStream(client, on_raw=event_log, on_connected=sounds.connected)
        app[ARI] = client
        app[STREAM] = stream
        vault = app[VAULT]
        await asyncio.to_thread(vault.prepare)
        gateway = PaymentGateway(config.payment, session) if config.payment else None
        calls = CallManager(
            config=config,
            client=client,
            store=app[STORE],
            vault=vault,
            clock=app[CLOCK],
            rng=app[RNG],
            gateway=gateway,
        )
        app[CALLS] = calls
        stream.first_look = calls.first_look
        pump = EventPump(
            stream,
            calls,
            Watchdog(client, config.ari.watchdog.timeout),
            interval=config.ari.watchdog.interval,
            alert=_alert_writer(app),
        )
        app[PUMP] = pump
        task = asyncio.create_task(pump.run(), name="reccontrol-ari-pump")
        sweeper = OrphanSweeper(
            vault=vault,
            store=app[STORE],
            client=client,
            clock=app[CLOCK],
            busy=lambda: calls.recordings_in_hand() | _agi_in_hand(app),
        )
        app[SWEEPER] = sweeper
        sweeping = asyncio.create_task(
            _sweep_forever(sweeper, config.recordings.sweep_minutes * 60, calls.adopted),
            name="reccontrol-orphan-sweep",
        )
        yield
        sweeping.cancel()
        await stream.close()
        await sounds.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(asyncio.CancelledError):
            await sweeping
        await calls.close()
    if event_log is not None:
        event_log.close()


async def _agi_ctx(app: web.Application) -> AsyncIterator[None]:
    """The FastAGI server, when the config has an ``agi`` section: its scripts write
    through the same store thread as the ARI path."""
    config = app[CONFIG]
    settings = config.agi
    server: AgiServer | None = None
    recorder: AgiRecorder | None = None
    # Logged in in the background: Asterisk's AMI being down never holds FastAGI up.
    ami = AmiClient(config.ami) if config.ami is not None else None
    keeping = asyncio.create_task(ami.run(), name="reccontrol-ami") if ami else None
    if settings is not None:
        store, clock, rng = app[STORE], app[CLOCK], app[RNG]
        recorder = AgiRecorder(config, store, app[VAULT], clock, ami)
        recorder.on_pause_timeout = PauseTimeouts(config, store, recorder, clock, rng)
        scripts: dict[str, Script] = {
            "inbound": InboundScript(config, store, clock, rng),
            "connected": ConnectedScript(config, store, recorder, clock, rng),
            "hangup": HangupScript(config, store, recorder, clock, rng),
            "outbound": OutboundScript(config, store, clock, rng),
            "answered": AnsweredScript(config, store, clock, rng, recorder=recorder),
        }
        for key in KEY_ACTIONS:
            scripts[key] = KeyScript(key, config, store, recorder, clock, rng)
        server = AgiServer(settings, scripts, sock=app[AGI_SOCKET])
        await server.start()
    app[AGI] = server
    app[AGI_RECORDER] = recorder
    app[AMI] = ami
    rearming = None
    if recorder is not None and ami is not None:
        rearm = PausesAfterRestart(config, app[STORE], recorder, app[CLOCK], app[RNG])
        rearming = asyncio.create_task(rearm(ami), name="reccontrol-agi-pauses")
    yield
    if rearming is not None:
        rearming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rearming
    if ami is not None and keeping is not None:
        await ami.close()
        keeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeping
    if server is not None:
        await server.stop()
    if recorder is not None:
        recorder.close()


def _agi_in_hand(app: web.Application) -> set[str]:
    """Recordings a FastAGI hook is starting or taking in: not the sweep's."""
    recorder = app[AGI_RECORDER]
    return set(recorder.in_hand) if recorder is not None else set()


async def _purge_ctx(app: web.Application) -> AsyncIterator[None]:
    """The scheduled purge (T4): on a thread of its own, its store calls forwarded to the
    one store thread, so every write still goes through that thread."""
    config, clock = app[CONFIG], app[CLOCK]
    remote: FromAnotherThread[SqliteStore] = FromAnotherThread(
        app[STORE], asyncio.get_running_loop()
    )
    store = PurgeStoreFromThread(remote)
    scheduler = PurgeScheduler(
        lambda stop: run_purge(config, clock, store, stop=stop),
        interval=config.purge.interval_minutes * 60,
        first_delay=PURGE_FIRST_DELAY,
    )
    app[PURGE] = scheduler
    scheduler.start()
    yield
    await scheduler.stop()


async def _sweep_forever(sweeper: OrphanSweeper, interval: float, adopted: asyncio.Event) -> None:
    """One sweep once the calls a previous run left open are carried on or ended (their
    recordings are theirs, not the sweep's), then one every ``interval`` seconds
    (sooner after a sweep Asterisk could not answer for)."""
    await adopted.wait()
    while True:
        try:
            report = await sweeper.sweep()
            delay = SWEEP_RETRY if report.deferred else interval
        except Exception:
            log.exception("orphan sweep failed")
            delay = interval
        await asyncio.sleep(min(delay, interval))


def _key_start_mac(store: SqliteStore) -> str | None:
    start = store.audit_key_start()
    return start.mac if start is not None else None


def _alert_writer(app: web.Application) -> Callable[[str, str], None]:
    """An alert row not tied to a call, written through the store thread."""
    pending: set[asyncio.Task[None]] = set()

    def alert(kind: str, message: str) -> None:
        now = app[CLOCK].now()
        task = asyncio.ensure_future(
            app[STORE].run(lambda s: s.add_alert(None, kind, message, now))
        )
        pending.add(task)
        task.add_done_callback(pending.discard)

    return alert


async def payments(request: web.Request) -> web.Response:
    app = request.app
    payment = app[CONFIG].payment
    return await request_payment(
        request,
        access=app[ACCESS],
        store=app[STORE],
        calls=app[CALLS],
        limiter=app[LIMITER],
        max_amount=payment.max_amount if payment is not None else None,
    )


def build_app(
    config: Config,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    agi_socket: socket.socket | None = None,
) -> web.Application:
    """``agi_socket``: the FastAGI address, bound already; None: bound at start."""
    app = web.Application(middlewares=[unexpected_errors])
    add_security_headers(app, config.web)
    app[CONFIG] = config
    app[AGI_SOCKET] = agi_socket
    app[CLOCK] = clock or SystemClock()
    # P4: draws come from the OS CSPRNG so agents cannot predict them.
    app[RNG] = rng or random.SystemRandom()
    app[LIMITER] = FailureLimiter(config.access.persons)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_agi_ctx)
    app.cleanup_ctx.append(_ari_ctx)
    app.cleanup_ctx.append(_purge_ctx)
    monitoring.add_routes(app)
    app.router.add_post("/api/payments", payments)
    add_console(app)
    return app


def open_site_vault(config: Config) -> LocalVault:
    """The site's vault; at a new site's first start, its site key is generated. Raises
    :class:`~controller.config.encryption.VaultKeyUnusable` (naming the YAML key) when
    sealed recordings have no site key that opens them."""
    opened = site_vault(config.recordings, create_key=True)
    if opened.generated is not None:
        log.warning(
            "generated the vault's site key in %s: keep a copy of it apart from the "
            "backups; without it no recording can be read (S10)",
            opened.generated,
        )
    return opened.vault


def run(config: Config, *, before_start: Callable[[], object] | None = None) -> None:
    """Runs the daemon until SIGTERM. Raises :class:`AlreadyRunning` or
    :class:`PortBusy` (the web or the FastAGI address) before touching the store or
    ARI. ``before_start`` (the store's migrations) runs once the lock is held and the
    ports bound, so no second daemon migrates the store under us. Raises
    :class:`TlsSetupError` when ``web.tls`` cannot be used."""
    # A certificate that cannot be used stops the daemon before it takes anything.
    tls = server_context(config.web)
    # One daemon per store file; with a store shared by several nodes, one per vault.
    lock = InstanceLock(lock_path(config.lock_anchor))
    lock.acquire()
    try:
        sock = bind_web(config.web.host, config.web.port)
        agi = config.agi
        # Bound now too: a busy FastAGI port stops the daemon before it touches ARI.
        agi_socket = (
            bind_address(agi.host, agi.port, "FastAGI", ("agi.listen", "agi.listen"))
            if agi is not None
            else None
        )
        if before_start is not None:
            before_start()
        # S10: a new site's key is made now; sealed recordings without theirs stop here.
        open_site_vault(config)
        web.run_app(
            build_app(config, agi_socket=agi_socket),
            sock=sock,
            ssl_context=tls,
            access_log=None,
            print=None,
            handle_signals=True,
        )
    finally:
        lock.release()
