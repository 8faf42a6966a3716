"""Carries out what the call machines ask for: REST calls to Asterisk, store writes,
work off the event loop, timers.

The executor knows nothing of ARI events or of which call a channel belongs to; the
:class:`~controller.calls.router.EventRouter` does. Answers (a timer firing, a failed
REST call, an objection lookup) go back to the call through the router, as messages.
Every command kind is matched exhaustively: a new command that is not handled here
fails type checking.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, assert_never

from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.asterisk_view import AsteriskQueries
from controller.calls.latency import LatencyHistogram, RecentLatencies
from controller.calls.left_open import LeftOpenCalls
from controller.calls.recording import RECORDING_FAILED
from controller.calls.rest_requests import send_request
from controller.calls.store_writes import Write, with_decisions, write_of
from controller.calls.timers import CallTimers
from controller.clock import Clock
from controller.config.model import Config
from controller.payments.charge import REDIRECT_REFUSED, ChargeRequest
from controller.payments.gateway import PaymentGateway, charge_or_unavailable
from controller.recordings import LocalVault
from controller.recordings.stereo import discard_incoming, nothing_written
from controller.records import Unkept
from controller.retention.intake import Intake, VaultIntake
from controller.retention.unkept import delete_unkept_audio
from controller.stoppoints import ASKED as STOPS_ASKED
from controller.stoppoints import stop_asked, stop_point
from controller.store import SqliteStore, StoreThread

log = logging.getLogger("reccontrol.calls")

# Commands that protect audio: a batch they start runs in the key's event handler, and
# their reaction time from the key press is logged (a snoop's cut is not awaited).
PROTECTIVE = (c.CancelRecording, c.PauseRecording, c.CutSnoop, c.MuteCaller)
# What a batch may start with to run in the event handler that caused it: the protective
# commands, and a transfer's stop of its segment (the party swapped in for the agent may
# answer at once, an auto-answering phone: its voice must not reach the agent's file).
URGENT = (*PROTECTIVE, c.StopRecording)
# Clean-up on something already gone is not a failure.
CLEANUP = (c.Hangup, c.DestroyBridge, c.StopPlayback, c.StopRecording, c.CancelRecording)


@dataclass(frozen=True)
class Sent:
    """A protective request sent before the call's machine heard the key that asks for
    it (:meth:`CommandExecutor.send_first`), and how Asterisk answered."""

    command: c.Rest
    failure: AriError | None
    answered: float
    """The clock's monotonic time of Asterisk's answer (or of the failure)."""


@dataclass
class Batch:
    commands: list[c.Command]
    trigger: float | None = None
    """The clock's monotonic time of the key press that caused this batch, if any."""
    sent: Sent | None = None
    """Its protective request, already sent: not sent again, its answer taken as it is."""


class CallSink(Protocol):
    """Where the executor sends what comes back: the router."""

    def feed(self, call_id: str, message: m.Message, trigger: float | None = None) -> None: ...

    def forget(self, call_id: str) -> None: ...

    def track_recording(self, call_id: str, name: str) -> None: ...


