"""Feeds ARI events to each call's state machine and carries out what it returns.

Each call has its own queue of command batches and its own task, so a slow answer from
Asterisk on one call never delays another. Within a call, REST commands run in order;
store writes are handed to the store thread without waiting, so they never stand
between a key press and the REST call that protects the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Event,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    StreamConnected,
)
from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.inbound import RECORDING_FAILED, CallSettings, InboundCall, new_id
from controller.clock import Clock
from controller.config.model import Config
from controller.payments.gateway import UNAVAILABLE, ChargeRequest, ChargeResult, PaymentGateway
from controller.privacy import caller_hash
from controller.recordings import LocalVault, VaultError
from controller.store import SqliteStore, StoreThread

log = logging.getLogger("reccontrol.calls")

# Commands that protect audio: their reaction time from the key press is logged.
PROTECTIVE = (c.CancelRecording, c.PauseRecording)
UNHANDLED_VARIABLE = "RECCONTROL_RESULT"


@dataclass
class Batch:
    commands: list[c.Command]
    trigger: float | None = None
    """``time.monotonic()`` of the event that caused this batch, if it was a key press."""


@dataclass
class CallContext:
    machine: InboundCall
    queue: asyncio.Queue[Batch] = field(default_factory=asyncio.Queue)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while a batch runs, so batches of one call never interleave."""
    task: asyncio.Task[None] | None = None
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    finished: bool = False


