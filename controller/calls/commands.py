"""What a call's state machine asks for. The executor carries these out, in order.

REST commands go to Asterisk and are awaited one after another, so a protective call
placed first in a batch (pause, discard) leaves before anything else. Store commands
are queued to the store thread and never hold up the next REST call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from controller.calls.command_kinds import ControlCommand as ControlCommand
from controller.calls.command_kinds import RestCommand as RestCommand
from controller.calls.command_kinds import StoreCommand as StoreCommand
from controller.calls.command_kinds import TimerCommand as TimerCommand
from controller.calls.command_kinds import WorkCommand as WorkCommand
from controller.calls.command_values import Closed as Closed
from controller.calls.command_values import Level as Level
from controller.calls.command_values import PauseEnd as PauseEnd
from controller.calls.command_values import PauseReason as PauseReason
from controller.calls.masking_commands import CloseMaskedSpan as CloseMaskedSpan
from controller.calls.masking_commands import CloseMaskedSpans as CloseMaskedSpans
from controller.calls.masking_commands import MuteCaller as MuteCaller
from controller.calls.masking_commands import OpenMaskedSpan as OpenMaskedSpan
from controller.calls.masking_commands import UnmuteCaller as UnmuteCaller
from controller.payments.charge import ChargeRequest
from controller.records import CallStart, ConsentEvent, Decision, PaymentRecord, Unkept


class AlertKind(StrEnum):
    """An alert a call leaves for a supervisor."""

    RECORDING_FAILED = "recording_failed"
    """A recording stopped without being asked to, or never started."""
    KEYS_UNHEARD = "keys_unheard"
    """A recording discarded because the daemon could not hear the keys."""
    PAUSE_TIMEOUT = "pause_timeout"
    CARD_PAUSE_TIMEOUT = "card_pause_timeout"
    PAYMENT_INTERRUPTED = "payment_interrupted"
    """The controller restarted while the caller was in the payment IVR."""
    CALL_CARRIED_ON = "call_carried_on"
    """A restarted controller carried the call on."""
    PAYMENT_REDIRECT = "payment_redirect"




# -- Asterisk ------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer(RestCommand):
    channel_id: str


@dataclass(frozen=True)
class Play(RestCommand):
    channel_id: str
    media: str
    playback_id: str
    lang: str | None = None


@dataclass(frozen=True)
class StopPlayback(RestCommand):
    playback_id: str


@dataclass(frozen=True)
class Ring(RestCommand):
    channel_id: str


@dataclass(frozen=True)
class Originate(RestCommand):
    endpoint: str
    channel_id: str
    app_args: str
    ring_timeout: int
    originator: str
    caller_id: str | None = None


@dataclass(frozen=True)
class Snoop(RestCommand):
    """A snoop on ``channel_id`` into the application, its directions set by its id (S8, A10)."""

    channel_id: str
    snoop_id: str


@dataclass(frozen=True)
class CutSnoop(RestCommand):
    snoop_id: str


@dataclass(frozen=True)
class CreateBridge(RestCommand):
    bridge_id: str


@dataclass(frozen=True)
class AddToBridge(RestCommand):
    bridge_id: str
    channel_id: str


@dataclass(frozen=True)
class RemoveFromBridge(RestCommand):
    bridge_id: str
    channel_id: str


@dataclass(frozen=True)
class StartHoldMusic(RestCommand):
    """Music on hold into the bridge, where the agent waits alone (M1); or, with
    ``channel_id``, to that channel alone: the caller while the agent holds (A9), so
    neither the music nor the held phone's room reaches the other side or the file.

    Bridge, not channel, for the agent alone: on Asterisk 22, music on hold started on
    the one channel left in a recorded bridge was seen to end its recording."""

    bridge_id: str
    moh_class: str
    channel_id: str | None = None


@dataclass(frozen=True)
class StopHoldMusic(RestCommand):
    bridge_id: str
    channel_id: str | None = None


@dataclass(frozen=True)
class StartRecording(RestCommand):
    bridge_id: str
    name: str
    fmt: str


@dataclass(frozen=True)
class CancelRecording(RestCommand):
    """Stop and discard: nothing of the audio is kept (C2, A2)."""

    name: str


@dataclass(frozen=True)
class PauseRecording(RestCommand):
    """Skip mode (``pause``: the time is left out of the file) or silence mode
    (``mute``: the time is written as silence)."""

    name: str
    mute: bool


@dataclass(frozen=True)
class ResumeRecording(RestCommand):
    name: str
    mute: bool


@dataclass(frozen=True)
class StopRecording(RestCommand):
    name: str


@dataclass(frozen=True)
class Hangup(RestCommand):
    channel_id: str
    reason: str = "normal"
    """What the other end is told: ``busy``, ``no_answer``, ``unallocated``..."""


@dataclass(frozen=True)
class DestroyBridge(RestCommand):
    bridge_id: str


@dataclass(frozen=True)
class ContinueInDialplan(RestCommand):
    """Hands the channel back to the dialplan, after ``Stasis()``, flagged so the
    dialplan sends it on unrecorded."""

    channel_id: str


# -- store ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BeginCall(StoreCommand):
    call: CallStart
    announcement_version: str


@dataclass(frozen=True)
class AnnouncementHeard(StoreCommand):
    """Stored at once, not only at the end: a controller restarted mid-call must know
    it before deciding to record (C1, R1)."""

    call_id: str


@dataclass(frozen=True)
class LookupObjection(WorkCommand):
    """A read: the answer comes back as an ``ObjectionKnown`` message."""

    caller_hash: str


@dataclass(frozen=True)
class RecordDecision(StoreCommand):
    decision: Decision


@dataclass(frozen=True)
class AddConsent(StoreCommand):
    event: ConsentEvent


@dataclass(frozen=True)
class RememberObjection(StoreCommand):
    caller_hash: str


@dataclass(frozen=True)
class CarryObjection(StoreCommand):
    """An objection stored under the HMAC an older rule gave a number's form moves to
    the current HMAC (C4)."""

    earlier_hash: str
    caller_hash: str


@dataclass(frozen=True)
class OpenRecording(StoreCommand):
    recording_id: str
    call_id: str
    name: str
    fmt: str
    purposes: tuple[str, ...]
    retention_days: int
    segment: int = 1
    """The part of a transferred call it records (R3)."""
    agent_id: str | None = None
    """The agent of that segment, as identified (A7)."""
    decision: Decision | None = None
    """The decision to record, written with the row (see :func:`with_decisions`)."""


@dataclass(frozen=True)
class CloseRecording(StoreCommand):
    """The recording ended without a file to keep: ``discarded`` or ``failed``."""

    recording_id: str
    state: Closed


@dataclass(frozen=True)
class TakeInRecording(WorkCommand):
    """Move the finished file into the vault, hash it, and store its metadata."""

    recording_id: str
    name: str
    fmt: str
    after_restart: bool = False
    """Taken in by a restarted controller: no file at all then means Asterisk was never
    asked for it (the old process died after writing the row, which comes first)."""


@dataclass(frozen=True)
class DiscardIncoming(WorkCommand):
    """Make sure no file of a discarded recording is left in Asterisk's folder."""

    name: str
    fmt: str


