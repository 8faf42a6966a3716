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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, assert_never

from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.asterisk_view import AsteriskView, read_view
from controller.calls.ids import far_side_id
from controller.calls.recording import RECORDING_FAILED
from controller.clock import Clock
from controller.config.model import Agent, Config
from controller.payments.charge import REDIRECT_REFUSED, UNAVAILABLE, ChargeRequest, ChargeResult
from controller.payments.gateway import PaymentGateway
from controller.recordings import LocalVault, VaultError, VaultRefused, VaultUnusable
from controller.records import OpenCall
from controller.retention.unusable import delete_unusable
from controller.stoppoints import ASKED as STOPS_ASKED
from controller.stoppoints import stop_asked, stop_point
from controller.store import SqliteStore, StoreThread

log = logging.getLogger("reccontrol.calls")

# Commands that protect audio: their reaction time from the key press is logged.
PROTECTIVE = (c.CancelRecording, c.PauseRecording)
UNHANDLED_VARIABLE = "RECCONTROL_RESULT"
# Clean-up on something already gone is not a failure.
CLEANUP = (c.Hangup, c.DestroyBridge, c.StopPlayback, c.StopRecording, c.CancelRecording)


@dataclass
class Batch:
    commands: list[c.Command]
    trigger: float | None = None
    """The clock's monotonic time of the key press that caused this batch, if any."""


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
        self._sink: CallSink | None = None
        self._timers: dict[str, dict[str, asyncio.TimerHandle]] = {}
        self._background: set[asyncio.Future[Any]] = set()
        self.reaction_times_ms: list[float] = []
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
        for command in batch.commands:
            if isinstance(command, c.Finished):
                self.sink.forget(call_id)
                return
            await self.execute(call_id, command, batch.trigger)
            if STOPS_ASKED:
                stop_point(f"did:{type(command).__name__}")

    async def execute(self, call_id: str, command: c.Command, trigger: float | None) -> None:
        if STOPS_ASKED and isinstance(command, c.StoreCommand):
            await self._stop_before_write(command)
        match command:
            case c.RestCommand():
                # Inline, not a helper coroutine: this is the protective keys' path.
                log.debug("call %s: %s", call_id, type(command).__name__)
                try:
                    await self.rest(command)
                except AriError as exc:
                    if isinstance(command, CLEANUP) and isinstance(exc, AriNotFound):
                        if isinstance(command, c.StopRecording):
                            # Already over, and its RecordingFinished was lost (it ended
                            # while the events websocket was down): settle it now rather
                            # than wait for the call's ending timer.
                            self.sink.feed(call_id, m.RecordingEnded(command.name))
                        return
                    self.sink.feed(call_id, m.CommandFailed(command, exc.error_id, exc.status))
                    return
                if trigger is not None and isinstance(command, PROTECTIVE):
                    self._reaction(call_id, command, trigger)
            case c.OpenRecording():
                # Committed before Asterisk is asked for the file: a process killed in
                # between leaves a row the next one finds, never a file nobody knows (R1).
                await self.open_recording(call_id, command)
            case c.StoreCommand():
                self._store_write(call_id, command)
            case c.WorkCommand():
                self._work(call_id, command)
            case c.TimerCommand():
                self._timer(call_id, command)
            case c.Log(level=level, message=message):
                log.log(logging.getLevelName(level.upper()), message)
            case c.Finished():
                self.sink.forget(call_id)
            case _:
                assert_never(command)

    def _reaction(self, call_id: str, command: c.Rest, trigger: float) -> None:
        elapsed = (self._clock.monotonic() - trigger) * 1000
        self.reaction_times_ms.append(elapsed)
        log.info(
            "call %s: %s done %.2f ms after the key event", call_id, type(command).__name__, elapsed
        )

    # -- Asterisk --------------------------------------------------------------------
    async def rest(self, command: c.Rest) -> None:
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
                local = command.endpoint.startswith("Local/")
                await client.originate(
                    command.endpoint,
                    app_args=command.app_args,
                    channel_id=command.channel_id,
                    other_channel_id=far_side_id(command.channel_id) if local else None,
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
            case c.Hangup(channel_id=channel_id, reason=reason):
                await client.hangup(channel_id, reason)
            case c.DestroyBridge(bridge_id=bridge_id):
                await client.destroy_bridge(bridge_id)
            case c.ContinueInDialplan(channel_id=channel_id):
                await self.return_to_dialplan(channel_id)
            case _:
                assert_never(command)

    async def return_to_dialplan(self, channel_id: str) -> None:
        """Hands the channel back, flagged so the dialplan sends it on unrecorded."""
        try:
            await self._client.set_variable(channel_id, UNHANDLED_VARIABLE, "unhandled")
            await self._client.continue_in_dialplan(channel_id)
        except AriError as exc:
            log.error(
                "channel %s: could not return it to the dialplan (%s)", channel_id, exc.error_id
            )

    async def continue_private_call(self, channel_id: str) -> None:
        try:
            await self._client.continue_in_dialplan(channel_id)
        except AriError as exc:
            log.error("a private call could not be handed back to the dialplan (%s)", exc.error_id)

    async def hang_up_stray(self, channel_id: str) -> None:
        """A channel nobody waits for any more: hang it up, gone or not."""
        try:
            await self._client.hangup(channel_id)
        except AriError:
            pass

    async def existing_channels(self) -> set[str] | None:
        """Every channel Asterisk has now (in the application or not), or None when it
        cannot say."""
        try:
            return {channel.id for channel in await self._client.list_channels()}
        except AriError as exc:
            log.warning("channels unreadable (%s)", exc.error_id)
            return None

    async def open_recording(self, call_id: str, opened: c.OpenRecording) -> None:
        self.sink.track_recording(call_id, opened.name)
        now = self._clock.now()
        try:
            await self._store.run(
                lambda s: s.open_recording(
                    opened.recording_id,
                    opened.call_id,
                    opened.name,
                    opened.fmt,
                    opened.purposes,
                    now,
                    opened.retention_days,
                )
            )
        except Exception:
            # The call goes on; a file without its row is the orphan sweep's to delete.
            log.exception(
                "call %s: recording %s: its row could not be written", call_id, opened.recording_id
            )

    # -- adoption after a restart (R1) -------------------------------------------------
    async def open_calls(self) -> list[OpenCall]:
        return await self._store.run(lambda s: s.open_calls())

    async def asterisk_view(self, recording_names: list[str]) -> AsteriskView | None:
        """What Asterisk has now, or None when it cannot say."""
        try:
            return await read_view(self._client, recording_names)
        except AriError as exc:
            log.warning("Asterisk's calls unreadable (%s)", exc.error_id)
            return None

    async def close_interrupted(self, keep: set[str]) -> int:
        """Closes the calls a previous run left open that nobody carries on."""
        now = self._clock.now()
        return await self._store.run(lambda s: s.close_interrupted_calls(now, keep))

    async def asterisk_started(self) -> str | None:
        """When the Asterisk now answering started (``GET /asterisk/info``), or None when
        it cannot say: a new value means it restarted."""
        try:
            info = await self._client.asterisk_info()
        except AriError as exc:
            log.warning("Asterisk's start time is unreadable (%s)", exc.error_id)
            return None
        status = info.get("status")
        started = status.get("startup_time") if isinstance(status, dict) else None
        return started if isinstance(started, str) else None

    async def application_channels(self) -> set[str] | None:
        """The channels in the Stasis application now, or None when Asterisk cannot
        say."""
        try:
            return set((await self._client.get_application()).channel_ids)
        except AriError as exc:
            log.warning("the application's channels are unreadable (%s)", exc.error_id)
            return None

    async def playback_over(self, playback_id: str) -> bool:
        """Whether Asterisk no longer has the playback (it finished, or failed); False
        when it cannot say."""
        try:
            await self._client.request("GET", f"/playbacks/{playback_id}")
        except AriNotFound:
            return True
        except AriError:
            return False
        return False

    async def channel_in_stasis(self, channel_id: str) -> Channel | None:
        """The channel, if it sits in a Stasis application now; None if it does not, is
        gone, or Asterisk cannot say."""
        try:
            channel = await self._client.get_channel(channel_id)
        except AriError:
            return None
        return channel if channel.dialplan_app.lower() == "stasis" else None

    async def in_stasis(self, channel_id: str) -> bool:
        """Whether the channel sits in a Stasis application now, not merely watched by
        ours (the far half of a Local channel the controller dialled is listed in the
        application too). When Asterisk cannot say, assume it does."""
        try:
            channel = await self._client.get_channel(channel_id)
        except AriNotFound:
            return False
        except AriError:
            return True
        return channel.dialplan_app.lower() == "stasis"

    async def agent_named_on(self, channel_id: str) -> Agent | None:
        """Who answered behind a Local target. A Queue() on the far half names the member
        that answered in ``MEMBERINTERFACE`` (queues.conf ``setinterfacevar=yes``), e.g.
        ``PJSIP/bruno``: matched exactly against the agents' endpoints. Otherwise the site's
        dialplan may name the agent in ``RECCONTROL_AGENT``. Neither: nobody, and the
        call is not recorded."""
        try:
            member = await self._client.get_variable(far_side_id(channel_id), "MEMBERINTERFACE")
        except AriError:
            member = ""
        if member:
            agent = self._config.agent_for_interface(member)
            if agent is None:
                log.warning(
                    "channel %s: queue member %s is no configured agent", channel_id, member
                )
            return agent
        try:
            agent_id = await self._client.get_variable(channel_id, "RECCONTROL_AGENT")
        except AriError:
            return None
        return self._config.agents.get(agent_id)

    # -- store -----------------------------------------------------------------------
    async def _stop_before_write(self, command: c.Store) -> None:
        """Crash tests only: the store thread stops right before this command's write
        (the call waits for it; the event loop goes on)."""
        point = f"store:{type(command).__name__}"
        if stop_asked(point):
            await self._store.run(lambda s: stop_point(point))

    def _store_write(self, call_id: str, command: c.Store) -> None:
        now = self._clock.now()
        match command:
            case c.BeginCall(call=call, announcement_version=version):
                self.write(lambda s: s.begin_call(call, version))
            case c.AnnouncementHeard(call_id=heard):
                self.write(lambda s: s.announcement_heard(heard))
            case c.RecordDecision(decision=decision):
                self.write(lambda s: s.record_decision(decision))
            case c.AddConsent(event=consent):
                self.write(lambda s: s.add_consent_event(consent))
            case c.RememberObjection(caller_hash=hashed):
                days = self._config.privacy.objection_memory_days
                self.write(lambda s: s.remember_objection(hashed, now, days))
            case c.OpenRecording():
                self.spawn(self.open_recording(call_id, command))
            case c.CloseRecording(recording_id=recording_id, state=state):
                self.write(lambda s: s.close_recording(recording_id, state, now))
            case c.OpenPause():
                pause = command
                self.write(
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
                self.write(lambda s: s.close_pause(pause_id, resumed_by, now))
            case c.AddAlert(call_id=alert_call, kind=kind, message=message):
                if kind == RECORDING_FAILED:
                    self.recording_failures += 1
                self.write(lambda s: s.add_alert(alert_call, kind, message, now))
            case c.MakePrivate(call_id=private_call, agent_id=agent_id, day=day):
                self.write(lambda s: s.make_private(private_call, agent_id, day))
            case c.RecordPayment(payment=payment):
                self.write(lambda s: s.record_payment(payment))
            case c.EndCall():
                end = command
                self.write(
                    lambda s: s.end_call(
                        end.call_id, now, end.outcome, end.agent_id, end.announcement_completed
                    )
                )
            case _:
                assert_never(command)

    def write(self, fn: Callable[[SqliteStore], object]) -> None:
        """Queues a write to the store thread; nothing waits for it."""
        self.spawn(self._store.run(fn))

    # -- work off the event loop -----------------------------------------------------
    def _work(self, call_id: str, command: c.Work) -> None:
        match command:
            case c.LookupObjection(caller_hash=hashed):
                self.spawn(self._lookup_objection(call_id, hashed))
            case c.AdoptRecording(recording_id=recording_id, name=name, fmt=fmt):
                # Settling from now, not from when the task starts: the call may be
                # forgotten first, and the orphan sweep must not take the file meanwhile.
                self.settling.add(name)
                self.spawn(self._adopt(call_id, recording_id, name, fmt))
            case c.DiscardIncoming(name=name, fmt=fmt):
                self.settling.add(name)
                self.spawn(self._discard_incoming(call_id, name, fmt))
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

    async def _adopt(self, call_id: str, recording_id: str, name: str, fmt: str) -> None:
        try:
            await self._adopt_file(call_id, recording_id, name, fmt)
        finally:
            self.settling.discard(name)

    async def _adopt_file(self, call_id: str, recording_id: str, name: str, fmt: str) -> None:
        try:
            adopted = await asyncio.to_thread(self._vault.adopt, name, fmt)
        except VaultError as exc:
            log.error("recording %s: %s", recording_id, exc)
            now = self._clock.now()
            if isinstance(exc, VaultUnusable):
                # Nothing to keep (Asterisk died before writing audio, or not a WAV).
                self.recording_failures += 1
                await delete_unusable(
                    vault=self._vault,
                    store=self._store,
                    clock=self._clock,
                    recording_id=recording_id,
                    file=self._vault.incoming_path(name, fmt).name,
                    why=exc.reason,
                )
                return
            if isinstance(exc, VaultRefused):
                # A planted link or foreign file in Asterisk's folder: someone may be
                # reaching for a file elsewhere. An alert a person must look at.
                log.error("ALERT: recording %s refused by the vault", recording_id)
                message = f"recording {recording_id}: {exc}"
                await self._store.run(lambda s: s.add_alert(None, "vault_refused", message, now))
            elif exc.kept:
                # Vault full or unwritable: the file waits in Asterisk's folder, its row
                # stays live, and the orphan sweep vaults it once the vault takes it.
                message = (
                    f"recording {recording_id} could not be vaulted ({exc}); kept in "
                    "Asterisk's folder until the vault takes it"
                )
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

    async def _discard_incoming(self, call_id: str, name: str, fmt: str) -> None:
        try:
            if await asyncio.to_thread(self._vault.discard_incoming, name, fmt):
                log.warning(
                    "call %s: deleted a file Asterisk kept for a discarded recording", call_id
                )
        finally:
            self.settling.discard(name)

    async def _payment_details(self, call_id: str, channel_id: str) -> None:
        amount = order = ""
        try:
            amount = await self._client.get_variable(channel_id, "RECCONTROL_PAYMENT_AMOUNT")
            order = await self._client.get_variable(channel_id, "RECCONTROL_PAYMENT_ORDER")
        except AriError as exc:
            log.warning("call %s: payment details unreadable (%s)", call_id, exc.error_id)
        self.sink.feed(call_id, m.PaymentDetails(amount.strip(), order.strip()))

    async def _submit_payment(self, call_id: str, request: ChargeRequest) -> None:
        if self._gateway is None:
            request.card.wipe()
            result = ChargeResult(UNAVAILABLE, "", 0, "no payment API configured", 0.0)
        else:
            try:
                result = await self._gateway.charge(request)
            except Exception as exc:
                # Whatever broke, the call must hear an outcome: a caller waiting in the
                # IVR for an answer that never comes is a caller lost (R2).
                log.error("call %s: the payment failed: %s", call_id, type(exc).__name__)
                detail = f"payment API answer unusable ({type(exc).__name__})"
                result = ChargeResult(UNAVAILABLE, "", 0, detail, 0.0)
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
            now = self._clock.now()
            self.write(lambda s: s.add_alert(call_id, "payment_redirect", message, now))
        self.sink.feed(call_id, m.PaymentDone(result))

    # -- timers ----------------------------------------------------------------------
    def _timer(self, call_id: str, command: c.Timer) -> None:
        timers = self._timers.setdefault(call_id, {})
        match command:
            case c.StartTimer(name=name, seconds=seconds):
                old = timers.pop(name, None)
                if old is not None:
                    old.cancel()
                timers[name] = asyncio.get_running_loop().call_later(
                    seconds, self.sink.feed, call_id, m.TimerFired(name)
                )
            case c.CancelTimer(name=name):
                handle = timers.pop(name, None)
                if handle is not None:
                    handle.cancel()
            case _:
                assert_never(command)

    def drop_timers(self, call_id: str) -> None:
        for handle in self._timers.pop(call_id, {}).values():
            handle.cancel()

    async def close(self, grace: float) -> None:
        """Cancels every timer; lets background work finish for up to ``grace`` seconds."""
        for call_id in list(self._timers):
            self.drop_timers(call_id)
        if self._background:
            await asyncio.wait(self._background, timeout=grace)
