"""The channel variables of the FastAGI path: what the shipped dialplan
(``dialplan/reccontrol-agi.conf``) and the daemon's scripts tell each other about a
call, between sessions a restarted daemon may answer. Each name is spelt here only."""

from __future__ import annotations

MIXMONITOR_ID = "RECCONTROL_MIXMONITOR"
"""The agent channel's variable holding the MixMonitor's id (its ``i()`` option): the
hang-up hook stops that MixMonitor only, never one the site runs itself, and knows from
it that the channel holds the call's recording."""
PAUSE_MODE = "RECCONTROL_PAUSE_MODE"
"""The agent channel's variable holding the service's pause mode, set when its
MixMonitor starts: in ``skip`` mode the shipped key subroutine stops the recording
itself before it asks the daemon for a pause (see :data:`STOPPED_FIRST`)."""
STOPPED_FIRST = "RECCONTROL_STOPPED"
"""Set to ``yes`` by the shipped key subroutine when it stopped the MixMonitor before
running a ``pause`` (skip mode) or ``private`` key script: if the daemon then refuses
the key, the recording is started again, appending to its file."""
PAUSED_HOW = "RECCONTROL_PAUSED"
"""The agent channel's variable saying how its open pause was made: ``mute``
(MixMonitorMute) or ``stop`` (StopMixMonitor): the resume undoes exactly that."""
CALL_ID_VARIABLE = "RECCONTROL_CALL_ID"
"""The call's id, set by ``inbound`` or ``outbound`` and inherited by the channels the
call dials: every later hook finds the call's row from it."""
CONSENT_VARIABLE = "RECCONTROL_CONSENT"
"""What the announced party did: ``informed`` or ``objected``, for the site's dialplan."""
ERROR_VARIABLE = "RECCONTROL_ERROR"
"""Why a script did nothing (an ``error_id``); the call goes on."""
KEY_RESULT = "RECCONTROL_KEY"
"""Set to ``done`` by a key script that heard its key (carried out or refused): the
shipped subroutine stops the recording itself when it finds it unset (the daemon
unreachable, or failed on the way)."""
AGENT_CHANNEL_VARIABLE = "RECCONTROL_AGENT_CHANNEL"
"""The agent's channel name, set by ``outbound`` and inherited by the called party's
channel: ``answered`` names the agent from it (A7) and starts MixMonitor on it."""
