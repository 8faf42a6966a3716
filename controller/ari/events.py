"""Typed, frozen ARI events.

:func:`parse_event` never raises on well-formed JSON: an event type reccontrol does not
know becomes a :class:`GenericEvent`, so a newer Asterisk cannot crash the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from controller.ari.models import Application, Bridge, Channel, LiveRecording, Playback


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    application: str
    timestamp: str
    received: float = field(compare=False)
    """``time.monotonic()`` when the frame was read, to measure reaction times."""


@dataclass(frozen=True, slots=True)
class GenericEvent(Event):
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class StasisStart(Event):
    channel: Channel
    args: tuple[str, ...]
    replace_channel: Channel | None = None


class ChannelOnDemand:
    """An event whose channel is read from the frame when asked for (:attr:`channel`,
    parsed on each read): routing it needs the channel's id alone (``channel_id``),
    and most are routed and dropped without anything else of the channel read."""

    __slots__ = ()
    channel_id: str
    channel_data: dict[str, Any]
    """The channel object as the frame carried it."""

    @property
    def channel(self) -> Channel:
        return Channel.parse(self.channel_data)


@dataclass(frozen=True, slots=True)
class StasisEnd(Event, ChannelOnDemand):
    """The channel left the application: the router needs its id alone."""

    channel_id: str
    channel_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived(Event, ChannelOnDemand):
    """A key pressed on a channel. Only what routing it needs is read from the frame
    (the channel's id and the digit): a key may be the one that pauses a recording, and
    the pause's REST call goes out before anything else."""

    channel_id: str
    digit: str = field(repr=False)
    duration_ms: int
    channel_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChannelStateChange(Event):
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest(Event, ChannelOnDemand):
    """A hang-up asked for: the router needs the channel's id and the cause alone."""

    channel_id: str
    cause: int
    soft: bool
    channel_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChannelDestroyed(Event, ChannelOnDemand):
    """The channel is gone: the router needs its id and the cause alone."""

    channel_id: str
    cause: int
    cause_txt: str
    channel_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChannelVarset(Event):
    channel: Channel | None
    variable: str
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ChannelHold(Event):
    """``ChannelHold`` (``held``) or ``ChannelUnhold``: the channel's phone put the call on
    hold (a SIP re-INVITE ``sendonly`` or ``inactive``) or took it back. In a bridge of
    the application Asterisk plays no music for it: that is left to the application."""

    channel: Channel
    held: bool
    music_class: str = ""
    """The class the phone's endpoint suggests (``moh_suggest``); may be empty."""


@dataclass(frozen=True, slots=True)
class ChannelEnteredBridge(Event):
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelLeftBridge(Event):
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, slots=True)
class BridgeDestroyed(Event):
    bridge: Bridge


@dataclass(frozen=True, slots=True)
class PlaybackStarted(Event):
    playback: Playback


@dataclass(frozen=True, slots=True)
class PlaybackFinished(Event):
    playback: Playback


@dataclass(frozen=True, slots=True)
class RecordingStarted(Event):
    recording: LiveRecording


@dataclass(frozen=True, slots=True)
class RecordingFinished(Event):
    recording: LiveRecording


@dataclass(frozen=True, slots=True)
class RecordingFailed(Event):
    recording: LiveRecording


@dataclass(frozen=True, slots=True)
class Dial(Event):
    peer: Channel
    caller: Channel | None
    dialstatus: str
    dialstring: str


