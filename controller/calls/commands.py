"""What a call's state machine asks for. The manager carries these out, in order.

REST commands go to Asterisk and are awaited one after another, so a protective call
placed first in a batch (pause, discard) leaves before anything else. Store commands
are queued to the store thread and never hold up the next REST call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.payments.gateway import ChargeRequest
from controller.store.records import CallStart, ConsentEvent, Decision, PaymentRecord


@dataclass(frozen=True)
class Command:
    pass


# -- Asterisk ------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer(Command):
    channel_id: str


@dataclass(frozen=True)
class Play(Command):
    channel_id: str
    media: str
    playback_id: str
    lang: str | None = None


@dataclass(frozen=True)
class StopPlayback(Command):
    playback_id: str


@dataclass(frozen=True)
class Ring(Command):
    channel_id: str


@dataclass(frozen=True)
class Originate(Command):
    endpoint: str
    channel_id: str
    app_args: str
    ring_timeout: int
    originator: str
    caller_id: str | None = None


@dataclass(frozen=True)
class CreateBridge(Command):
    bridge_id: str


@dataclass(frozen=True)
class AddToBridge(Command):
    bridge_id: str
    channel_id: str


@dataclass(frozen=True)
class RemoveFromBridge(Command):
    bridge_id: str
    channel_id: str


@dataclass(frozen=True)
class StartHoldMusic(Command):
    """Music on hold into the bridge, where the agent waits alone.

    Bridge, not channel: on Asterisk 22, music on hold started on a bridged channel
    ends the bridge's recording a few seconds later."""

    bridge_id: str
    moh_class: str


@dataclass(frozen=True)
class StopHoldMusic(Command):
    bridge_id: str


@dataclass(frozen=True)
class StartRecording(Command):
    bridge_id: str
    name: str
    fmt: str


@dataclass(frozen=True)
class CancelRecording(Command):
    """Stop and discard: nothing of the audio is kept (C2, A2)."""

    name: str


@dataclass(frozen=True)
class PauseRecording(Command):
    """Skip mode (``pause``: the time is left out of the file) or silence mode
    (``mute``: the time is written as silence)."""

    name: str
    mute: bool


@dataclass(frozen=True)
class ResumeRecording(Command):
    name: str
    mute: bool


@dataclass(frozen=True)
class StopRecording(Command):
    name: str


@dataclass(frozen=True)
class Hangup(Command):
    channel_id: str


@dataclass(frozen=True)
class DestroyBridge(Command):
    bridge_id: str


@dataclass(frozen=True)
class ContinueInDialplan(Command):
    """Hands the channel back to the dialplan, after ``Stasis()``, flagged so the
    dialplan sends it on unrecorded."""

    channel_id: str


# -- store ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BeginCall(Command):
    call: CallStart
    announcement_version: str


@dataclass(frozen=True)
class LookupObjection(Command):
    """A read: the answer comes back as an ``ObjectionKnown`` message."""

    caller_hash: str


@dataclass(frozen=True)
class RecordDecision(Command):
    decision: Decision


@dataclass(frozen=True)
class AddConsent(Command):
    event: ConsentEvent


@dataclass(frozen=True)
class RememberObjection(Command):
    caller_hash: str


@dataclass(frozen=True)
class OpenRecording(Command):
    recording_id: str
    call_id: str
    name: str
    fmt: str
    purposes: tuple[str, ...]
    retention_days: int


@dataclass(frozen=True)
class CloseRecording(Command):
    """The recording ended without a file to keep: ``discarded`` or ``failed``."""

    recording_id: str
    state: str


@dataclass(frozen=True)
class AdoptRecording(Command):
    """Move the finished file into the vault, hash it, and store its metadata."""

    recording_id: str
    name: str
    fmt: str


@dataclass(frozen=True)
class DiscardIncoming(Command):
    """Make sure no file of a discarded recording is left in Asterisk's folder."""

    name: str
    fmt: str


@dataclass(frozen=True)
class OpenPause(Command):
    pause_id: str
    recording_id: str
    call_id: str
    paused_by: str
    reason: str


@dataclass(frozen=True)
class ClosePause(Command):
    pause_id: str
    resumed_by: str
    """``agent``, ``timeout``, ``call_end`` or ``discarded``."""


@dataclass(frozen=True)
class AddAlert(Command):
    call_id: str
    kind: str
    message: str


@dataclass(frozen=True)
class MakePrivate(Command):
    """Forget the call entirely and count one private call for the agent (A2)."""

    call_id: str
    agent_id: str | None
    day: str


@dataclass(frozen=True)
class FetchPaymentDetails(Command):
    """Reads the amount and order reference from the caller's channel variables; the
    answer comes back as a ``PaymentDetails`` message."""

    channel_id: str


@dataclass(frozen=True)
class SubmitPayment(Command):
    """Sends the card data to the payment API; the answer comes back as
    ``PaymentDone``. The card data is wiped once sent."""

    request: ChargeRequest = field(repr=False)


@dataclass(frozen=True)
class RecordPayment(Command):
    payment: PaymentRecord


@dataclass(frozen=True)
class EndCall(Command):
    call_id: str
    outcome: str
    agent_id: str | None
    announcement_completed: bool


# -- timers and housekeeping ---------------------------------------------------------
@dataclass(frozen=True)
class StartTimer(Command):
    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer(Command):
    name: str


@dataclass(frozen=True)
class Log(Command):
    level: str
    message: str


@dataclass(frozen=True)
class Finished(Command):
    """The call is over: the manager forgets it."""


REST_COMMANDS = (
    Answer,
    PauseRecording,
    ResumeRecording,
    Play,
    StopPlayback,
    Ring,
    Originate,
    CreateBridge,
    AddToBridge,
    StartRecording,
    RemoveFromBridge,
    StartHoldMusic,
    StopHoldMusic,
    CancelRecording,
    StopRecording,
    Hangup,
    DestroyBridge,
    ContinueInDialplan,
)