@dataclass(frozen=True)
class DeleteUnkeptAudio(WorkCommand):
    """The caller objected (C2), or the agent declared the call private (A2): every
    recording of the call already in the vault goes, through the crash-safe deletion,
    behind the store write of the key (:mod:`controller.retention.unkept`). The live one
    is the call's to cancel."""

    call_id: str
    reason: Unkept


@dataclass(frozen=True)
class OpenPause(StoreCommand):
    pause_id: str
    recording_id: str
    call_id: str
    paused_by: str
    reason: str


@dataclass(frozen=True)
class ClosePause(StoreCommand):
    pause_id: str
    resumed_by: PauseEnd


@dataclass(frozen=True)
class AddAlert(StoreCommand):
    call_id: str
    kind: AlertKind
    message: str


@dataclass(frozen=True)
class MakePrivate(StoreCommand):
    """Forget the call and count one private call for the agent (A2): at once but for
    its audio in the vault, which goes behind (:class:`DeleteUnkeptAudio`)."""

    call_id: str
    agent_id: str | None
    day: str
    discarded: tuple[str, ...] = ()
    """The recording the key cancelled, whose row goes with the call's: no file of it
    is kept."""


@dataclass(frozen=True)
class CountPrivateCall(StoreCommand):
    """A private call that never became a call (A2): only its count, per agent and day."""

    agent_id: str | None
    day: str


@dataclass(frozen=True)
class FetchPaymentDetails(WorkCommand):
    """Reads the amount and order reference from the caller's channel variables; the
    answer comes back as a ``PaymentDetails`` message."""

    channel_id: str


@dataclass(frozen=True)
class SubmitPayment(WorkCommand):
    """Sends the card data to the payment API; the answer comes back as
    ``PaymentDone``. The card data is wiped once sent."""

    request: ChargeRequest = field(repr=False)


@dataclass(frozen=True)
class RecordPayment(StoreCommand):
    payment: PaymentRecord


@dataclass(frozen=True)
class EndCall(StoreCommand):
    call_id: str
    outcome: str
    agent_id: str | None
    announcement_completed: bool


# -- timers and housekeeping ---------------------------------------------------------
@dataclass(frozen=True)
class StartTimer(TimerCommand):
    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer(TimerCommand):
    name: str


@dataclass(frozen=True)
class Log(ControlCommand):
    level: Level
    message: str


@dataclass(frozen=True)
class Finished(ControlCommand):
    """The call is over: the router forgets it."""


# -- every command, by kind: the executor matches on these exhaustively -------------
Rest: TypeAlias = (
    Answer
    | Play
    | StopPlayback
    | Ring
    | Originate
    | Snoop
    | CutSnoop
    | CreateBridge
    | AddToBridge
    | RemoveFromBridge
    | StartHoldMusic
    | StopHoldMusic
    | StartRecording
    | CancelRecording
    | PauseRecording
    | ResumeRecording
    | StopRecording
    | Hangup
    | DestroyBridge
    | ContinueInDialplan
    | MuteCaller
    | UnmuteCaller
)
Store: TypeAlias = (
    BeginCall
    | AnnouncementHeard
    | RecordDecision
    | AddConsent
    | RememberObjection
    | CarryObjection
    | OpenRecording
    | CloseRecording
    | OpenPause
    | ClosePause
    | AddAlert
    | MakePrivate
    | CountPrivateCall
    | RecordPayment
    | EndCall
    | OpenMaskedSpan
    | CloseMaskedSpan
    | CloseMaskedSpans
)
Work: TypeAlias = (
    LookupObjection
    | TakeInRecording
    | DiscardIncoming
    | DeleteUnkeptAudio
    | FetchPaymentDetails
    | SubmitPayment
)
Timer: TypeAlias = StartTimer | CancelTimer
Control: TypeAlias = Log | Finished
Command: TypeAlias = Rest | Store | Work | Timer | Control
"""Anything a call machine may return. A new command must join one of the unions above,
or the executor's exhaustive ``match`` fails type checking."""
