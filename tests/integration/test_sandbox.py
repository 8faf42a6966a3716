"""The Asterisk sandbox itself: ARI, bridge recording, music on hold, media URIs,
several instances, and the shipped dialplan snippet."""

from __future__ import annotations

import array
import asyncio
import math
import os
import shutil
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from controller.sandbox import Sandbox, SandboxError, SandboxInstance
from controller.sandbox.host import chroot_ids, is_alive
from tests.audio import read_wav as read_audio
from tests.audio import tone_seconds
from tests.conftest import steady
from tests.integration.ari_probe import AriProbe, ari_app, basic_auth
from tests.integration.conftest import REPOSITORY, free_port


@pytest.fixture(autouse=True)
def _remove_own_recordings(request: pytest.FixtureRequest) -> Iterator[None]:
    """These tests record on the Asterisk shared with the other tests of this worker:
    the files they leave would be taken for files of the next test."""
    if "asterisk" not in request.fixturenames:
        yield
        return
    instance: SandboxInstance = request.getfixturevalue("asterisk")
    before = set(instance.recording_dir.iterdir())
    yield
    for path in set(instance.recording_dir.iterdir()) - before:
        path.unlink(missing_ok=True)


def read_wav(path: Path) -> tuple[float, array.array[int]]:
    """Duration in seconds and the 16-bit mono samples of a WAV written by Asterisk."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        samples = array.array("h", wav.readframes(wav.getnframes()))
        return wav.getnframes() / wav.getframerate(), samples


def rms(samples: array.array[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def write_tone(path: Path, hz: float, seconds: float, rate: int = 8000) -> None:
    samples = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(int(rate * seconds)))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


def listening_sockets(pid: int, loopback_udp: bool = True) -> set[tuple[str, int]]:
    """(protocol, port) of every TCP listener and bound UDP socket that ``pid`` holds.

    With ``loopback_udp``, only UDP sockets bound to 127.0.0.1: the SIP stack also keeps
    one IPv4 and one IPv6 socket on an ephemeral port for its DNS queries.
    """
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            listening = (
                state == "0A"
                if proto.startswith("tcp")
                else (not loopback_udp or local.startswith("0100007F:"))
            )
            if inode in inodes and listening:
                found.add((proto, int(local.rsplit(":", 1)[1], 16)))
    return found


async def ari_info_status(instance: SandboxInstance, auth_from: SandboxInstance) -> int:
    async with (
        aiohttp.ClientSession(headers=basic_auth(auth_from)) as session,
        session.get(instance.ari_url + "/ari/asterisk/info") as response,
    ):
        return response.status


# -- one instance ----------------------------------------------------------------------
async def test_bridge_recording_is_written_private_and_real_time(
    asterisk: SandboxInstance,
) -> None:
    name = f"sandbox-{uuid.uuid4().hex}"
    async with ari_app(asterisk) as ari:
        channel = await ari.originate("Local/talk@sim-caller", app="reccontrol")
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == channel)
        await ari.expect(204, "POST", f"/channels/{channel}/answer")
        bridge = (await ari.expect(200, "POST", "/bridges", type="mixing"))["id"]
        await ari.expect(
            204, "POST", f"/bridges/{bridge}/addChannel", channel=channel, absorbDTMF="true"
        )
        asked = time.monotonic()
        await ari.expect(201, "POST", f"/bridges/{bridge}/record", name=name, format="wav")
        await ari.wait_for("RecordingStarted", lambda e: e["recording"]["name"] == name)
        started = time.monotonic()
        await asyncio.sleep(2.0)
        stopping = time.monotonic()
        await ari.expect(204, "DELETE", f"/channels/{channel}")
        # Both arrive; their order is not fixed.
        await ari.wait_for("RecordingFinished", lambda e: e["recording"]["name"] == name)
        finished = time.monotonic()
        await ari.wait_for("StasisEnd", lambda e: e["channel"]["id"] == channel)
        await ari.expect(204, "DELETE", f"/bridges/{bridge}")

    path = asterisk.recording_dir / f"{name}.wav"
    assert path.is_file()
    duration, samples = read_wav(path)
    # Asterisk 22 writes 0.5 s less than the time between RecordingStarted and the stop
    # (measured for 1, 2 and 4 s, stopped by a stop call or by a hangup alike). Real time,
    # bounded by what this side saw: at least the time between RecordingStarted and the
    # hang-up asked (less those 0.5 s and 0.2 s of slack), at most the time between asking
    # for the recording and hearing that it finished. A loaded machine stretches both.
    at_least, at_most = stopping - started - 0.7, finished - asked
    assert at_least <= duration <= at_most, (at_least, duration, at_most)
    assert rms(samples) > 1000, "the caller's 440 Hz tone is missing from the recording"
    uid, gid = chroot_ids(asterisk.root, "asterisk")
    stat, folder = path.stat(), asterisk.recording_dir.stat()
    assert (stat.st_uid, stat.st_gid) == (uid, gid)
    assert stat.st_mode & 0o007 == 0, oct(stat.st_mode)
    assert (folder.st_uid, folder.st_mode & 0o777) == (uid, 0o750)


async def test_music_on_hold_plays_the_default_class(asterisk: SandboxInstance) -> None:
    name = f"moh-{uuid.uuid4().hex}"
    snoop = f"snoop-{uuid.uuid4().hex}"
    async with ari_app(asterisk) as ari:
        channel = await ari.originate("Local/silent@sim-caller", app="reccontrol")
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == channel)
        await ari.expect(204, "POST", f"/channels/{channel}/moh")
        # What the channel is sent, i.e. what the held party hears.
        await ari.expect(
            200, "POST", f"/channels/{channel}/snoop", spy="out", app="reccontrol", snoopId=snoop
        )
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == snoop)
        await ari.expect(201, "POST", f"/channels/{snoop}/record", name=name, format="wav")
        await ari.wait_for("RecordingStarted", lambda e: e["recording"]["name"] == name)
        await asyncio.sleep(1.5)
        await ari.expect(204, "POST", f"/recordings/live/{name}/stop")
        await ari.wait_for("RecordingFinished", lambda e: e["recording"]["name"] == name)
        await ari.expect(204, "DELETE", f"/channels/{channel}/moh")
        await ari.expect(204, "DELETE", f"/channels/{channel}")
        await ari.wait_for("StasisEnd", lambda e: e["channel"]["id"] == channel)

    duration, samples = read_wav(asterisk.recording_dir / f"{name}.wav")
    assert duration >= 1.0
    assert rms(samples) > 50, "music on hold played silence"


async def test_media_uri_plays_a_wav_dropped_in_sounds_dir(asterisk: SandboxInstance) -> None:
    stem = f"beep-{uuid.uuid4().hex}"
    write_tone(asterisk.sounds_dir / f"{stem}.wav", hz=700, seconds=1.0)
    uri = asterisk.media_uri(f"{stem}.wav")
    assert uri == f"sound:/srv/reccontrol/{asterisk.name}/sounds/{stem}"
    assert asterisk.media_uri(stem) == uri

    async with ari_app(asterisk) as ari:
        channel = await ari.originate("Local/silent@sim-caller", app="reccontrol")
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == channel)
        started = time.monotonic()
        playback = await ari.expect(201, "POST", f"/channels/{channel}/play", media=uri)
        done = await ari.wait_for(
            "PlaybackFinished", lambda e: e["playback"]["id"] == playback["id"]
        )
        elapsed = time.monotonic() - started
        # A file Asterisk cannot open also ends in PlaybackFinished, at once, as "failed".
        missing = await ari.expect(
            201, "POST", f"/channels/{channel}/play", media=asterisk.media_uri("no-such-file")
        )
        failed = await ari.wait_for(
            "PlaybackFinished", lambda e: e["playback"]["id"] == missing["id"]
        )
        await ari.expect(204, "DELETE", f"/channels/{channel}")

    assert done["playback"]["state"] == "done"
    assert elapsed >= 0.8, f"a 1 s file finished after {elapsed:.2f} s"
    assert failed["playback"]["state"] == "failed"


async def record_caller(ari: AriProbe, script: str, seconds: float) -> str:
    """Runs a sim-caller script into the app and records what it sends for ``seconds``."""
    name = f"caller-{uuid.uuid4().hex}"
    channel = await ari.originate(f"Local/{script}@sim-caller", app="reccontrol")
    await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == channel)
    await ari.expect(201, "POST", f"/channels/{channel}/record", name=name, format="wav")
    await ari.wait_for("RecordingStarted", lambda e: e["recording"]["name"] == name)
    await asyncio.sleep(seconds)
    await ari.expect(204, "POST", f"/recordings/live/{name}/stop")
    await ari.wait_for("RecordingFinished", lambda e: e["recording"]["name"] == name)
    await ari.expect(204, "DELETE", f"/channels/{channel}")
    return name


async def test_simulated_callers_play_tones_files_and_keys(asterisk: SandboxInstance) -> None:
    stem = f"marker-{uuid.uuid4().hex}"
    write_tone(asterisk.sounds_dir / f"{stem}.wav", hz=1000, seconds=3.0)
    async with ari_app(asterisk) as ari:
        tone = await record_caller(ari, "tone-700", 1.5)
        played = await record_caller(ari, f"play-{stem}", 1.5)
        keys = await ari.originate("Local/dtmf-19@sim-caller", app="reccontrol")
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == keys)
        digits = []
        for _ in range(2):
            event = await ari.wait_for(
                "ChannelDtmfReceived",
                lambda e: e["channel"]["id"] == keys and e not in digits,
            )
            digits.append(event)
        await ari.expect(204, "DELETE", f"/channels/{keys}")

    assert [e["digit"] for e in digits] == ["1", "9"]
    audio = read_audio(asterisk.recording_dir / f"{tone}.wav")
    assert tone_seconds(audio, 700) > 0.8
    assert tone_seconds(audio, 440) < 0.1
    audio = read_audio(asterisk.recording_dir / f"{played}.wav")
    assert tone_seconds(audio, 1000) > 0.8


# -- several instances -----------------------------------------------------------------
async def test_two_instances_run_side_by_side(sandbox: Sandbox, asterisk: SandboxInstance) -> None:
    name = f"{asterisk.name}-b"
    other = sandbox.up(name=name, http_port=free_port())
    try:
        assert other.http_port != asterisk.http_port
        assert other.pid != asterisk.pid
        assert other.ari_password != asterisk.ari_password
        assert sandbox.up(name=name, http_port=other.http_port) == other  # idempotent
        assert sandbox.status(name) == other
        assert await ari_info_status(other, other) == 200
        assert await ari_info_status(asterisk, asterisk) == 200
        assert await ari_info_status(other, asterisk) == 401  # credentials are per instance
        # Each its own SIP, AMI and phones' ports; no IAX2 or other listener: only the
        # HTTP port, AMI (manager.conf, for the FastAGI path) and the SIP transport, on
        # the loopback.
        assert other.sip_port != asterisk.sip_port
        assert other.ami_password != asterisk.ami_password
        ports = [other.http_port, other.sip_port, other.ami_port, *other.phone_ports.values()]
        ports += [asterisk.http_port, asterisk.sip_port, asterisk.ami_port]
        ports += asterisk.phone_ports.values()
        assert len(set(ports)) == len(ports)
        for instance in (other, asterisk):
            assert listening_sockets(instance.pid) == {
                ("tcp", instance.http_port),
                ("tcp", instance.ami_port),
                ("udp", instance.sip_port),
            }
        resolver = listening_sockets(other.pid, loopback_udp=False) - listening_sockets(other.pid)
        assert {proto for proto, _ in resolver} <= {"udp", "udp6"} and len(resolver) <= 2
        assert "asterisk.ctl" in os.listdir(other.instance_dir / "run")
    finally:
        sandbox.down(name)

    assert not is_alive(other.pid)
    assert sandbox.status(name) is None
    assert sandbox.status(asterisk.name) == asterisk
    assert await ari_info_status(asterisk, asterisk) == 200
    # The session's instance still runs, so the chroot keeps its mounts.
    assert sandbox.mounts() == [sandbox.root / "proc"]
    sandbox.reset(name)
    assert not other.instance_dir.exists()


def test_down_stops_only_its_own_asterisk_and_unmounts_with_the_last(sandbox: Sandbox) -> None:
    names = [f"pytest-{os.getpid()}-c", f"pytest-{os.getpid()}-d"]
    first, second = (sandbox.up(name=n, http_port=free_port()) for n in names)
    try:
        assert sandbox.cli(first.name, "core show uptime").strip()
        sandbox.down(first.name)
        assert not is_alive(first.pid)
        assert is_alive(second.pid)
        assert sandbox.mounts() == [sandbox.root / "proc"]
        sandbox.down(first.name)  # a second down is harmless
        # Stopped means every thread gone and the port free: it restarts on it at once,
        # with a new password.
        again = sandbox.up(name=first.name, http_port=first.http_port)
        assert again.pid != first.pid
        assert again.ari_password != first.ari_password
        sandbox.down(first.name)
        assert not is_alive(again.pid)
        with pytest.raises(SandboxError, match="is not running"):
            sandbox.cli(first.name, "core show uptime")
    finally:
        # Other test processes start and stop instances too: stop the last of ours and
        # read what is left in one go, with none of theirs starting or stopping meanwhile.
        with steady(sandbox):
            sandbox.down(second.name)
            others, mounts = sandbox.running_instances(), sandbox.mounts()
    assert not is_alive(second.pid)
    # Without any other instance (this test may run before the session's one starts),
    # nothing is left mounted; otherwise proc stays for them.
    assert mounts == ([sandbox.root / "proc"] if others else [])
    for name in names:
        sandbox.reset(name)


def test_reload_dialplan_copies_the_snippets_in_again(
    sandbox: Sandbox, asterisk: SandboxInstance, tmp_path: Path
) -> None:
    dialplan = tmp_path / "dialplan"
    shutil.copytree(REPOSITORY / "dialplan", dialplan)
    with (dialplan / "reccontrol.conf").open("a") as snippet:
        snippet.write("\n[reload-check]\nexten => probe,1,NoOp(reloaded)\n")
    edited = Sandbox(sandbox.root, sandbox.config_dir, dialplan)
    try:
        edited.reload_dialplan(asterisk.name)
        assert "NoOp(reloaded)" in sandbox.cli(asterisk.name, "dialplan show reload-check")
    finally:
        sandbox.reload_dialplan(asterisk.name)
    assert "reload-check" not in sandbox.cli(asterisk.name, "dialplan show")
    assert "RECCONTROL_APP=reccontrol" in sandbox.cli(asterisk.name, "dialplan show globals")
    assert sandbox.status(asterisk.name) == asterisk


# -- the shipped dialplan snippet ------------------------------------------------------
async def test_inbound_call_enters_the_app_with_direction_and_service(
    asterisk: SandboxInstance,
) -> None:
    async with ari_app(asterisk) as ari:
        # The ;2 half arrives as a trunk call in reccontrol-inbound and rings in the app;
        # the ;1 half runs the caller script once the app answers.
        caller = await ari.originate(
            "Local/sales@sim-entry",
            variables={"SIM_CALLER_NUMBER": "0612345678"},
            context="sim-caller",
            extension="talk",
            priority=1,
        )
        start = await ari.wait_for("StasisStart")
        assert start["args"] == ["inbound", "sales", ""]  # no dialled number set
        assert start["channel"]["caller"]["number"] == "0612345678"
        inbound = start["channel"]["id"]
        assert inbound != caller
        await ari.expect(204, "POST", f"/channels/{inbound}/answer")
        await ari.expect(204, "DELETE", f"/channels/{inbound}")
        await ari.wait_for("StasisEnd", lambda e: e["channel"]["id"] == inbound)


async def test_call_goes_on_unrecorded_when_the_controller_is_absent(
    asterisk: SandboxInstance,
) -> None:
    # Nobody holds the reccontrol app's websocket, so Stasis() fails at once. An
    # observer app subscribed to everything watches the dialplan run.
    async with ari_app(asterisk, app="observer", subscribe_all=True) as ari:
        channel = await ari.originate(
            "Local/support@sim-entry", variables={"SIM_CALLER_NUMBER": "0611223344"}, app="observer"
        )
        fallback = await ari.wait_for(
            "ChannelDialplan",
            lambda e: e["channel"]["dialplan"]["context"] == "reccontrol-fallback",
        )
        assert fallback["channel"]["dialplan"]["exten"] == "support"
        assert fallback["channel"]["caller"]["number"] == "0611223344"
        await ari.wait_for(
            "ChannelVarset", lambda e: (e["variable"], e["value"]) == ("STASISSTATUS", "FAILED")
        )
        await ari.wait_for("StasisStart", lambda e: e["channel"]["id"] == channel)
        await ari.expect(204, "DELETE", f"/channels/{channel}")
        await ari.wait_for("StasisEnd", lambda e: e["channel"]["id"] == channel)


async def test_r1_no_device_state_source_for_an_application_subscribed_to_all(
    asterisk: SandboxInstance,
) -> None:
    """R1: the shipped Asterisk loads no device state support, so an ARI application
    subscribed to every event source (as tools and tests do) holds no device state
    subscription, whose teardown can deadlock Asterisk's ARI when its websocket closes
    while a device state event is being sent (asterisk/asterisk#2170)."""
    async with ari_app(asterisk, app="observer", subscribe_all=True) as ari:
        status, _ = await ari.call("GET", "/deviceStates")
        assert status == 404
        application = await ari.expect(200, "GET", "/applications/observer")
        assert application.get("device_names", []) == []
