"""Identifiers: random ones for calls, recordings, pauses and payments, and the names
the controller gives its Asterisk resources. Every resource name is spelt here, and
read back here: a call's bridge, legs and playbacks are all ``rc-<call id>…``, so a
restarted controller or a stray event finds the call from the name alone."""

from __future__ import annotations

import random
import re

from controller.recordings.names import LEFT as LEFT
from controller.recordings.names import RIGHT as RIGHT
from controller.recordings.names import SIDES as SIDES
from controller.recordings.names import half_side as half_side
from controller.recordings.names import interleaved_name as interleaved_name
from controller.recordings.names import is_interleaved as is_interleaved
from controller.recordings.names import is_recording_file as is_recording_file
from controller.recordings.names import is_stereo as is_stereo
from controller.recordings.names import is_two_channel as is_two_channel
from controller.recordings.names import recording_halves as recording_halves
from controller.recordings.names import stereo_name as stereo_name
from controller.recordings.names import whole_recording as whole_recording

PREFIX = "rc"
_OURS = re.compile(r"rc-([0-9a-f]+)(?:-.*)?")
_OUR_LEG = re.compile(
    r"rc-[0-9a-f]+-(agent|customer|snoop\d+|listener\d+|whisper[0-9a-f]+)(-far)?"
)
"""The legs the controller dials or creates itself (a call's legs, a supervisor's
listening channels, the agent's whisper) and the far halves of those that are Local
channels."""
_LISTENING_BRIDGE = re.compile(r"rc-[0-9a-f]+-listen\d+")
_LISTENING_ROLE = re.compile(r"rc-([0-9a-f]+)-(snoop|listener)\d+")
_LISTENING = re.compile(r"rc-([0-9a-f]+)-(?:snoop|listener)(\d+)(?:-far)?")
_RECORDING_SNOOP = re.compile(r"rc-rec-([0-9a-f]{40})-(left|right)")


def new_id(rng: random.Random, bits: int = 128) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def bridge_id(call_id: str) -> str:
    return f"{PREFIX}-{call_id}"


def agent_leg(call_id: str) -> str:
    """The agent's leg an inbound call dials."""
    return f"{PREFIX}-{call_id}-agent"


def customer_leg(call_id: str) -> str:
    """The customer's leg an outbound call dials (C6)."""
    return f"{PREFIX}-{call_id}-customer"


def notice_playback(call_id: str, n: int) -> str:
    """The announcement, the full notice and the no-agent message, in turn."""
    return f"{PREFIX}-{call_id}-p{n}"


def feedback_playback(call_id: str, n: int) -> str:
    """A short sound to the agent only."""
    return f"{PREFIX}-{call_id}-f{n}"


def ivr_playback(call_id: str, n: int) -> str:
    return f"{PREFIX}-{call_id}-i{n}"


def tone_playback(call_id: str) -> str:
    """The waiting tone the agent of an outbound call hears during the announcement."""
    return f"{PREFIX}-{call_id}-t1"


def caller_playbacks(call_id: str, direction: str) -> tuple[str, ...]:
    """What a call may have left playing on the channel it came in on: the notices of an
    inbound call, the waiting tone of an outbound one."""
    if direction == "outbound":
        return (tone_playback(call_id),)
    return tuple(notice_playback(call_id, n) for n in (1, 2, 3))


def far_side_id(channel_id: str) -> str:
    """The id given to the far half (``;2``) of a Local channel the controller dials: the
    half that runs the dialplan, a Queue() for example, and knows who answered."""
    return f"{channel_id}-far"


def call_of(resource_id: str) -> str:
    """The call id in one of our resource names, or "" for a name that is not ours."""
    found = _OURS.fullmatch(resource_id)
    return found.group(1) if found else ""


def is_our_leg(channel_id: str) -> bool:
    """A leg the controller dialled (``rc-<call>-agent``, ``-customer``, their far
    halves) or a channel it made (a listening's, a two-channel recording's snoop)."""
    return (
        _OUR_LEG.fullmatch(channel_id) is not None
        or _RECORDING_SNOOP.fullmatch(channel_id) is not None
    )


# -- live listening (S8): the n-th listening of a call --------------------------------
LISTENING_ARG = "listening"
"""The first application argument of a listening channel (the snoop, the supervisor's
phone): the router never takes it for a call."""


