"""A blind transfer from the agent's phone (SIP REFER), pure (R3).

Asterisk carries out a transfer out of an application's bridge itself: it puts a new
``Local/<target>@<context>-…;1`` channel into the application (``StasisStart`` with no
arguments and ``replace_channel`` = the agent's channel), swaps it into the bridge for
the agent's channel, and its ``;2`` half dials the target in the dialplan. The call goes
on, the same call, with a new party:

* :func:`transfer_of` recognises such a channel: it replaces the agent leg of a call in
  progress. The router hands it to that call, never to a new one;
* :class:`TransferOpening` is that party's opening: until the target answers nothing is
  recorded (the agent's segment is stopped and vaulted); once it answers, the agent is
  the one Asterisk reports behind the Local channel (A7), and the decision is taken
  again for that agent (periods A1, protection A3, the call's private state A2, the
  caller's objection C2/C4, the sampling draw the call already had, P1): a new segment
  of the same call is recorded, or nothing;
* :class:`TransferAnnounced` is Asterisk's first word of an attended transfer (the
  phone's REFER with Replaces): ``ATTENDEDTRANSFER`` set on the caller's channel, about
  500 ms before the swap. Asterisk takes the caller off hold at the same moment, which
  resumed the hold's recording; the pause is put back at once, so the new party's first
  frame, mixed before the controller hears of the swap, reaches a paused recording;
* :class:`CallTransfers` applies it to the call: the agent's keys, their feedback and
  live listening follow the new party's channel; the transferring agent's channel, out
  of the bridge, gets its result from Asterisk (the NOTIFY) and is then let go. The
  agent who took the transfer may transfer the call on from their own phone (the same
  Local channel stays in the bridge, its far half dials again: a new segment), and a
  restarted controller carries a call on in the middle of a transfer (R1).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.ari.models import Channel
from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.deciding import decide_and_start
from controller.calls.ending import CallEnding
from controller.calls.parties import Leg, Phase
from controller.config.model import Agent
from controller.policy import Verdict

__all__ = [
    "ATTENDED_TRANSFER",
    "TRANSFERER_TIMER",
    "CallTransfers",
    "TransferAnnounced",
    "TransferAnswered",
    "TransferOnward",
    "TransferOpening",
    "TransferStarted",
    "far_half",
    "target_of",
    "transfer_of",
]

ATTENDED_TRANSFER = "ATTENDEDTRANSFER"
"""The variable Asterisk sets on the transferred party's channel (to the transferring
channel's name) when it starts carrying out an attended transfer, before its swap."""
TRANSFERER_TIMER = "transferer"
# How long the transferring agent's channel stays up once the target answered. The
# phone had its result (Asterisk's NOTIFY, sent as soon as the application has the
# call) and usually hangs up by itself; one that does not is hung up then.
TRANSFERER_GRACE_SECONDS = 3.0
_LOCAL_HALF = re.compile(r"(Local/(?P<exten>[^@]*)@.*-[0-9a-f]+);1")


@dataclass(frozen=True)
class TransferStarted(m.Message):
    """A transfer's Local channel took the agent's place in the call's bridge."""

    channel_id: str
    replaced: str
    """The agent's channel that left the bridge (the transferring agent)."""
    target: str = field(repr=False)
    """The extension transferred to: it may be a number."""


@dataclass(frozen=True)
class TransferAnnounced(m.Message):
    """Asterisk began an attended transfer of ``channel_id``'s party (R3): the swap into
    the bridge follows, before the controller hears of it (``TransferStarted``)."""

    channel_id: str


@dataclass(frozen=True)
class TransferOnward(m.Message):
    """The party behind a transfer's channel dials someone else: the agent who took
    the transfer transferred the call on from their own phone."""

    channel_id: str


@dataclass(frozen=True)
class TransferAnswered(m.Message):
    """The transfer's target answered; ``agent`` is who Asterisk reports (A7)."""

    channel_id: str
    agent: Agent | None
    private_line: bool = False
    """The target is an agent's private line (A2): nothing after the transfer is kept."""


def target_of(local_name: str) -> str:
    """The extension of a transfer's ``Local/<exten>@<context>-…;1`` channel, or ""."""
    found = _LOCAL_HALF.fullmatch(local_name)
    return found.group("exten") if found else ""


