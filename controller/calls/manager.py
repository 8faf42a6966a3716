"""The calls in progress, as the daemon and the web API see them: an
:class:`~controller.calls.router.EventRouter` that turns ARI events into messages for
each call's machine, and a :class:`~controller.calls.executor.CommandExecutor` that
carries out the commands the machines return.
"""

from __future__ import annotations

import asyncio
import random

from controller.ari.client import AriClient
from controller.ari.events import Event
from controller.calls import messages as m
from controller.calls.executor import CommandExecutor
from controller.calls.latency import LatencyHistogram, RecentLatencies
from controller.calls.live import LiveBoard
from controller.calls.router import EventRouter
from controller.clock import Clock
from controller.config.model import Config
from controller.payments.gateway import PaymentGateway
from controller.recordings import LocalVault
from controller.store import SqliteStore, StoreThread


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
        self._clock = clock
        self.executor = CommandExecutor(
            config=config, client=client, store=store, vault=vault, clock=clock, gateway=gateway
        )
        self.router = EventRouter(config=config, executor=self.executor, clock=clock, rng=rng)
        self.first_look = self.router.first_look
        """For the events stream (:attr:`EventStream.first_look`): an agent's pause key
        acted on as soon as its frame is decoded."""

    @property
    def active_calls(self) -> int:
        return len(self.router.calls)

    @property
    def reaction_times_ms(self) -> RecentLatencies:
        """Key press to Asterisk's answer of the latest protective REST calls, in ms."""
        return self.executor.reaction_times_ms

    @property
    def key_to_pause(self) -> LatencyHistogram:
        """The same, bucketed in seconds, for /metrics."""
        return self.executor.key_to_pause

    @property
    def recording_failures(self) -> int:
        """Recordings lost since start (failed, never started, or ended by themselves)."""
        return self.executor.recording_failures

    @property
    def events_refused(self) -> int:
        """ARI events ignored since start: another application's, or about a channel
        that is not ours."""
        return self.router.refused

    @property
    def adopted(self) -> asyncio.Event:
        """Set once the calls a previous run left open are carried on or ended."""
        return self.router.adopted

    def recordings_in_hand(self) -> set[str]:
        """Recording names calls in progress own or are settling: not the sweep's."""
        return self.router.recordings_in_hand()

    async def handle(self, event: Event) -> None:
        await self.router.handle(event)

    def find_call(self, *, call_id: str | None = None, agent_id: str | None = None) -> str | None:
        """The id of a call in progress, by its id or by the agent talking on it."""
        calls = self.router.calls
        if call_id is not None:
            return call_id if call_id in calls else None
        for cid, ctx in calls.items():
            agent = ctx.machine.agent
            if agent is not None and agent.id == agent_id and not ctx.finished:
                return cid
        return None

    def service_of(self, call_id: str) -> str:
        ctx = self.router.calls.get(call_id)
        return ctx.machine.service.name if ctx is not None else "-"

    def payment_refusal(self, call_id: str) -> str | None:
        ctx = self.router.calls.get(call_id)
        if ctx is None or ctx.finished:
            return "the call is over"
        return ctx.machine.payment_refusal()

    def request_payment(self, call_id: str, amount: str, order_reference: str) -> None:
        """Sends the caller of ``call_id`` to the payment IVR (check
        :meth:`payment_refusal` first); the recording is paused before anything else."""
        message = m.PaymentRequested(amount, order_reference)
        self.router.feed(call_id, message, self._clock.monotonic())

    # -- the live board and live listening (S8) --------------------------------------
    @property
    def live(self) -> LiveBoard:
        """The calls in progress, their states and changes, for the console."""
        return self.router.live

    def listen_refusal(self, call_id: str) -> str | None:
        """S8: why ``call_id`` may not be listened to live now, or None."""
        ctx = self.router.calls.get(call_id)
        if ctx is None or ctx.finished:
            return "the call is over"
        refusal = ctx.machine.listen_refusal(self._clock.now())
        return refusal.value if refusal is not None else None

    def listener(self, call_id: str) -> str | None:
        """Who listens to ``call_id`` live now, if anyone."""
        ctx = self.router.calls.get(call_id)
        return ctx.machine.listening.person_id if ctx is not None else None

    def listen(self, call_id: str, person_id: str, phone: str) -> None:
        """Dials ``phone`` and lets it hear the call (check :meth:`listen_refusal` and
        the access service first); the call checks S8 again when it gets the request."""
        self.router.feed(call_id, m.ListenRequested(person_id, phone))

    def stop_listening(self, call_id: str, person_id: str) -> None:
        self.router.feed(call_id, m.ListenStopped(person_id))

    async def close(self, grace: float = 5.0) -> None:
        """Stops feeding calls; lets queued commands run for up to ``grace`` seconds."""
        await self.router.close(grace)
        await self.executor.close(grace)
