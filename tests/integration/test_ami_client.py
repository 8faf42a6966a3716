"""The AMI client against the sandbox Asterisk's manager.conf user: it logs in, lists
channels, and starts, mutes and stops a MixMonitor on a real answered channel, the one
thing the FastAGI path needs AMI for (R1, S5)."""

from __future__ import annotations

import secrets

import aiohttp
import pytest

from controller.ami.client import AmiClient
from controller.ami.errors import ActionFailed, LoginRefused
from controller.config.model import AmiSettings
from controller.demo.site import Switchboard
from controller.sandbox import SandboxInstance
from controller.secrets import Secret
from tests.waiting import eventually


def settings(instance: SandboxInstance, secret: str | None = None) -> AmiSettings:
    password = Secret(instance.ami_password if secret is None else secret, "sandbox")
    return AmiSettings(instance.ami_username, password, "127.0.0.1", instance.ami_port)


async def test_s5_a_wrong_secret_is_refused(asterisk: SandboxInstance) -> None:
    with pytest.raises(LoginRefused):
        await AmiClient(settings(asterisk, "not-the-secret")).connect()


async def test_mixmonitor_and_mixmonitor_mute_on_a_real_answered_channel(
    asterisk: SandboxInstance,
) -> None:
    client = AmiClient(settings(asterisk))
    await client.connect()
    name = secrets.token_hex(20)
    folder = asterisk.asterisk_path(asterisk.recording_dir)
    try:
        async with aiohttp.ClientSession() as session:
            board = Switchboard(asterisk, session)
            await board.client.originate(
                "Local/alice-talk@sim-agent/n", context="sim-caller", extension="c-talk-8"
            )

            async def answered() -> str | None:
                for event in await client.channels():
                    channel = event.get("Channel") or ""
                    if channel.startswith("Local/alice-talk@sim-agent") and (
                        event.get("ChannelStateDesc") == "Up"
                    ):
                        return channel
                return None

            channel = await eventually(answered, "the agent's channel is up")
            await client.mixmonitor(channel, f"{folder}/{name}.wav")
            written = asterisk.recording_dir / f"{name}.wav"

            async def recording() -> bool | None:
                return True if written.is_file() and written.stat().st_size > 44 else None

            await eventually(recording, "MixMonitor writes audio")
            await client.mixmonitor_mute(channel, True)
            await client.mixmonitor_mute(channel, False)
            await client.stop_mixmonitor(channel)
            with pytest.raises(ActionFailed):
                await client.mixmonitor_mute("Local/no-such-channel@x-00000000;1", True)
            await board.client.request("DELETE", f"/channels/{await _id_of(board, channel)}")
    finally:
        await client.close()
    written = asterisk.recording_dir / f"{name}.wav"
    assert written.is_file() and written.stat().st_size > 44
    written.unlink()


async def _id_of(board: Switchboard, channel: str) -> str:
    for found in await board.client.list_channels():
        if found.name == channel:
            return found.id
    raise AssertionError(f"{channel} is gone")
