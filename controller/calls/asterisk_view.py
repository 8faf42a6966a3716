"""What Asterisk has now, read in one pass for the adoption of calls (R1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.ari.client import AriClient
from controller.ari.errors import AriNotFound
from controller.ari.models import Bridge, Channel


@dataclass(frozen=True)
class AsteriskView:
    channels: Mapping[str, Channel]
    """Every channel, by id, in the application or not."""
    in_application: frozenset[str]
    bridges: Mapping[str, Bridge]
    recordings: Mapping[str, str]
    """Live recording name -> state, for the names asked for (absent: not live)."""


async def read_view(client: AriClient, recording_names: Iterable[str]) -> AsteriskView:
    """Raises :class:`~controller.ari.errors.AriError` if Asterisk cannot answer: a
    partial view would end calls that are still there."""
    channels = {ch.id: ch for ch in await client.list_channels()}
    application = await client.get_application()
    bridges = {b.id: b for b in await client.list_bridges()}
    recordings: dict[str, str] = {}
    for name in recording_names:
        try:
            recordings[name] = (await client.get_live_recording(name)).state
        except AriNotFound:
            continue
    return AsteriskView(channels, frozenset(application.channel_ids), bridges, recordings)