class CallManager:
    def __init__(
        self,
        *,
        config: Config,
        client: AriClient,
        store: StoreThread[SqliteStore],
        vault: LocalVault,
        clock: Clock,
        rng: random.Random,
        gateway: PaymentGateway | None = None,
    ) -> None:
        self._config = config
        self._client = client
        self._store = store
        self._vault = vault
        self._clock = clock
        self._rng = rng
        self._gateway = gateway
        self._settings = CallSettings(
            config.timezone, config.recordings.format, config.agent_keys, config.payment
        )
        self._calls: dict[str, CallContext] = {}
        self._by_channel: dict[str, str] = {}
        self._by_recording: dict[str, str] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.reaction_times_ms: list[float] = []
        self.recording_failures = 0
        self._settling: set[str] = set()
        """Recording names whose file is being moved or deleted right now."""
        """Recordings lost since start (failed, never started, or ended by themselves)."""

    # -- public ----------------------------------------------------------------------
    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def handle(self, event: Event) -> None:
        match event:
            case StasisStart(args=args, channel=channel):
                await self._stasis_start(channel, args)
            case ChannelDtmfReceived(channel=channel, digit=digit, received=received):
                await self._key(channel.id, m.Dtmf(channel.id, digit, received), received)
            case (
                StasisEnd(channel=channel)
                | ChannelDestroyed(channel=channel)
                | (ChannelHangupRequest(channel=channel))
            ):
                self._to_channel(channel.id, m.ChannelGone(channel.id))
            case PlaybackFinished(playback=playback):
                call_id = _call_id_of(playback.id)
                if call_id in self._calls:
                    self._feed(call_id, m.PlaybackDone(playback.id, playback.state == "failed"))
            case RecordingStarted(recording=recording):
                self._to_recording(recording.name, m.RecordingStarted(recording.name))
            case RecordingFinished(recording=recording):
                self._to_recording(recording.name, m.RecordingEnded(recording.name))
            case RecordingFailed(recording=recording):
                self._to_recording(
                    recording.name, m.RecordingEnded(recording.name, True, recording.cause)
                )
            case StreamConnected(state=state, reconnect=reconnect):
                await self._resync(set(state.channel_ids), reconnect)

    def recordings_in_hand(self) -> set[str]:
        """Names of the recordings calls in progress own or are still settling: the
        orphan sweep leaves their files alone."""
        return set(self._by_recording) | self._settling

    def find_call(self, *, call_id: str | None = None, agent_id: str | None = None) -> str | None:
        """The id of a call in progress, by its id or by the agent talking on it."""
        if call_id is not None:
            return call_id if call_id in self._calls else None
        for cid, ctx in self._calls.items():
            agent = ctx.machine.agent
            if agent is not None and agent.id == agent_id and not ctx.finished:
                return cid
        return None

    def service_of(self, call_id: str) -> str:
        ctx = self._calls.get(call_id)
        return ctx.machine.service.name if ctx is not None else "-"

    def payment_refusal(self, call_id: str) -> str | None:
        ctx = self._calls.get(call_id)
        if ctx is None or ctx.finished:
            return "the call is over"
        return ctx.machine.payment_refusal()

    def request_payment(self, call_id: str, amount: str, order_reference: str) -> None:
        """Sends the caller of ``call_id`` to the payment IVR (check
        :meth:`payment_refusal` first); the recording is paused before anything else."""
        self._feed(call_id, m.PaymentRequested(amount, order_reference), time.monotonic())

    async def close(self, grace: float = 5.0) -> None:
        """Stops feeding calls; lets queued commands run for up to ``grace`` seconds."""
        tasks = [ctx.task for ctx in self._calls.values() if ctx.task is not None]
        for ctx in self._calls.values():
            for handle in ctx.timers.values():
                handle.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=grace)

    # -- events to messages ----------------------------------------------------------
    async def _stasis_start(self, channel: Channel, args: tuple[str, ...]) -> None:
        role = args[0] if args else ""
        if role == "inbound":
            service_name = args[1] if len(args) > 1 else ""
            dialled = args[2] if len(args) > 2 else ""
            if dialled and self._config.agent_for_private_line(dialled) is not None:
                # A private line routed through a recorded service by mistake: never
                # recorded, whatever the service says (A2).
                log.warning(
                    "a call to a private line entered service %r; handed back unrecorded",
                    service_name[:40],
                )
                await self._private_call(channel, "private-line", dialled, unhandled=True)
                return
            service = self._config.services.get(service_name)
            if service is None:
                log.error(
                    "channel %s: unknown service %r in the Stasis arguments; the call goes on "
                    "unrecorded",
                    channel.id,
                    service_name[:40],
                )
                await self._return_to_dialplan(channel.id)
                return
            self._start_inbound(channel, service_name)
        elif role == "agent":
            call_id = args[1] if len(args) > 1 else ""
            if call_id not in self._calls:
                log.warning("agent channel %s answered for a call that is over", channel.id)
                with contextlib.suppress(AriError):
                    await self._client.hangup(channel.id)
                return
            self._by_channel[channel.id] = call_id
            agent = self._config.agent_for_channel(channel.name)
            if agent is None:
                agent = await self._agent_from_variable(channel.id)
            self._feed(call_id, m.AgentAnswered(channel, agent))
        elif role in ("private-outbound", "private-line"):
            await self._private_call(channel, role, args[1] if len(args) > 1 else "")
        else:
            log.error(
                "channel %s entered the application with unknown arguments; the call goes on "
                "unrecorded",
                channel.id,
            )
            await self._return_to_dialplan(channel.id)

    async def _private_call(
        self, channel: Channel, role: str, line: str, unhandled: bool = False
    ) -> None:
        """A2: private calls never reach a recorded bridge. They are counted for their
        agent and handed straight back to the dialplan, which dials them."""
        if role == "private-line":
            agent = self._config.agent_for_private_line(line)
        else:
            agent = self._config.agent_for_channel(channel.name)
            prefix = self._config.private_calls.dial_prefix
            if not channel.dialplan_exten.startswith(prefix):
                log.warning(
                    "a private outbound call did not start with the configured prefix %r: "
                    "check private_calls.dial_prefix against the dialplan",
                    prefix,
                )
        if agent is None:
            log.warning("a %s call came from or to an agent the config does not know", role)
        day = self._clock.now().astimezone(self._config.timezone).date().isoformat()
        agent_id = agent.id if agent is not None else None
        self._write(lambda s: s.count_private_call(agent_id, day))
        if unhandled:
            await self._return_to_dialplan(channel.id)
            return
        try:
            await self._client.continue_in_dialplan(channel.id)
        except AriError as exc:
            log.error("a private call could not be handed back to the dialplan (%s)", exc.error_id)

    async def _agent_from_variable(self, channel_id: str) -> Any:
        """Queues and other indirect targets name the agent in ``RECCONTROL_AGENT``."""
        try:
            agent_id = await self._client.get_variable(channel_id, "RECCONTROL_AGENT")
        except AriError:
            return None
        return self._config.agents.get(agent_id)

    async def _return_to_dialplan(self, channel_id: str) -> None:
        try:
            await self._client.set_variable(channel_id, UNHANDLED_VARIABLE, "unhandled")
            await self._client.continue_in_dialplan(channel_id)
        except AriError as exc:
            log.error(
                "channel %s: could not return it to the dialplan (%s)", channel_id, exc.error_id
            )

    def _start_inbound(self, channel: Channel, service_name: str) -> None:
        call_id = new_id(self._rng, 64)
        service = self._config.services[service_name]
        machine = InboundCall(
            call_id=call_id,
            service=service,
            caller=channel,
            caller_hash=caller_hash(self._config.privacy.caller_hmac_key, channel.caller.number),
            settings=self._settings,
            rng=self._rng,
        )
        ctx = CallContext(machine)
        self._calls[call_id] = ctx
        for channel_id in machine.channel_ids:
            self._by_channel[channel_id] = call_id
        ctx.task = asyncio.create_task(self._run(call_id, ctx), name=f"call-{call_id}")
        log.info("call %s (%s): started on channel %s", call_id, service_name, channel.id)
        ctx.queue.put_nowait(Batch(machine.start(self._clock.now())))

    def _to_channel(
        self, channel_id: str, message: m.Message, trigger: float | None = None
    ) -> None:
        call_id = self._by_channel.get(channel_id)
        if call_id is not None:
            self._feed(call_id, message, trigger)

    def _to_recording(self, name: str, message: m.Message) -> None:
        call_id = self._by_recording.get(name)
        if call_id is not None:
            self._feed(call_id, message)

    async def _key(self, channel_id: str, message: m.Dtmf, received: float) -> None:
        """A key press. When it protects audio (pause, discard) and nothing of the call
        is running, its batch runs right here in the event handler: the REST call leaves
        without waiting for the call's task to be scheduled (the budget is about 2 ms)."""
        call_id = self._by_channel.get(channel_id)
        ctx = self._calls.get(call_id) if call_id is not None else None
        if call_id is None or ctx is None or ctx.finished:
            return
        commands = ctx.machine.handle(message, self._clock.now())
        if not commands:
            return
        batch = Batch(commands, received)
        if isinstance(commands[0], PROTECTIVE) and not ctx.lock.locked() and ctx.queue.empty():
            async with ctx.lock:
                await self._run_batch(call_id, ctx, batch)
        else:
            ctx.queue.put_nowait(batch)

    def _feed(self, call_id: str, message: m.Message, trigger: float | None = None) -> None:
        ctx = self._calls.get(call_id)
        if ctx is None or ctx.finished:
            return
        commands = ctx.machine.handle(message, self._clock.now())
        if commands:
            ctx.queue.put_nowait(Batch(commands, trigger))

    async def _resync(self, in_application: set[str], reconnect: bool) -> None:
        """After a reconnect, calls whose channels vanished during the gap are ended.

        Gone means gone from Asterisk (``GET /channels``), not merely absent from the
        application: an agent leg still ringing is not in Stasis yet, and one not yet
        dialled does not exist at all; calling either gone would leave the agent's
        phone in a dead call once it answers."""
        try:
            existing = {channel.id for channel in await self._client.list_channels()}
        except AriError as exc:
            log.warning("resync: channels unreadable (%s); nothing ended", exc.error_id)
            existing = None
        known = set(self._by_channel)
        if existing is not None:
            for channel_id in known - existing:
                ctx = self._calls.get(self._by_channel[channel_id])
                machine = ctx.machine if ctx is not None else None
                if machine is not None and channel_id == machine.agent_channel_id:
                    if not machine.agent_originated:
                        continue
                self._to_channel(channel_id, m.ChannelGone(channel_id))
        strangers = in_application - known
        if strangers:
            log.warning(
                "%d channel(s) in the application are not tracked by this controller; "
                "they are left alone",
                len(strangers),
            )
        if reconnect:
            log.info("resynced after reconnect: %d call(s) in progress", len(self._calls))

    # -- commands --------------------------------------------------------------------
    async def _run(self, call_id: str, ctx: CallContext) -> None:
        while not ctx.finished:
            batch = await ctx.queue.get()
            async with ctx.lock:
                await self._run_batch(call_id, ctx, batch)

    async def _run_batch(self, call_id: str, ctx: CallContext, batch: Batch) -> None:
        for command in batch.commands:
            if isinstance(command, c.Finished):
                self._forget(call_id, ctx)
                return
            await self._execute(call_id, ctx, command, batch.trigger)

    async def _execute(
        self, call_id: str, ctx: CallContext, command: c.Command, trigger: float | None
    ) -> None:
        if isinstance(command, c.REST_COMMANDS):
            log.debug("call %s: %s", call_id, type(command).__name__)
            try:
                await self._rest(command)
            except AriError as exc:
                if _harmless(command, exc):
                    if isinstance(command, c.StopRecording):
                        # Already over, and its RecordingFinished was lost (it ended
                        # while the events websocket was down): settle it now rather
                        # than wait for the call's ending timer.
                        self._feed(call_id, m.RecordingEnded(command.name))
                    return
                self._feed(call_id, m.CommandFailed(command, exc.error_id, exc.status))
                return
            if trigger is not None and isinstance(command, PROTECTIVE):
                elapsed = (time.monotonic() - trigger) * 1000
                self.reaction_times_ms.append(elapsed)
                log.info(
                    "call %s: %s done %.2f ms after the key event",
                    call_id,
                    type(command).__name__,
                    elapsed,
                )
            return
        match command:
            case c.StartTimer(name=name, seconds=seconds):
                old = ctx.timers.pop(name, None)
                if old is not None:
                    old.cancel()
                ctx.timers[name] = asyncio.get_running_loop().call_later(
                    seconds, self._feed, call_id, m.TimerFired(name)
                )
            case c.CancelTimer(name=name):
                handle = ctx.timers.pop(name, None)
                if handle is not None:
                    handle.cancel()
            case c.Log(level=level, message=message):
                log.log(logging.getLevelName(level.upper()), message)
            case c.LookupObjection(caller_hash=hashed):
                self._spawn(self._lookup_objection(call_id, hashed))
            case c.AdoptRecording(recording_id=recording_id, name=name, fmt=fmt):
                self._spawn(self._adopt(call_id, recording_id, name, fmt))
            case c.DiscardIncoming(name=name, fmt=fmt):
                self._spawn(self._discard_incoming(call_id, name, fmt))
            case c.FetchPaymentDetails(channel_id=channel_id):
                self._spawn(self._payment_details(call_id, channel_id))
            case c.SubmitPayment(request=request):
                self._spawn(self._submit_payment(call_id, request))
            case c.OpenRecording():
                self._by_recording[command.name] = call_id
                now = self._clock.now()
                self._write(
                    lambda s: s.open_recording(
                        command.recording_id,
                        command.call_id,
                        command.name,
                        command.fmt,
                        command.purposes,
                        now,
                        command.retention_days,
                    )
                )
            case _:
                self._store_write(command)

    async def _rest(self, command: c.Command) -> None:
        client = self._client
        match command:
            case c.CancelRecording(name=name):
                await client.cancel_recording(name)
            case c.PauseRecording(name=name, mute=mute):
                if mute:
                    await client.mute_recording(name)
                else:
                    await client.pause_recording(name)
            case c.ResumeRecording(name=name, mute=mute):
                if mute:
                    await client.unmute_recording(name)
                else:
                    await client.unpause_recording(name)
            case c.Answer(channel_id=channel_id):
                await client.answer(channel_id)
            case c.Play(channel_id=channel_id, media=media, playback_id=playback_id, lang=lang):
                await client.play(channel_id, media, playback_id=playback_id, lang=lang)
            case c.StopPlayback(playback_id=playback_id):
                await client.stop_playback(playback_id)
            case c.Ring(channel_id=channel_id):
                await client.ring(channel_id)
            case c.Originate():
                await client.originate(
                    command.endpoint,
                    app_args=command.app_args,
                    channel_id=command.channel_id,
                    ring_timeout=command.ring_timeout,
                    originator=command.originator,
                    caller_id=command.caller_id,
                )
            case c.CreateBridge(bridge_id=bridge_id):
                await client.create_bridge("mixing", bridge_id=bridge_id)
            case c.AddToBridge(bridge_id=bridge_id, channel_id=channel_id):
                await client.add_channel(bridge_id, channel_id, absorb_dtmf=True)
            case c.RemoveFromBridge(bridge_id=bridge_id, channel_id=channel_id):
                await client.remove_channel(bridge_id, channel_id)
            case c.StartHoldMusic(bridge_id=bridge_id, moh_class=moh_class):
                await client.start_bridge_moh(bridge_id, moh_class)
            case c.StopHoldMusic(bridge_id=bridge_id):
                await client.stop_bridge_moh(bridge_id)
            case c.StartRecording(bridge_id=bridge_id, name=name, fmt=fmt):
                await client.record_bridge(bridge_id, name, fmt=fmt)
            case c.StopRecording(name=name):
                await client.stop_recording(name)
            case c.Hangup(channel_id=channel_id):
                await client.hangup(channel_id)
            case c.DestroyBridge(bridge_id=bridge_id):
                await client.destroy_bridge(bridge_id)
            case c.ContinueInDialplan(channel_id=channel_id):
                await self._return_to_dialplan(channel_id)

    def _store_write(self, command: c.Command) -> None:
        now = self._clock.now()
        privacy = self._config.privacy
        match command:
            case c.BeginCall(call=call, announcement_version=version):
                self._write(lambda s: s.begin_call(call, version))
            case c.RecordDecision(decision=decision):
                self._write(lambda s: s.record_decision(decision))
            case c.AddConsent(event=consent):
                self._write(lambda s: s.add_consent_event(consent))
            case c.RememberObjection(caller_hash=hashed):
                days = privacy.objection_memory_days
                self._write(lambda s: s.remember_objection(hashed, now, days))
            case c.CloseRecording(recording_id=recording_id, state=state):
                self._write(lambda s: s.close_recording(recording_id, state, now))
            case c.OpenPause():
                pause = command
                self._write(
                    lambda s: s.open_pause(
                        pause.pause_id,
                        pause.recording_id,
                        pause.call_id,
                        pause.paused_by,
                        pause.reason,
                        now,
                    )
                )
            case c.ClosePause(pause_id=pause_id, resumed_by=resumed_by):
                self._write(lambda s: s.close_pause(pause_id, resumed_by, now))
            case c.AddAlert(call_id=call_id, kind=kind, message=message):
                if kind == RECORDING_FAILED:
                    self.recording_failures += 1
                self._write(lambda s: s.add_alert(call_id, kind, message, now))
            case c.MakePrivate(call_id=call_id, agent_id=agent_id, day=day):
                self._write(lambda s: s.make_private(call_id, agent_id, day))
            case c.RecordPayment(payment=payment):
                self._write(lambda s: s.record_payment(payment))
            case c.EndCall():
                end = command
                self._write(
                    lambda s: s.end_call(
                        end.call_id, now, end.outcome, end.agent_id, end.announcement_completed
                    )
                )
            case _:
                log.error("no handler for command %s", type(command).__name__)

    def _write(self, fn: Callable[[SqliteStore], object]) -> None:
        self._spawn(self._store.run(fn))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("background work failed: %s: %s", type(exc).__name__, exc)

    async def _lookup_objection(self, call_id: str, hashed: str) -> None:
        now = self._clock.now()
        try:
            objected = await self._store.run(lambda s: s.has_objection(hashed, now))
        except Exception as exc:
            # Fail safe: if the ledger cannot be read, treat the caller as objecting.
            log.error(
                "call %s: objection lookup failed (%s); not recording", call_id, type(exc).__name__
            )
            objected = True
        self._feed(call_id, m.ObjectionKnown(objected))

    async def _adopt(self, call_id: str, recording_id: str, name: str, fmt: str) -> None:
        self._settling.add(name)
        try:
            await self._adopt_file(call_id, recording_id, name, fmt)
        finally:
            self._settling.discard(name)

    async def _adopt_file(self, call_id: str, recording_id: str, name: str, fmt: str) -> None:
        try:
            adopted = await asyncio.to_thread(self._vault.adopt, name, fmt)
        except VaultError as exc:
            log.error("recording %s: %s", recording_id, exc)
            now = self._clock.now()
            if exc.kept:
                # Vault full or unwritable: the file waits in Asterisk's folder, its row
                # stays live, and the orphan sweep vaults it once the vault takes it.
                message = f"recording {recording_id} could not be vaulted ({exc}); kept in "
                message += "Asterisk's folder until the vault takes it"
                await self._store.run(lambda s: s.add_alert(call_id, "vault_failed", message, now))
                return
            await self._store.run(lambda s: s.close_recording(recording_id, "missing", now))
            return
        now = self._clock.now()
        await self._store.run(
            lambda s: s.finish_recording(
                recording_id, str(adopted.path), adopted.duration_seconds, adopted.sha256, now
            )
        )
        log.info("recording %s stored: %.1f s", recording_id, adopted.duration_seconds)

    async def _payment_details(self, call_id: str, channel_id: str) -> None:
        amount = order = ""
        try:
            amount = await self._client.get_variable(channel_id, "RECCONTROL_PAYMENT_AMOUNT")
            order = await self._client.get_variable(channel_id, "RECCONTROL_PAYMENT_ORDER")
        except AriError as exc:
            log.warning("call %s: payment details unreadable (%s)", call_id, exc.error_id)
        self._feed(call_id, m.PaymentDetails(amount.strip(), order.strip()))

    async def _submit_payment(self, call_id: str, request: ChargeRequest) -> None:
        if self._gateway is None:
            request.card.wipe()
            result = ChargeResult(UNAVAILABLE, "", 0, "no payment API configured", 0.0)
        else:
            result = await self._gateway.charge(request)
        log.info(
            "call %s: payment API answered %s in %.0f ms after %d attempt(s)",
            call_id,
            result.status,
            result.duration_ms,
            result.attempts,
        )
        self._feed(call_id, m.PaymentDone(result))

    async def _discard_incoming(self, call_id: str, name: str, fmt: str) -> None:
        self._settling.add(name)
        try:
            if await asyncio.to_thread(self._vault.discard_incoming, name, fmt):
                log.warning(
                    "call %s: deleted a file Asterisk kept for a discarded recording", call_id
                )
        finally:
            self._settling.discard(name)

    def _forget(self, call_id: str, ctx: CallContext) -> None:
        ctx.finished = True
        if ctx.task is not None and ctx.task is not asyncio.current_task():
            # Finished from a key's inline batch: the call's idle task has nothing left.
            ctx.task.cancel()
        for handle in ctx.timers.values():
            handle.cancel()
        self._calls.pop(call_id, None)
        for key in [k for k, v in self._by_channel.items() if v == call_id]:
            del self._by_channel[key]
        for key in [k for k, v in self._by_recording.items() if v == call_id]:
            del self._by_recording[key]


def _call_id_of(resource_id: str) -> str:
    """Playback ids are ``rc-<call id>-p<n>``."""
    parts = resource_id.split("-")
    return parts[1] if len(parts) >= 3 and parts[0] == "rc" else ""


def _harmless(command: c.Command, exc: AriError) -> bool:
    """Clean-up on something already gone is not a failure."""
    cleanup = (c.Hangup, c.DestroyBridge, c.StopPlayback, c.StopRecording, c.CancelRecording)
    return isinstance(command, cleanup) and isinstance(exc, AriNotFound)