def far_half(local_name: str) -> str:
    """The name of the ``;2`` half of a ``Local …;1`` channel (which dials the target
    and knows who answered), or "" for a name that is not one."""
    found = _LOCAL_HALF.fullmatch(local_name)
    return f"{found.group(1)};2" if found else ""


def transfer_of(
    args: tuple[str, ...],
    channel: Channel,
    replaced: Channel | None,
    agent_of_call: Callable[[str], str | None],
) -> TransferStarted | None:
    """What a ``StasisStart`` is when Asterisk moved a transfer's Local channel into a
    call's bridge: no application argument (the dialplan never sends a call in without
    one), a ``replace_channel`` that is the agent leg of a call in progress
    (``agent_of_call``: the call whose agent that channel is, or None), and a Local
    ``;1`` half. None: not a transfer of ours."""
    if args or replaced is None or not replaced.id or replaced.id == channel.id:
        return None
    if agent_of_call(replaced.id) is None or not far_half(channel.name):
        return None
    return TransferStarted(channel.id, replaced.id, target_of(channel.name))


class _SameDraw(random.Random):
    """The call's sampling draw, given again: a transfer does not sample the call anew
    (P1), so the rate achieved over calls stays the rate configured (P3)."""

    def __init__(self, draw: float) -> None:
        super().__init__(0)
        self._draw = draw

    def random(self) -> float:
        return self._draw


@dataclass
class TransferOpening:
    """One transfer of a call: the party Asterisk swapped in for the agent, until (and
    once) it answers."""

    leg: str
    transferer: str
    """The transferring agent's channel: let go once the target answered."""
    target: str = field(repr=False)
    segment: int
    first_verdict: Verdict | None
    """The decision in force before the transfer: its draw stands for the call."""
    answered: bool = False
    transferer_released: bool = False

    def rng(self, fallback: random.Random) -> random.Random:
        draw = self.first_verdict.draw if self.first_verdict is not None else None
        return _SameDraw(draw) if draw is not None else fallback

    def release_transferer(self) -> list[c.Command]:
        if self.transferer_released:
            return []
        self.transferer_released = True
        return [c.CancelTimer(TRANSFERER_TIMER), c.Hangup(self.transferer)]


