"""Live listening (S8), pure: a supervisor hears a call in progress on their own phone.

A snoop on the agent's channel hears both directions (the agent and the caller) and
whispers nothing; the supervisor's phone is dialled into the application; both go into
a mixing bridge of their own, apart from the call's bridge and its recording. The call
(:class:`~controller.calls.call.Call`) says when listening may start and when it must
stop; this class holds the channels and answers with the commands. Stopping hangs up
the snoop first: it is what carries the audio.

Every resource is named after the call and the listening's number (see
:mod:`~controller.calls.ids`), so the router routes their events by name, and a
restarted controller recognises, and hangs up, any it finds left over.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.calls import commands as c
from controller.calls import messages as m
from controller.calls.ids import (
    is_listening_bridge,
    listener_leg,
    listening_args,
    listening_bridge,
    listening_of,
    snoop_channel,
)

RING_SECONDS = 30
"""How long the supervisor's phone rings before the listening is given up."""
CHECK_TIMER = "listening"
CHECK_SECONDS = 30.0
"""While listening, the call checks S8 again this often: an agent's published period
ends with no event to say so."""


@dataclass(frozen=True)
class Session:
    """One listening: whose, and its three resources."""

    n: int
    person_id: str
    snoop: str
    listener: str
    bridge: str

    def owns(self, command: c.Command) -> bool:
        """Whether ``command`` is about this listening's resources."""
        return resource_of(command) in (self.snoop, self.listener, self.bridge)


def resource_of(command: c.Command) -> str | None:
    """The listening channel or bridge ``command`` is about, if it is about one."""
    match command:
        case c.Snoop(snoop_id=name) | c.CutSnoop(snoop_id=name):
            return name
        case c.Originate(channel_id=name) | c.Hangup(channel_id=name):
            return name if listening_of(name) is not None else None
        case (
            c.CreateBridge(bridge_id=name)
            | c.AddToBridge(bridge_id=name)
            | c.DestroyBridge(bridge_id=name)
        ):
            return name if is_listening_bridge(name) else None
    return None


class Listening:
    def __init__(self, *, call_id: str, agent_channel_id: str, log_prefix: str) -> None:
        self._call_id = call_id
        self._agent_channel_id = agent_channel_id
        self._log_prefix = log_prefix
        self._count = 0
        self.session: Session | None = None

    def follow(self, agent_channel_id: str) -> None:
        """The call was transferred (R3): a later listening snoops on the new agent's
        channel; the one under way stops, as the parties are no longer talking."""
        self._agent_channel_id = agent_channel_id

    @property
    def person_id(self) -> str | None:
        """Who listens now, if anyone."""
        return self.session.person_id if self.session is not None else None

    def _log(self, message: str, level: c.Level = c.Level.INFO) -> c.Log:
        return c.Log(level, f"{self._log_prefix}: {message}")

    def start(self, person_id: str, phone: str, refusal: str | None) -> list[c.Command]:
        """``refusal``: why the call may not be listened to now (S8), or None."""
        if refusal is not None:
            return [self._log(f"live listening by {person_id} refused: {refusal}")]
        if self.session is not None:
            return [self._log(f"live listening by {person_id} refused: already listened to")]
        self._count += 1
        n, call_id = self._count, self._call_id
        listener = listener_leg(call_id, n)
        session = self.session = Session(
            n, person_id, snoop_channel(call_id, n), listener, listening_bridge(call_id, n)
        )
        return [
            c.CreateBridge(session.bridge),
            c.Snoop(self._agent_channel_id, session.snoop),
            c.Originate(phone, listener, listening_args(listener), RING_SECONDS, ""),
            c.StartTimer(CHECK_TIMER, CHECK_SECONDS),
            self._log(f"live listening by {person_id}: dialling their phone"),
        ]

    def stop(self, why: str) -> list[c.Command]:
        """Ends the listening at once, the snoop first. Nothing when none runs."""
        session = self.session
        if session is None:
            return []
        self.session = None
        return [
            c.CutSnoop(session.snoop),
            c.Hangup(session.listener),
            c.DestroyBridge(session.bridge),
            c.CancelTimer(CHECK_TIMER),
            self._log(f"live listening by {session.person_id} stopped: {why}"),
        ]

    def handle(self, message: m.Message) -> list[c.Command] | None:
        """The listening's own messages; None for a message that is not about it."""
        session = self.session
        match message:
            case m.ListenLegUp(channel_id=channel_id):
                if session is None or channel_id not in (session.snoop, session.listener):
                    # A leg of a listening already over: nobody waits for it.
                    return [c.Hangup(channel_id)]
                if channel_id == session.listener:
                    return [
                        c.AddToBridge(session.bridge, channel_id),
                        self._log(f"live listening by {session.person_id}: on the line"),
                    ]
                return [c.AddToBridge(session.bridge, channel_id)]
            case m.ChannelGone(channel_id=channel_id) if listening_of(channel_id) is not None:
                if session is None or channel_id not in (session.snoop, session.listener):
                    return []
                who = "the supervisor hung up" if channel_id == session.listener else "snoop ended"
                return self.stop(who)
            case m.CommandFailed(command=command, error_id=error_id) if resource_of(command):
                if session is None or not session.owns(command):
                    # A listening already over: never the call's own bridge or legs.
                    return []
                return self.stop(f"{type(command).__name__} failed ({error_id})")
            case m.ListenStopped(person_id=person_id):
                return self.stop(f"ended by {person_id}")
            case m.TimerFired(name=name) if name == CHECK_TIMER:
                # The call checks S8 on what this returns; still allowed, check again later.
                return [c.StartTimer(CHECK_TIMER, CHECK_SECONDS)] if session is not None else []
        return None