class CommandExecutor:
    def __init__(
        self,
        *,
        config: Config,
        client: AriClient,
        store: StoreThread[SqliteStore],
        vault: LocalVault,
        clock: Clock,
        gateway: PaymentGateway | None = None,
    ) -> None:
        self._config = config
        self._client = client
        self._store = store
        self._vault = vault
        self._clock = clock
        self._gateway = gateway
        self._intake = VaultIntake(vault=vault, store=store, clock=clock)
        self.asterisk = AsteriskQueries(client, config)
        """What the router and the gap recovery ask Asterisk."""
        self.left_open = LeftOpenCalls(store, clock)
        """What the router asks the store about calls a previous run left open."""
        self._sink: CallSink | None = None
        self._timers = CallTimers(self._fire)
        self._background: set[asyncio.Future[Any]] = set()
        self.reaction_times_ms = RecentLatencies()
        self.key_to_pause = LatencyHistogram()
        """The same reaction times, bucketed for /metrics."""
        self.recording_failures = 0
        """Recordings lost since start (failed, never started, or ended by themselves)."""
        self.settling: set[str] = set()
        """Recording names whose file is being moved or deleted right now: the orphan
        sweep leaves them alone."""

    def attach(self, sink: CallSink) -> None:
        self._sink = sink

    @property
    def sink(self) -> CallSink:
        assert self._sink is not None, "the executor runs commands for a router: attach one"
        return self._sink

    # -- batches ---------------------------------------------------------------------
    async def run_batch(self, call_id: str, batch: Batch) -> None:
        sent, finished = batch.sent, False
        for command in with_decisions(batch.commands):
            if isinstance(command, c.Finished):
                finished = True
                break
            if sent is not None and command == sent.command:
                # Sent before the machine heard the key: its answer counts as if the
                # request left here, failure included.
                self._answered(call_id, sent.command, sent.failure, batch.trigger, sent.answered)
                sent = None
            else:
                await self.execute(call_id, command, batch.trigger)
            if STOPS_ASKED:
                stop_point(f"did:{type(command).__name__}")
        if sent is not None:
            self._unasked(call_id, sent)
        if finished:
            self.sink.forget(call_id)

    async def send_first(self, command: c.Rest) -> Sent:
        """A protective request sent ahead of its batch: the router sends it as soon as
        the key is read, before the call's machine runs (the hot path). Its batch, the
        machine's answer to the key, then starts with it (see :meth:`run_batch`)."""
        try:
            await send_request(self._client, self.asterisk, command)
        except AriError as exc:
            return Sent(command, exc, self._clock.monotonic())
        return Sent(command, None, self._clock.monotonic())

    def _unasked(self, call_id: str, sent: Sent) -> None:
        """A request sent first that the machine did not ask for once it heard the key
        (:meth:`~controller.calls.call.Call.protective_key` promises it does). Left as it
        is: taking a pause back could let through what another pause keeps out."""
        log.error(
            "call %s: %s was sent first for a key the call did not ask it for; left as it is",
            call_id,
            type(sent.command).__name__,
        )

    async def execute(self, call_id: str, command: c.Command, trigger: float | None) -> None:
        if STOPS_ASKED and isinstance(command, c.StoreCommand):
            await self._stop_before_write(command)
        match command:
            case c.CutSnoop():
                # A listening's snoop (S8) or the agent's whisper (A10) hung up, not
                # awaited: the pause or discard after it leaves at the same moment.
                self.spawn(self._cut_snoop(call_id, command))
            case c.RestCommand():
                # Inline, not a helper coroutine: this is the protective keys' path, where
                # the request leaves before anything is logged.
                try:
                    await self.rest(command)
                except AriError as exc:
                    self._answered(call_id, command, exc, trigger, 0.0)
                    return
                self._answered(call_id, command, None, trigger, self._clock.monotonic())
            case c.OpenRecording():
                # Committed before Asterisk is asked for the file: a process killed in
                # between leaves a row the next one finds, never a file nobody knows (R1).
                await self.open_recording(call_id, command)
            case c.StoreCommand():
                self.store_write(command)
            case c.WorkCommand():
                self._work(call_id, command)
            case c.TimerCommand():
                self._timers.run(call_id, command)
            case c.Log(level=level, message=message):
                log.log(logging.getLevelName(level.upper()), message)
            case c.Finished():
                self.sink.forget(call_id)
            case _:
                assert_never(command)

    def _answered(
        self,
        call_id: str,
        command: c.Rest,
        failure: AriError | None,
        trigger: float | None,
        answered: float,
    ) -> None:
        """What Asterisk's answer to ``command`` means for the call: a failure goes back
        to its machine, a protective request's time from the key is measured."""
        if failure is not None:
            if isinstance(command, CLEANUP) and isinstance(failure, AriNotFound):
                if isinstance(command, c.StopRecording):
                    # Already over, and its RecordingFinished was lost (it ended while the
                    # events websocket was down): settle it now rather than wait for the
                    # call's ending timer.
                    self.sink.feed(call_id, m.RecordingEnded(command.name))
                return
            self.sink.feed(call_id, m.CommandFailed(command, failure.error_id, failure.status))
            return
        log.debug("call %s: %s done", call_id, type(command).__name__)
        if trigger is not None and isinstance(command, PROTECTIVE):
            self._reaction(call_id, command, trigger, answered)

    def _reaction(self, call_id: str, command: c.Rest, trigger: float, answered: float) -> None:
        elapsed = (answered - trigger) * 1000
        self.reaction_times_ms.observe(elapsed)
        self.key_to_pause.observe(elapsed / 1000)
        log.info(
            "call %s: %s done %.2f ms after the key event", call_id, type(command).__name__, elapsed
        )

    # -- Asterisk --------------------------------------------------------------------
    async def rest(self, command: c.Rest) -> None:
        await send_request(self._client, self.asterisk, command)

    async def _cut_snoop(self, call_id: str, command: c.CutSnoop) -> None:
        try:
            await self.rest(command)
        except AriNotFound:
            return  # gone already
        except AriError as exc:
            log.error("call %s: snoop %s not hung up (%s)", call_id, command.snoop_id, exc.error_id)

    async def open_recording(self, call_id: str, opened: c.OpenRecording) -> None:
        self.sink.track_recording(call_id, opened.name)
        days = self._config.privacy.objection_memory_days
        try:
            await self._store.run(write_of(opened, self._clock.now(), days))
        except Exception:
            # The call goes on; a file without its row is the orphan sweep's to delete.
            log.exception(
                "call %s: recording %s: its row could not be written", call_id, opened.recording_id
            )

    # -- store -----------------------------------------------------------------------
    async def _stop_before_write(self, command: c.Store) -> None:
        """Crash tests only: the store thread stops right before this command's write
        (the call waits for it; the event loop goes on)."""
        point = f"store:{type(command).__name__}"
        if stop_asked(point):
            await self._store.run(lambda s: stop_point(point))

    def store_write(self, command: c.Store) -> None:
        """Queues the command's write to the store thread; nothing waits for it."""
        if isinstance(command, c.AddAlert) and command.kind == RECORDING_FAILED:
            self.recording_failures += 1
        days = self._config.privacy.objection_memory_days
        self._write(write_of(command, self._clock.now(), days))

    def _write(self, fn: Write) -> None:
        # In the order the commands came, behind every write queued before.
        self._store.submit(fn)

    # -- work off the event loop -----------------------------------------------------
    def _work(self, call_id: str, command: c.Work) -> None:
        match command:
            case c.LookupObjection(caller_hash=hashed):
                self.spawn(self._lookup_objection(call_id, hashed))
            case c.TakeInRecording(recording_id=recording_id, name=name, fmt=fmt):
                # Settling from now, not from when the task starts: the call may be
                # forgotten first, and the orphan sweep must not take the file meanwhile.
                self.settling.add(name)
                self.spawn(self.take_in(call_id, recording_id, name, fmt, command.after_restart))
            case c.DiscardIncoming(name=name, fmt=fmt):
                self.settling.add(name)
                self.spawn(self._discard_incoming(call_id, name, fmt))
            case c.DeleteUnkeptAudio(call_id=unkept_call, reason=reason):
                self.spawn(self._delete_unkept(unkept_call, reason))
            case c.FetchPaymentDetails(channel_id=channel_id):
                self.spawn(self._payment_details(call_id, channel_id))
            case c.SubmitPayment(request=request):
                self.spawn(self._submit_payment(call_id, request))
            case _:
                assert_never(command)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
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
        self.sink.feed(call_id, m.ObjectionKnown(objected))

    async def take_in(
        self, call_id: str, recording_id: str, name: str, fmt: str, after_restart: bool = False
    ) -> None:
        """The call's finished file into the vault (:mod:`controller.retention.intake`).
        ``after_restart``: a row with no file at all is one Asterisk never started (R1):
        ``discarded``, nothing was recorded; not ``missing``, which says a file was lost."""
        try:
            if after_restart and await asyncio.to_thread(nothing_written, self._vault, name, fmt):
                now = self._clock.now()
                await self._store.run(lambda s: s.close_recording(recording_id, "discarded", now))
                log.warning("call %s: recording %s was never started", call_id, recording_id)
                return
            if await self._intake.call_file(call_id, recording_id, name, fmt) is Intake.UNUSABLE:
                self.recording_failures += 1
        finally:
            self.settling.discard(name)

    async def _discard_incoming(self, call_id: str, name: str, fmt: str) -> None:
        try:
            if await asyncio.to_thread(discard_incoming, self._vault, name, fmt):
                log.warning(
                    "call %s: deleted a file Asterisk kept for a discarded recording", call_id
                )
        finally:
            self.settling.discard(name)

    async def _delete_unkept(self, call_id: str, reason: Unkept) -> None:
        """C2, A2: the files on a worker thread, the store calls queued behind the key's
        write (the ledger's objection, the call marked private). A failure leaves them
        to the orphan sweep's next pass (and the next start's)."""
        try:
            await delete_unkept_audio(self._store, self._vault, self._clock, reason, call_id)
        except Exception:
            log.exception(
                "call %s: audio that may not be kept (%s) could not be deleted yet; the next "
                "orphan sweep deletes it",
                call_id,
                reason,
            )

    async def _payment_details(self, call_id: str, channel_id: str) -> None:
        amount, order = await self.asterisk.payment_details(call_id, channel_id)
        self.sink.feed(call_id, m.PaymentDetails(amount, order))

    async def _submit_payment(self, call_id: str, request: ChargeRequest) -> None:
        result = await charge_or_unavailable(self._gateway, request, call_id)
        log.info(
            "call %s: payment API answered %s in %.0f ms after %d attempt(s)",
            call_id,
            result.status,
            result.duration_ms,
            result.attempts,
        )
        if result.detail.startswith(REDIRECT_REFUSED):
            # S6: the API tried to send the card elsewhere; a person must look at it.
            message = (
                f"the payment API answered a redirect ({result.detail}); the card was not "
                "re-sent: check payment.api_url"
            )
            self.store_write(c.AddAlert(call_id, c.AlertKind.PAYMENT_REDIRECT, message))
        self.sink.feed(call_id, m.PaymentDone(result))

    # -- timers ----------------------------------------------------------------------
    def _fire(self, call_id: str, name: str) -> None:
        self.sink.feed(call_id, m.TimerFired(name))

    def drop_timers(self, call_id: str) -> None:
        self._timers.drop(call_id)

    async def close(self, grace: float) -> None:
        """Cancels every timer; lets background work finish for up to ``grace`` seconds."""
        self._timers.drop_all()
        if self._background:
            await asyncio.wait(self._background, timeout=grace)
