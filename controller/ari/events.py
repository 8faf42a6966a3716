"""Typed, frozen ARI events.

:func:`parse_event` never raises on well-formed JSON: an event type reccontrol does not
know becomes a :class:`GenericEvent`, so a newer Asterisk cannot crash the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class StasisEnd(Event):
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived(Event):
    """A key pressed on a channel. Only what routing it needs is read from the frame
    (the channel's id and the digit): a key may be the one that pauses a recording, and
    the pause's REST call goes out before anything else. The rest of the channel is
    parsed when asked for (:attr:`channel`)."""

    channel_id: str
    digit: str = field(repr=False)
    duration_ms: int
    channel_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The channel object as the frame carried it."""

    @property
    def channel(self) -> Channel:
        return Channel.parse(self.channel_data)


@dataclass(frozen=True, slots=True)
class ChannelStateChange(Event):
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest(Event):
    channel: Channel
    cause: int
    soft: bool


@dataclass(frozen=True, slots=True)
class ChannelDestroyed(Event):
    channel: Channel
    cause: int
    cause_txt: str


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


def parse_event(data: dict[str, Any], received: float) -> Event:
    """Builds the typed event for one decoded websocket message."""
    kind = _s(data, "type") or "Unknown"
    base: dict[str, Any] = {
        "type": kind,
        "application": _s(data, "application"),
        "timestamp": _s(data, "timestamp"),
        "received": received,
    }
    try:
        match kind:
            case "StasisStart":
                args = data.get("args")
                replace = data.get("replace_channel")
                return StasisStart(
                    **base,
                    channel=Channel.parse(data.get("channel")),
                    args=tuple(str(a) for a in args) if isinstance(args, list) else (),
                    replace_channel=Channel.parse(replace) if isinstance(replace, dict) else None,
                )
            case "StasisEnd":
                return StasisEnd(**base, channel=Channel.parse(data.get("channel")))
            case "ChannelDtmfReceived":
                channel = data.get("channel")
                channel = channel if isinstance(channel, dict) else {}
                return ChannelDtmfReceived(
                    **base,
                    channel_id=_s(channel, "id"),
                    digit=_s(data, "digit"),
                    duration_ms=_int(data, "duration_ms"),
                    channel_data=channel,
                )
            case "ChannelStateChange":
                return ChannelStateChange(**base, channel=Channel.parse(data.get("channel")))
            case "ChannelHangupRequest":
                return ChannelHangupRequest(
                    **base,
                    channel=Channel.parse(data.get("channel")),
                    cause=_int(data, "cause"),
                    soft=bool(data.get("soft", False)),
                )
            case "ChannelDestroyed":
                return ChannelDestroyed(
                    **base,
                    channel=Channel.parse(data.get("channel")),
                    cause=_int(data, "cause"),
                    cause_txt=_s(data, "cause_txt"),
                )
            case "ChannelVarset":
                channel = data.get("channel")
                return ChannelVarset(
                    **base,
                    channel=Channel.parse(channel) if isinstance(channel, dict) else None,
                    variable=_s(data, "variable"),
                    value=_s(data, "value"),
                )
            case "ChannelHold" | "ChannelUnhold":
                return ChannelHold(
                    **base,
                    channel=Channel.parse(data.get("channel")),
                    held=kind == "ChannelHold",
                    music_class=_s(data, "musicclass"),
                )
            case "ChannelEnteredBridge":
                return ChannelEnteredBridge(
                    **base,
                    bridge=Bridge.parse(data.get("bridge")),
                    channel=Channel.parse(data.get("channel")),
                )
            case "ChannelLeftBridge":
                return ChannelLeftBridge(
                    **base,
                    bridge=Bridge.parse(data.get("bridge")),
                    channel=Channel.parse(data.get("channel")),
                )
            case "BridgeDestroyed":
                return BridgeDestroyed(**base, bridge=Bridge.parse(data.get("bridge")))
            case "PlaybackStarted":
                return PlaybackStarted(**base, playback=Playback.parse(data.get("playback")))
            case "PlaybackFinished":
                return PlaybackFinished(**base, playback=Playback.parse(data.get("playback")))
            case "RecordingStarted":
                return RecordingStarted(
                    **base, recording=LiveRecording.parse(data.get("recording"))
                )
            case "RecordingFinished":
                return RecordingFinished(
                    **base, recording=LiveRecording.parse(data.get("recording"))
                )
            case "RecordingFailed":
                return RecordingFailed(**base, recording=LiveRecording.parse(data.get("recording")))
            case "Dial":
                caller = data.get("caller")
                return Dial(
                    **base,
                    peer=Channel.parse(data.get("peer")),
                    caller=Channel.parse(caller) if isinstance(caller, dict) else None,
                    dialstatus=_s(data, "dialstatus"),
                    dialstring=_s(data, "dialstring"),
                )
    except (TypeError, ValueError, AttributeError):
        # A known type with an unexpected shape: keep it, as a generic event.
        pass
    return GenericEvent(**base, raw=data)


def missing_id(event: Event) -> str:
    """What the event lacks to be about anything, or "": a channel, bridge or playback
    without an id, a recording without a name (absent, or not a string). Such an event
    cannot be routed, and acting on it would act on the empty id: a phantom call, or a
    REST call on ``/channels/``."""
    if isinstance(event, ChannelDtmfReceived):
        # A key's channel is not parsed before the key is acted on: its id was read.
        return "" if event.channel_id else f"is a {event.type} without a channel id"
    for name in ("channel", "peer", "bridge", "playback", "recording"):
        value = getattr(event, name, None)
        if isinstance(value, (Channel, Bridge, Playback)) and not value.id:
            return f"is a {event.type} without a {name} id"
        if isinstance(value, LiveRecording) and not value.name:
            return f"is a {event.type} without a recording name"
    return ""
