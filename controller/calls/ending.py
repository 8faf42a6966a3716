"""How a bridged call ends, pure: the wind-down once a party hangs up or the bridge
fails (the recording stopped, the legs and the bridge released), the hand-back to the
dialplan when reccontrol itself failed, and the call's last rows once Asterisk has
answered, or once :data:`ENDING_TIMER` gave up waiting."""

from __future__ import annotations

from controller.calls import commands as c
from controller.calls.call_state import CallState
from controller.calls.parties import Outcome, Phase

ENDING_TIMER = "ending"
# How long to wait for Asterisk's last events (RecordingFinished, StasisEnd) once a
# call is over, before finishing anyway.
ENDING_GRACE_SECONDS = 10.0


class CallEnding(CallState):
    def _wind_down(self) -> list[c.Command]:
        """Stops the recording, releases both legs and the bridge."""
        self.phase = Phase.ENDING
        commands = self.rec.stop()
        if not self.caller.gone:
            commands.append(c.Hangup(self.caller.id))
        if self.agent_leg.up and not self.agent_leg.gone:
            commands.append(c.Hangup(self.agent_leg.id))
        # Seen on Asterisk 22: a recorded bridge still playing hold music outlives
        # DELETE /bridges. Stopping the music first lets it go.
        commands += self.talk.stop_hold_music()
        commands.append(c.DestroyBridge(self.bridge_id))
        grace = ENDING_GRACE_SECONDS
        if self.payment is not None:
            # A payment already sent: wait for the API's answer so it reaches the store.
            grace += self.payment.grace_seconds
        commands.append(c.StartTimer(ENDING_TIMER, grace))
        return commands + self._end_if_settled()

    def _end_if_ending(self) -> list[c.Command]:
        return self._end_if_settled() if self.phase is Phase.ENDING else []

    def _end_if_settled(self) -> list[c.Command]:
        agent = self.agent_leg
        channels_settled = self.caller.gone and (agent.gone or not agent.up)
        if self.rec.settled and channels_settled and self.payment is None:
            return [c.CancelTimer(ENDING_TIMER), *self._end()]
        return []

    def _end(self) -> list[c.Command]:
        self.phase = Phase.ENDED
        if self.private:
            # The call's rows are gone; only the count remains (A2).
            return [c.Finished()]
        agent_id = self.agent.id if self.agent else None
        outcome = self.outcome or Outcome.COMPLETED
        return [c.EndCall(self.call_id, outcome, agent_id, self.notice.completed), c.Finished()]

    def _hand_back(self, why: str) -> list[c.Command]:
        """Reccontrol failed: the channel the call came in on goes back to the dialplan,
        whose fallback carries it on unrecorded. Lost from the recording, never from the
        telephony."""
        entry = self.opening.entry.id
        whose = "the caller" if entry == self.caller.id else "the agent's call"
        dialled = self._dialled_leg
        commands: list[c.Command] = [
            self._log(f"{why}; {whose} goes on through the dialplan, unrecorded", c.Level.ERROR),
            *self.rec.discard(c.Closed.FAILED),
            *self.rec.close_pause(c.PauseEnd.CALL_END),
            c.CancelTimer(self.opening.dial_timer()),
        ]
        if self.opening.dialled and not dialled.gone:
            commands.append(c.Hangup(dialled.id))
        commands += self.talk.stop_hold_music()
        if self.phase is Phase.CONNECTED:
            commands.append(c.DestroyBridge(self.bridge_id))
        if not (self.caller if entry == self.caller.id else self.agent_leg).gone:
            commands.append(c.ContinueInDialplan(entry))
        self.outcome = Outcome.HANDED_BACK
        return commands + self._end()