class CallTransfers(CallEnding):
    transfer: TransferOpening | None = None

    def transfer_started(self, started: TransferStarted) -> list[c.Command]:
        """The agent transferred the call: the segment's recording stops (kept and
        vaulted), nothing is recorded while the target rings; keys and listening now
        follow the new party's channel."""
        if self.phase is not Phase.CONNECTED or started.replaced != self.agent_leg.id:
            return [self._log("a transfer of a channel that is not the agent's: ignored")]
        commands = self._next_transfer(
            TransferOpening(
                leg=started.channel_id,
                transferer=started.replaced,
                target=started.target,
                segment=self.rec.segment + 1,
                first_verdict=self.verdict,
            )
        )
        commands.append(
            self._log(
                f"transferred by the agent: segment {self.rec.segment - 1} ends; nothing is "
                "recorded while the target rings"
            )
        )
        return commands

    def transfer_message(self, message: m.Message, now: dt.datetime) -> list[c.Command]:
        """A transfer's message, to the part of the call it is for."""
        match message:
            case TransferAnnounced(channel_id=channel_id):
                return self.transfer_announced(channel_id, now)
            case TransferStarted():
                return self.transfer_started(message)
            case TransferAnswered():
                return self.transfer_answered(message, now)
            case TransferOnward():
                return self.transfer_onward(message)
        return []

    def transfer_announced(self, channel_id: str, now: dt.datetime) -> list[c.Command]:
        """The caller is being transferred: by the agent, the only other party of the
        bridge. The swap comes next and the segment's stop would land after the new
        party's first frame: the hold's pause is put back first (A9)."""
        if self.phase is not Phase.CONNECTED or channel_id != self.caller.id:
            return []
        return self.hold.transfer_announced(now)

    def transfer_onward(self, onward: TransferOnward) -> list[c.Command]:
        """The agent who took a transfer transferred the call on from their phone: it
        is still the same Local channel in the bridge, but the party behind it dials
        someone else. Their segment ends as a transferring agent's does; whoever
        answers is decided on anew."""
        transfer, leg = self.transfer, self.agent_leg
        if transfer is None or onward.channel_id != leg.id or not leg.up:
            return []
        commands = self._next_transfer(
            TransferOpening(
                leg=leg.id,
                transferer="",
                target="",
                segment=self.rec.segment + 1,
                first_verdict=transfer.first_verdict,
                transferer_released=True,
            )
        )
        message = f"transferred on: segment {self.rec.segment - 1} ends; nothing is recorded"
        return [*commands, self._log(f"{message} while the next party rings")]

    def _next_transfer(self, opening: TransferOpening) -> list[c.Command]:
        """The current segment's recording stops (kept); the new party's leg, not
        answered yet, is the agent leg."""
        earlier, self.transfer = self.transfer, opening
        commands = [*self.rec.next_segment(), *self.hold.transferred()]  # A9: music off
        if earlier is not None and not earlier.transferer_released:
            # Transferred again before the first transferring agent was let go.
            commands += earlier.release_transferer()
        self._take_leg(Leg(opening.leg))
        return commands

    def carried_on_transfer(self, leg: Channel) -> list[c.Command]:
        """After a restart (R1), Asterisk shows a transfer's Local channel in the call's
        bridge in place of the agent: it is the agent leg from now on, and the
        transferring agent's channel, if still up, is let go. Whoever answers (or
        answered while the daemon was down) is asked of Asterisk and a new segment is
        decided for them, with the keys unheard: the caller's keys during the restart
        were not seen (C2), so nothing more of the call is recorded."""
        old = self.agent_leg
        self.transfer = TransferOpening(
            leg=leg.id,
            transferer=old.id,
            target=target_of(leg.name),
            segment=self.rec.segment + 1,
            first_verdict=self.verdict,
        )
        commands = [*self.rec.next_segment(), *self.transfer.release_transferer()]
        commands += self.hold.transferred()  # a hold's music from before the restart (A9)
        self._take_leg(Leg(leg.id))
        self.keys_unheard = True
        return [*commands, self._log("carried on in the middle of a transfer")]

    def _take_leg(self, leg: Leg) -> None:
        self.agent_leg = leg
        self.talk.agent_channel_id = leg.id
        self.listening.follow(leg.id)
        self.talk.meet(None)
        self.talk.held = None
        self.talk.keys.reset()

    def transfer_answered(self, answered: TransferAnswered, now: dt.datetime) -> list[c.Command]:
        """The target answered: who Asterisk reports is the agent now (A7), and the
        decision is taken again for them (R3)."""
        transfer = self.transfer
        leg = self.agent_leg
        if transfer is None or answered.channel_id != leg.id or leg.up or leg.gone:
            return []
        transfer.answered = True
        self.agent_leg = leg.answered()
        agent = answered.agent
        self.talk.meet(agent)
        who = agent.id if agent else "a party the config does not know"
        commands: list[c.Command] = [
            c.StartTimer(TRANSFERER_TIMER, TRANSFERER_GRACE_SECONDS),
            self._log(f"transfer answered: segment {self.rec.segment} begins"),
            self._log(f"segment {self.rec.segment}: connected to {who}", c.Level.DEBUG),
        ]
        if self.private:
            # Declared private before the transfer: it stays private (A2).
            return [*commands, self._log("private call: nothing recorded after the transfer")]
        self.verdict, decided = decide_and_start(
            self.call_id, self.service, agent, self.rec, self._log,
            announced=self.notice.completed, objected=self.notice.objected,
            # Not known yet counts as objected: on the safe side, as for on-demand recording.
            remembered_objection=self.remembered_objection is not False,
            now=now, timezone=self.settings.timezone, rng=transfer.rng(self.rng),
            keys_unheard=self.keys_unheard, staff_informed=self.settings.staff_informed,
            segment=self.rec.segment, private_line=answered.private_line,
        )  # fmt: skip
        return commands + decided

    def transfer_timer(self, name: str) -> list[c.Command] | None:
        """The transferring agent's grace is over: their channel is hung up (gone
        already: nothing happens). None for a timer that is not ours."""
        if name != TRANSFERER_TIMER:
            return None
        return self.transfer.release_transferer() if self.transfer is not None else []

    def _wind_down(self) -> list[c.Command]:
        """A call ending mid-transfer leaves nothing behind: the transferring agent's
        channel and a target still ringing are hung up too."""
        commands: list[c.Command] = []
        transfer = self.transfer
        if transfer is not None:
            commands += transfer.release_transferer()
            leg = self.agent_leg
            if leg.id == transfer.leg and not leg.up and not leg.gone:
                commands.append(c.Hangup(leg.id))
        return commands + super()._wind_down()