@dataclass(frozen=True, slots=True)
class StreamConnected(Event):
    """Not from Asterisk: the events websocket is (re)connected.

    ``state`` is what ``GET /applications/{app}`` answered right after connecting.
    After a reconnect, events sent during the gap are lost, so consumers compare it
    with what they track.
    """

    state: Application
    reconnect: bool
    blind_since: float | None = None
    """After a reconnect: the monotonic time from which events may have been lost, the
    last frame read on the previous connection (earlier than, or the moment, it was
    found dead). Whatever happened from then on was not heard. None on the first
    connection."""


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _s(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


# One builder per event type, each given the fields every event has (type, application,
# timestamp, time read) and the decoded message. A table rather than a chain of cases:
# every frame is parsed on the event loop, a key press's before its pause goes out.
Head = tuple[str, str, str, float]
_Builder = Callable[[Head, dict[str, Any]], Event]


def _stasis_start(head: Head, data: dict[str, Any]) -> Event:
    args, replace = data.get("args"), data.get("replace_channel")
    return StasisStart(
        *head,
        Channel.parse(data.get("channel")),
        tuple(str(a) for a in args) if isinstance(args, list) else (),
        Channel.parse(replace) if isinstance(replace, dict) else None,
    )


def _channel_data(data: dict[str, Any]) -> dict[str, Any]:
    """The event's channel object, or an empty one: for :class:`ChannelOnDemand`."""
    channel = data.get("channel")
    return channel if isinstance(channel, dict) else {}


def _dtmf(head: Head, data: dict[str, Any]) -> Event:
    channel = _channel_data(data)
    return ChannelDtmfReceived(
        *head, _s(channel, "id"), _s(data, "digit"), _int(data, "duration_ms"), channel
    )


def _stasis_end(head: Head, data: dict[str, Any]) -> Event:
    channel = _channel_data(data)
    return StasisEnd(*head, _s(channel, "id"), channel)


def _hangup_request(head: Head, data: dict[str, Any]) -> Event:
    channel = _channel_data(data)
    cause, soft = _int(data, "cause"), bool(data.get("soft"))
    return ChannelHangupRequest(*head, _s(channel, "id"), cause, soft, channel)


def _destroyed(head: Head, data: dict[str, Any]) -> Event:
    channel = _channel_data(data)
    cause, text = _int(data, "cause"), _s(data, "cause_txt")
    return ChannelDestroyed(*head, _s(channel, "id"), cause, text, channel)


def _varset(head: Head, data: dict[str, Any]) -> Event:
    channel = data.get("channel")
    return ChannelVarset(
        *head,
        Channel.parse(channel) if isinstance(channel, dict) else None,
        _s(data, "variable"),
        _s(data, "value"),
    )


def _dial(head: Head, data: dict[str, Any]) -> Event:
    caller = data.get("caller")
    return Dial(
        *head,
        Channel.parse(data.get("peer")),
        Channel.parse(caller) if isinstance(caller, dict) else None,
        _s(data, "dialstatus"),
        _s(data, "dialstring"),
    )


def _on_channel(kind: type[ChannelStateChange]) -> _Builder:
    return lambda head, data: kind(*head, Channel.parse(data.get("channel")))


def _in_bridge(kind: type[ChannelEnteredBridge] | type[ChannelLeftBridge]) -> _Builder:
    return lambda head, data: kind(
        *head, Bridge.parse(data.get("bridge")), Channel.parse(data.get("channel"))
    )


def _on_playback(kind: type[PlaybackStarted] | type[PlaybackFinished]) -> _Builder:
    return lambda head, data: kind(*head, Playback.parse(data.get("playback")))


RecordingEvent = type[RecordingStarted] | type[RecordingFinished] | type[RecordingFailed]


def _on_recording(kind: RecordingEvent) -> _Builder:
    return lambda head, data: kind(*head, LiveRecording.parse(data.get("recording")))


_BUILDERS: dict[str, _Builder] = {
    "StasisStart": _stasis_start,
    "StasisEnd": _stasis_end,
    "ChannelDtmfReceived": _dtmf,
    "ChannelStateChange": _on_channel(ChannelStateChange),
    "ChannelHangupRequest": _hangup_request,
    "ChannelDestroyed": _destroyed,
    "ChannelVarset": _varset,
    "ChannelHold": lambda head, data: ChannelHold(
        *head, Channel.parse(data.get("channel")), True, _s(data, "musicclass")
    ),
    "ChannelUnhold": lambda head, data: ChannelHold(
        *head, Channel.parse(data.get("channel")), False, _s(data, "musicclass")
    ),
    "ChannelEnteredBridge": _in_bridge(ChannelEnteredBridge),
    "ChannelLeftBridge": _in_bridge(ChannelLeftBridge),
    "BridgeDestroyed": lambda head, data: BridgeDestroyed(*head, Bridge.parse(data.get("bridge"))),
    "PlaybackStarted": _on_playback(PlaybackStarted),
    "PlaybackFinished": _on_playback(PlaybackFinished),
    "RecordingStarted": _on_recording(RecordingStarted),
    "RecordingFinished": _on_recording(RecordingFinished),
    "RecordingFailed": _on_recording(RecordingFailed),
    "Dial": _dial,
}


def parse_event(data: dict[str, Any], received: float) -> Event:
    """Builds the typed event for one decoded websocket message."""
    kind, app, stamp = data.get("type"), data.get("application"), data.get("timestamp")
    head: Head = (
        kind if isinstance(kind, str) and kind else "Unknown",
        app if isinstance(app, str) else "",
        stamp if isinstance(stamp, str) else "",
        received,
    )
    build = _BUILDERS.get(head[0])
    if build is not None:
        try:
            return build(head, data)
        except (TypeError, ValueError, AttributeError):
            # A known type with an unexpected shape: keep it, as a generic event.
            pass
    return GenericEvent(*head, data)


def _id_fields(kind: type[Event]) -> tuple[str, ...]:
    names = ("channel", "peer", "bridge", "playback", "recording")
    return tuple(n for n in names if n in {f.name for f in fields(kind)})


# Per event type, the fields that name what it is about: looked up once per type.
_ID_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def missing_id(event: Event) -> str:
    """What the event lacks to be about anything, or "": a channel, bridge or playback
    without an id, a recording without a name (absent, or not a string). Such an event
    cannot be routed, and acting on it would act on the empty id: a phantom call, or a
    REST call on ``/channels/``."""
    if isinstance(event, ChannelOnDemand):
        # Such an event's channel is not parsed before it is acted on: its id was read.
        return "" if event.channel_id else f"is a {event.type} without a channel id"
    kind = type(event)
    names = _ID_FIELDS.get(kind)
    if names is None:
        names = _ID_FIELDS[kind] = _id_fields(kind)
    for name in names:
        value = getattr(event, name)
        if isinstance(value, (Channel, Bridge, Playback)) and not value.id:
            return f"is a {event.type} without a {name} id"
        if isinstance(value, LiveRecording) and not value.name:
            return f"is a {event.type} without a recording name"
    return ""
