"""Typed views of the ARI resources reccontrol uses. Unknown fields are ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _strs(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


@dataclass(frozen=True, slots=True)
class CallerId:
    name: str
    number: str

    @classmethod
    def parse(cls, data: Any) -> CallerId:
        if not isinstance(data, dict):
            return _NO_CALLER_ID
        name, number = data.get("name"), data.get("number")
        name = name if isinstance(name, str) else ""
        number = number if isinstance(number, str) else ""
        if not name and not number:
            # Most channels' connected line, and many callers, are empty: one frozen
            # instance serves them all rather than one built per channel per event.
            return _NO_CALLER_ID
        return cls(name, number)

    def __repr__(self) -> str:
        # Caller numbers are personal data: keep them out of reprs and so out of logs.
        return "CallerId(***)"


_NO_CALLER_ID = CallerId("", "")


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str
    caller: CallerId
    connected: CallerId
    language: str
    dialplan_context: str
    # An outbound channel's extension is the dialled number: kept out of reprs.
    dialplan_exten: str = field(repr=False)
    dialplan_app: str = ""
    """The dialplan application the channel is in now (``Stasis`` while in ours)."""

    @classmethod
    def parse(cls, data: Any) -> Channel:
        if not isinstance(data, dict):
            data = {}
        dialplan = data.get("dialplan")
        dialplan = dialplan if isinstance(dialplan, dict) else {}
        # Written out, without a helper call per field: nearly every event carries a
        # channel, and the event loop parses each before it reads the next.
        get, plan = data.get, dialplan.get
        id_, name, state, language = get("id"), get("name"), get("state"), get("language")
        context, exten, app = plan("context"), plan("exten"), plan("app_name")
        return cls(
            id_ if isinstance(id_, str) else "",
            name if isinstance(name, str) else "",
            state if isinstance(state, str) else "",
            CallerId.parse(get("caller")),
            CallerId.parse(get("connected")),
            language if isinstance(language, str) else "",
            context if isinstance(context, str) else "",
            exten if isinstance(exten, str) else "",
            app if isinstance(app, str) else "",
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    technology: str
    bridge_type: str
    channels: tuple[str, ...]

    @classmethod
    def parse(cls, data: Any) -> Bridge:
        if not isinstance(data, dict):
            data = {}
        return cls(
            id=_str(data, "id"),
            technology=_str(data, "technology"),
            bridge_type=_str(data, "bridge_type"),
            channels=_strs(data, "channels"),
        )


@dataclass(frozen=True, slots=True)
class LiveRecording:
    name: str
    format: str
    state: str
    target_uri: str
    cause: str
    duration: int | None

    @classmethod
    def parse(cls, data: Any) -> LiveRecording:
        if not isinstance(data, dict):
            data = {}
        duration = data.get("duration")
        return cls(
            name=_str(data, "name"),
            format=_str(data, "format"),
            state=_str(data, "state"),
            target_uri=_str(data, "target_uri"),
            cause=_str(data, "cause"),
            duration=duration if isinstance(duration, int) else None,
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str
    state: str

    @classmethod
    def parse(cls, data: Any) -> Playback:
        if not isinstance(data, dict):
            data = {}
        # Written out, as the channel's: a third of a call's events are a playback's.
        get = data.get
        id_, media, target, state = get("id"), get("media_uri"), get("target_uri"), get("state")
        return cls(
            id_ if isinstance(id_, str) else "",
            media if isinstance(media, str) else "",
            target if isinstance(target, str) else "",
            state if isinstance(state, str) else "",
        )


@dataclass(frozen=True, slots=True)
class Application:
    name: str
    channel_ids: tuple[str, ...]
    bridge_ids: tuple[str, ...]

    @classmethod
    def parse(cls, data: Any) -> Application:
        if not isinstance(data, dict):
            data = {}
        return cls(
            name=_str(data, "name"),
            channel_ids=_strs(data, "channel_ids"),
            bridge_ids=_strs(data, "bridge_ids"),
        )


@dataclass(frozen=True, slots=True)
class Sound:
    """A sound of Asterisk's index: its id and the languages it exists in."""

    id: str
    languages: frozenset[str]

    @classmethod
    def parse(cls, data: Any) -> Sound:
        if not isinstance(data, dict):
            data = {}
        formats = data.get("formats")
        languages = frozenset(
            language
            for entry in (formats if isinstance(formats, list) else [])
            if isinstance(entry, dict) and (language := _str(entry, "language"))
        )
        return cls(_str(data, "id"), languages)
