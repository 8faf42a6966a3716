"""What the calls ask Asterisk besides their commands: what it has now (its lists read
in one pass for the adoption of calls, R1, then each call's recording on its own), and
the questions the router and the gap recovery ask about one channel or playback. Each
answers None (or a safe default) when Asterisk cannot say, and logs why."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from controller.ari.client import AriClient
from controller.ari.errors import AriError, AriNotFound
from controller.ari.models import Bridge, Channel
from controller.calls.ids import far_side_id
from controller.config.model import Agent, Config
from controller.recordings.live import live_state

log = logging.getLogger("reccontrol.calls")

UNHANDLED_VARIABLE = "RECCONTROL_RESULT"


@dataclass(frozen=True)
class AsteriskView:
    channels: Mapping[str, Channel]
    """Every channel, by id, in the application or not."""
    in_application: frozenset[str]
    bridges: Mapping[str, Bridge]
    recordings: Mapping[str, str]
    """Live recording name -> state, for the names asked for (absent: not live)."""


async def read_lists(client: AriClient) -> AsteriskView:
    """Every channel and bridge, and the application's channels, without any recording:
    three requests, whatever the number of calls. Raises
    :class:`~controller.ari.errors.AriError` if Asterisk cannot answer."""
    channels = {ch.id: ch for ch in await client.list_channels()}
    application = await client.get_application()
    bridges = {b.id: b for b in await client.list_bridges()}
    return AsteriskView(channels, frozenset(application.channel_ids), bridges, {})


class AsteriskQueries:
    def __init__(self, client: AriClient, config: Config) -> None:
        self._client = client
        self._config = config

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

    async def destroy_stray_bridge(self, bridge_id: str) -> None:
        """A bridge nobody uses any more: destroy it, gone or not."""
        try:
            await self._client.destroy_bridge(bridge_id)
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

    async def lists(self) -> AsteriskView | None:
        """Asterisk's channels and bridges now (no recording), or None when it cannot
        say."""
        try:
            return await read_lists(self._client)
        except AriError as exc:
            log.warning("Asterisk's calls unreadable (%s)", exc.error_id)
            return None

    async def recording_state(self, name: str) -> str | None:
        """A live recording's state, None when it is not live; raises
        :class:`~controller.ari.errors.AriError` when Asterisk cannot say."""
        return await live_state(self._client, name)

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


    async def watch(self, channel_name: str) -> str | None:
        """Subscribes the application to the channel named ``channel_name`` (a
        transfer's far half, which is not in the application), so that its ``Dial``
        events reach the controller; its id, or None when it is gone or Asterisk cannot
        say."""
        try:
            far = next(ch for ch in await self._client.list_channels() if ch.name == channel_name)
            path = f"/applications/{quote(self._client.app, safe='')}/subscription"
            await self._client.request("POST", path, {"eventSource": f"channel:{far.id}"})
        except (AriError, StopIteration):
            log.warning("a transfer's far half could not be watched: a later transfer is unseen")
            return None
        return far.id

    async def agent_behind(self, far_name: str) -> Agent | None:
        """Who answered a transfer (R3, A7), read on the ``;2`` half of its Local
        channel (named ``far_name``), which ran the target extension: the queue member
        that answered (``MEMBERINTERFACE``, queues.conf ``setinterfacevar=yes``), else the
        channel ``Dial()`` reached (``DIALEDPEERNAME``), else the agent the site's
        dialplan named in ``RECCONTROL_AGENT``, else the channel it is bridged with
        (``BRIDGEPEER``): after an attended transfer the far half dialled nobody, it took
        the consultation's place beside the colleague. Each matched against the agents'
        endpoints, as for a call's first agent; nobody (not recorded) when none is set
        or Asterisk cannot say."""
        try:
            far = next(ch for ch in await self._client.list_channels() if ch.name == far_name)
        except (AriError, StopIteration):
            log.warning("a transfer's target is unreadable: its far half is gone or unknown")
            return None
        readers = (
            ("MEMBERINTERFACE", self._config.agent_for_interface),
            ("DIALEDPEERNAME", self._config.agent_for_channel),
            ("RECCONTROL_AGENT", self._config.agents.get),
            ("BRIDGEPEER", self._config.agent_for_channel),
        )
        for variable, agent_of in readers:
            try:
                value = await self._client.get_variable(far.id, variable)
            except AriError:
                value = ""
            if value:
                return agent_of(value)
        return None

    async def payment_details(self, call_id: str, channel_id: str) -> tuple[str, str]:
        """The amount and order reference the dialplan set on the caller's channel; empty
        when unreadable (the payment is then refused)."""
        amount = order = ""
        try:
            amount = await self._client.get_variable(channel_id, "RECCONTROL_PAYMENT_AMOUNT")
            order = await self._client.get_variable(channel_id, "RECCONTROL_PAYMENT_ORDER")
        except AriError as exc:
            log.warning("call %s: payment details unreadable (%s)", call_id, exc.error_id)
        return amount.strip(), order.strip()