def snoop_channel(call_id: str, n: int) -> str:
    """The snoop on the agent's channel: it carries the call's audio."""
    return f"{PREFIX}-{call_id}-snoop{n}"


def listener_leg(call_id: str, n: int) -> str:
    """The supervisor's phone, dialled into the application."""
    return f"{PREFIX}-{call_id}-listener{n}"


def listening_bridge(call_id: str, n: int) -> str:
    """The mixing bridge of the snoop and the supervisor's phone, apart from the call's."""
    return f"{PREFIX}-{call_id}-listen{n}"


def is_listening_bridge(bridge: str) -> bool:
    return _LISTENING_BRIDGE.fullmatch(bridge) is not None


def listening_args(channel_id: str) -> str:
    """The application arguments of a listening channel: ``listening,<call id>,<role>``."""
    found = _LISTENING_ROLE.fullmatch(channel_id)
    return f"{LISTENING_ARG},{found.group(1)},{found.group(2)}" if found else ""


def listening_of(channel_id: str) -> tuple[str, int] | None:
    """The call id and listening number of a listening channel of ours, or None."""
    found = _LISTENING.fullmatch(channel_id)
    return (found.group(1), int(found.group(2))) if found else None


def is_leg_of(channel_id: str, call_id: str, leg: str) -> bool:
    """Whether ``channel_id`` is the id the controller chose for a leg of ``call_id``:
    its ``agent`` or ``customer`` leg, (``listening``) one of its listening channels, or
    (``whisper``) a whisper of its agent's tones."""
    if leg == WHISPER_ARG:
        return whisper_of(channel_id) == call_id
    if leg == LISTENING_ARG:
        listening = listening_of(channel_id)
        return listening is not None and listening[0] == call_id and "-far" not in channel_id
    expected = agent_leg(call_id) if leg == "agent" else customer_leg(call_id)
    return channel_id == expected and is_our_leg(expected)


# -- the agent's tones, whispered (A10) ------------------------------------------------
WHISPER_ARG = "whisper"
"""The first application argument of the snoop that whispers the agent's tones: the
router never takes it for a call."""
_WHISPER = re.compile(r"rc-([0-9a-f]+)-whisper[0-9a-f]+")


def whisper_snoop(call_id: str, tag: str) -> str:
    """A snoop on the agent's channel that hears nothing and speaks to the agent's phone
    alone. ``tag`` tells the call's whispers apart: a call carried on after a restart
    makes a new one while the old one is swept."""
    return f"{PREFIX}-{call_id}-whisper{tag}"


def whisper_of(channel_id: str) -> str:
    """The call id of a whisper snoop of ours, or ""."""
    found = _WHISPER.fullmatch(channel_id)
    return found.group(1) if found else ""


def snoop_mode(snoop_id: str) -> tuple[str, str, str]:
    """A snoop's application arguments and its ``spy`` and ``whisper`` directions, read
    from its id: a listening's hears both directions and says nothing (S8); the agent's
    whisper hears nothing and speaks towards the agent's phone only (A10)."""
    call_id = whisper_of(snoop_id)
    if call_id:
        return f"{WHISPER_ARG},{call_id}", "none", "out"
    return listening_args(snoop_id), "both", "none"


# -- two-channel recordings (R5) ----------------------------------------------------------
# A stereo recording is two ARI recordings, one per side, each of a snoop channel that
# hears what one party says. The recordings' names are spelt in
# controller.recordings.names (the vault and the sweep read them too); the snoops' here.
RECORDING_SIDE_ARG = "recording-side"
"""The first application argument of a two-channel recording's snoop: the router never
takes it for a call."""


def recording_snoop(name: str, side: str) -> str:
    """The snoop channel that hears one side of a stereo recording."""
    return f"{PREFIX}-rec-{name.removesuffix('-stereo')}-{side}"


def recording_of_snoop(channel_id: str) -> str:
    """The stereo recording a snoop channel of ours feeds, or ""."""
    found = _RECORDING_SNOOP.fullmatch(channel_id)
    return stereo_name(found.group(1)) if found else ""


def recording_side_args(side: str) -> str:
    return f"{RECORDING_SIDE_ARG},{side}"
