"""Live listening (S8) on the sandbox Asterisk, as the API and the browser tests drive it:
a supervisor's phone that records what it hears (``sim-listener``), an agent who presses
keys when the test says (``sim-agent-waitkey``), and the evidence they leave."""

from __future__ import annotations

from pathlib import Path

from controller.ari.client import AriClient
from controller.ari.errors import AriNotFound
from controller.sandbox import SandboxInstance
from tests.audio import Audio, tone_spans
from tests.integration.flow import AGENT_VOICE
from tests.waiting import eventually

MARKER = 2600.0
"""What the agent hums once the key is pressed: the supervisor must never hear it."""
KEY_SECONDS = 0.3
"""A two-key sequence as the agent's script sends it: 100 ms, 100 ms apart."""
WAV_HEADER, WAV_BYTES_PER_SECOND = 44, 16000


def supervisor_phone(tag: str) -> str:
    """The ``phone`` of a supervisor whose phone answers and records what it hears."""
    return f"Local/{tag}@sim-listener"


def heard_by(instance: SandboxInstance, tag: str) -> Path:
    """Where the phone of :func:`supervisor_phone` records what it hears."""
    return instance.sounds_dir / f"heard-listener-{tag}.wav"


def agent_waiting_for_keys(tag: str) -> str:
    """A service's target: Alice talks until :func:`agent_presses` says, then presses
    the keys and hums :data:`MARKER` for 3 s."""
    return f"Local/alice-waitkey-{tag}@sim-agent"


async def agent_presses(client: AriClient, tag: str, keys: str) -> None:
    """Alice of :func:`agent_waiting_for_keys` presses ``keys`` now."""
    await client.request("POST", "/asterisk/variable", {"variable": f"SIM_GO_{tag}", "value": keys})


async def gone(client: AriClient, channel_id: str) -> None:
    """Waits until Asterisk no longer has the channel."""

    async def probe() -> bool | None:
        try:
            await client.get_channel(channel_id)
        except AriNotFound:
            return True
        return None

    await eventually(probe, f"channel {channel_id} hung up")


async def phone_hung_up(client: AriClient, phone: str) -> None:
    """Waits until no channel of Asterisk is the supervisor's ``phone``: both halves of
    the Local channel are gone, so what it recorded is closed."""

    async def probe() -> bool | None:
        names = [channel.name for channel in await client.list_channels()]
        return None if any(name.startswith(f"{phone}-") for name in names) else True

    await eventually(probe, f"{phone} hung up")


async def heard_for(path: Path, seconds: float) -> None:
    """Waits until the supervisor's phone has recorded ``seconds`` of what it hears."""

    async def probe() -> bool | None:
        ok = path.exists() and path.stat().st_size >= WAV_HEADER + seconds * WAV_BYTES_PER_SECOND
        return True if ok else None

    await eventually(probe, f"{seconds} s heard by the supervisor's phone")


def cut_after_key(audio: Audio) -> float:
    """Seconds the supervisor's phone went on hearing after the agent's key: the key
    press starts where the agent's voice ends; what follows it in the file is the key
    itself and the time the snoop took to go."""
    return audio.duration - tone_spans(audio, AGENT_VOICE)[-1][1] - KEY_SECONDS
