"""Two-channel recordings (R5) piece by piece: the setting, the names, the recording
controller's halves, the requests sent to Asterisk for both sides, the vault joining the
halves and the orphan sweep taking them as one."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import wave
from pathlib import Path
from typing import cast

import pytest
import yaml

from controller.ari.client import AriClient
from controller.ari.errors import AriConflict, AriNotFound
from controller.calls import commands as c
from controller.calls import ids, two_channel_requests, two_channels
from controller.calls import messages as m
from controller.calls.call import Call, Phase
from controller.calls.outbound import outbound_cast
from controller.calls.recording import RecordingControl, RecState
from controller.calls.two_channels import StartStereoRecording
from controller.config import ConfigError, load_config
from controller.config.model import Config
from controller.config.service_model import PauseSettings
from controller.recordings import LocalVault, VaultError, VaultRefused
from controller.recordings import stereo as joined
from controller.recordings.vault import IncomingFile
from controller.retention.sweep import plan_sweep
from controller.store.orphans import StuckRecording
from tests.factories import make_agent, make_service
from tests.unit.test_config import ENV, mutate
from tests.unit.test_outbound_call import CUSTOMER, CUSTOMER_ID, NOW, OUTBOUND, PHONE, SETTINGS

NAME = ids.stereo_name("ab" * 20)
LEFT, RIGHT = (f"{NAME}-left", f"{NAME}-right")


# -- the setting ----------------------------------------------------------------------
def test_r5_channels_setting_names_its_key_path(tmp_path: Path) -> None:
    """R5: ``recordings.channels`` is mono (the default) or stereo; anything else is
    refused, naming the key path."""

    def loaded(**recordings: str) -> Config:
        path = tmp_path / "reccontrol.yaml"
        path.write_text(yaml.safe_dump(mutate(lambda d: d["recordings"].update(recordings))))
        return load_config(path, environ=ENV)

    assert loaded().recordings.channels == "mono"
    assert loaded(channels="stereo").recordings.channels == "stereo"
    with pytest.raises(ConfigError) as info:
        loaded(channels="quad")
    assert [str(p) for p in info.value.problems] == [
        "recordings.channels: must be one of mono, stereo; got 'quad'"
    ]


# -- names ------------------------------------------------------------------------------
def test_r5_names_say_what_is_a_stereo_recording_and_its_halves() -> None:
    """R5: a stereo recording, its halves and its snoops are known from their names
    alone, and a snoop is never taken for a leg of a call."""
    assert ids.is_stereo(NAME) and not ids.is_stereo("ab" * 20)
    assert ids.recording_halves(NAME) == (LEFT, RIGHT)
    assert ids.recording_halves("ab" * 20) == ()
    assert ids.whole_recording(LEFT) == ids.whole_recording(RIGHT) == NAME
    assert ids.whole_recording("ab" * 20) == "ab" * 20
    snoop = ids.recording_snoop(NAME, ids.LEFT)
    assert ids.recording_of_snoop(snoop) == NAME
    assert ids.is_our_leg(snoop) and ids.call_of(snoop) == ""
    assert two_channels.is_recording_snoop(("recording-side", "left"))
    owners = two_channels.snoop_owners({NAME: "c0ffee", "cd" * 20: "beef"})
    assert owners == {snoop: "c0ffee", ids.recording_snoop(NAME, ids.RIGHT): "c0ffee"}


# -- the recording controller -------------------------------------------------------------
def control() -> RecordingControl:
    return RecordingControl(
        call_id="c0ffee",
        bridge_id="rc-c0ffee",
        fmt="wav16",
        retention_days=90,
        pause_settings=PauseSettings(),
        rng=random.Random(3),
        log_prefix="call c0ffee (sales)",
        sides=lambda: ("caller-chan", "rc-c0ffee-agent"),
    )


def started() -> tuple[RecordingControl, str]:
    rc = control()
    out = rc.start(("quality",))
    start = out[1]
    assert isinstance(start, StartStereoRecording)
    rc.started(f"{start.name}-right")
    return rc, start.name


def test_r5_start_records_the_caller_left_and_the_agent_right() -> None:
    rc = control()
    opened, start = rc.start(("quality",))
    assert isinstance(opened, c.OpenRecording) and isinstance(start, StartStereoRecording)
    assert opened.name == start.name and ids.is_stereo(start.name)
    assert (start.left, start.right, start.fmt) == ("caller-chan", "rc-c0ffee-agent", "wav16")
    rc.started(f"{start.name}-left")
    assert rc.recording is not None and rc.recording.state is RecState.ACTIVE


def test_r5_pause_and_discard_name_the_whole_recording_first() -> None:
    """R5: the protective command comes first and names the stereo recording: the
    request layer sends it to both halves at once."""
    rc, name = started()
    assert rc.pause_for(c.PauseReason.AGENT_KEY, "alice")[0] == c.PauseRecording(name, False)
    assert rc.discard(c.Closed.DISCARDED)[0] == c.CancelRecording(name)


def test_r5_the_file_is_taken_in_once_both_sides_have_ended() -> None:
    rc, name = started()
    assert rc.stop() == [c.StopRecording(name)]
    assert rc.owns(f"{name}-left") and not rc.owns(f"{'cd' * 20}-stereo-left")
    assert rc.ended(False, "", may_retry=False, name=f"{name}-left") == []
    assert not rc.settled
    out = rc.ended(False, "", may_retry=False, name=f"{name}-right")
    assert [type(x) for x in out] == [c.TakeInRecording]
    assert rc.settled


def test_r5_a_side_that_ends_by_itself_stops_the_other_and_keeps_the_file() -> None:
    """R5: one side ended with both parties still talking (Asterisk could not write
    it): the other side is stopped, what was recorded kept, and a supervisor alerted."""
    rc, name = started()
    out = rc.ended(False, "", may_retry=True, name=f"{name}-left")
    assert out[0] == c.StopRecording(name)
    alert = next(x for x in out if isinstance(x, c.AddAlert))
    assert alert.kind == c.AlertKind.RECORDING_FAILED and "one side" in alert.message
    out = rc.ended(False, "", may_retry=True, name=f"{name}-right")
    assert [type(x) for x in out] == [c.TakeInRecording]


def test_r5_a_side_that_fails_cancels_the_other_first() -> None:
    """R5: a failed side takes the other with it, the cancel first: no file keeps one
    voice without the other."""
    rc, name = started()
    out = rc.ended(True, "disk full", may_retry=False, name=f"{name}-right")
    assert out[0] == c.CancelRecording(name)
    assert c.DiscardIncoming(name, "wav16") in out
    assert rc.ended(False, "", may_retry=False, name=f"{name}-left") == [
        c.DiscardIncoming(name, "wav16")
    ]


def test_r5_r3_a_transferred_segment_is_taken_in_once_both_its_sides_ended() -> None:
    """R5 with R3: the agent transferred the call; the first segment's file is taken in
    once both its sides ended, and one side failing cancels the other first."""
    rc, name = started()
    assert rc.next_segment()[0] == c.StopRecording(name)
    assert rc.owns(f"{name}-left") and not rc.settled
    assert rc.earlier_ended(f"{name}-left") == []
    (take,) = rc.earlier_ended(f"{name}-right") or []
    assert isinstance(take, c.TakeInRecording) and take.name == name
    assert rc.settled
    rc2, name2 = started()
    rc2.next_segment()
    out = rc2.earlier_ended(f"{name2}-right", failed=True) or []
    assert out[0] == c.CancelRecording(name2) and c.DiscardIncoming(name2, "wav16") in out


def test_r5_an_outbound_call_has_the_customer_left_and_the_agent_right() -> None:
    """R5 on an outbound call (C6): the customer, the party the call dialled, is the
    left side; the agent's phone, which placed the call, the right."""
    cast = outbound_cast(
        call_id="c0ffee",
        service=dataclasses.replace(make_service(sampling_rate=0.999), outbound=OUTBOUND),
        agent_channel=PHONE,
        number="0612345678",
        customer_hash="h1",
    )
    settings = dataclasses.replace(SETTINGS, recording_channels="stereo")
    rng = random.Random(1)
    call = Call(cast=cast, settings=settings, rng=rng, phase=Phase.DIALING, agent=make_agent())
    call.start(NOW)
    call.handle(m.ObjectionKnown(False), NOW)
    call.handle(m.CustomerAnswered(CUSTOMER), NOW)
    out = call.handle(m.PlaybackDone(call.notice.playback_id), NOW)
    (start,) = [x for x in out if isinstance(x, StartStereoRecording)]
    assert (start.left, start.right) == (CUSTOMER_ID, PHONE.id)


# -- requests to Asterisk ------------------------------------------------------------------
class FakeAri:
    """Records the requests; ``missing`` recordings answer 404, ``busy`` snoops 409 once."""

    def __init__(self, missing: set[str] | None = None, busy: set[str] | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.missing = missing or set()
        self.busy = busy or set()
        self.in_flight = self.most_in_flight = 0

    async def _call(self, what: str, target: str) -> None:
        self.sent.append((what, target))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= 1
        if target in self.missing:
            raise AriNotFound("POST", target, 404, "not found")

    async def pause_recording(self, name: str) -> None:
        await self._call("pause", name)

    async def cancel_recording(self, name: str) -> None:
        await self._call("cancel", name)

    async def stop_recording(self, name: str) -> None:
        await self._call("stop", name)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._call("hangup", channel_id)

    async def snoop(
        self, channel_id: str, snoop_id: str, app_args: str, spy: str = "both", whisper: str = ""
    ) -> None:
        await self._call("snoop", f"{channel_id}>{snoop_id}:{app_args}:spy={spy}")

    async def record_channel(self, channel_id: str, name: str, *, fmt: str = "wav") -> None:
        if channel_id in self.busy:
            self.busy.discard(channel_id)
            self.sent.append(("not yet in Stasis", channel_id))
            raise AriConflict("POST", channel_id, 409, "Channel not in Stasis application")
        await self._call("record", f"{channel_id}:{name}.{fmt}")


def client(fake: FakeAri) -> AriClient:
    return cast(AriClient, fake)


async def test_r5_a_pause_goes_to_both_sides_at_once() -> None:
    fake = FakeAri()
    await two_channel_requests.send(client(fake), c.PauseRecording(NAME, False))
    assert fake.sent == [("pause", LEFT), ("pause", RIGHT)]
    assert fake.most_in_flight == 2, "the second side waited for the first one's answer"


async def test_r5_a_side_already_gone_is_no_failure_both_gone_is() -> None:
    fake = FakeAri(missing={LEFT})
    await two_channel_requests.send(client(fake), c.StopRecording(NAME))
    snoops = [ids.recording_snoop(NAME, side) for side in ids.SIDES]
    assert fake.sent == [("stop", LEFT), ("stop", RIGHT)] + [("hangup", s) for s in snoops]
    with pytest.raises(AriNotFound):
        missing = client(FakeAri(missing={LEFT, RIGHT}))
        await two_channel_requests.send(missing, c.CancelRecording(NAME))


async def test_r5_start_snoops_both_parties_then_records_both() -> None:
    left_snoop, right_snoop = (ids.recording_snoop(NAME, side) for side in ids.SIDES)
    fake = FakeAri(busy={right_snoop})
    command = StartStereoRecording("rc-c0ffee", NAME, "wav", "caller-chan", "rc-c0ffee-agent")
    await two_channel_requests.start(client(fake), command)
    assert fake.sent[:2] == [
        ("snoop", f"caller-chan>{left_snoop}:recording-side,left:spy=in"),
        ("snoop", f"rc-c0ffee-agent>{right_snoop}:recording-side,right:spy=in"),
    ]
    recorded = sorted(t for w, t in fake.sent if w == "record")
    assert recorded == [f"{left_snoop}:{LEFT}.wav", f"{right_snoop}:{RIGHT}.wav"]


async def test_r5_a_side_that_started_alone_is_cancelled() -> None:
    """One side recording, the other refused: the started side is cancelled (its file
    deleted) before both snoops go, so no half is left behind."""
    left_snoop, right_snoop = (ids.recording_snoop(NAME, side) for side in ids.SIDES)
    fake = FakeAri(missing={f"{right_snoop}:{RIGHT}.wav"})
    command = StartStereoRecording("rc-c0ffee", NAME, "wav", "caller-chan", "rc-c0ffee-agent")
    with pytest.raises(AriNotFound):
        await two_channel_requests.start(client(fake), command)
    assert fake.sent[-4:] == [
        ("cancel", LEFT),
        ("cancel", RIGHT),
        ("hangup", left_snoop),
        ("hangup", right_snoop),
    ]


async def test_r5_a_refused_start_leaves_no_snoop() -> None:
    left_snoop, right_snoop = (ids.recording_snoop(NAME, side) for side in ids.SIDES)
    fake = FakeAri(missing={f"rc-c0ffee-agent>{right_snoop}:recording-side,right:spy=in"})
    command = StartStereoRecording("rc-c0ffee", NAME, "wav", "caller-chan", "rc-c0ffee-agent")
    with pytest.raises(AriNotFound):
        await two_channel_requests.start(client(fake), command)
    assert fake.sent[-2:] == [("hangup", left_snoop), ("hangup", right_snoop)]
    assert not any(w == "record" for w, _ in fake.sent)


# -- the vault ------------------------------------------------------------------------------
@pytest.fixture
def vault(tmp_path: Path) -> LocalVault:
    vault = LocalVault(tmp_path / "asterisk", tmp_path / "vault")
    vault.asterisk_dir.mkdir()
    vault.prepare()
    return vault


def half(vault: LocalVault, name: str, samples: list[int], rate: int = 8000) -> Path:
    path = vault.asterisk_dir / f"{name}.{'wav16' if rate == 16000 else 'wav'}"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return path


def frames_of(path: Path) -> tuple[int, int, list[tuple[int, int]]]:
    with wave.open(str(path), "rb") as wav:
        channels, rate = wav.getnchannels(), wav.getframerate()
        data = wav.readframes(wav.getnframes())
    pairs = range(0, len(data), 2)
    values = [int.from_bytes(data[i : i + 2], "little", signed=True) for i in pairs]
    return channels, rate, list(zip(values[0::2], values[1::2], strict=True))


@pytest.mark.parametrize(("fmt", "rate"), [("wav", 8000), ("wav16", 16000)])
def test_r5_the_vault_joins_the_halves_caller_left_agent_right(
    vault: LocalVault, fmt: str, rate: int
) -> None:
    sources = [half(vault, LEFT, [1, 2, 3], rate), half(vault, RIGHT, [-1, -2], rate)]
    adopted = joined.adopt(vault, NAME, fmt)
    assert adopted.path == vault.vault_dir / f"{NAME}.{fmt}"
    # The shorter side is padded with silence: both start together.
    assert frames_of(adopted.path) == (2, rate, [(1, -1), (2, -2), (3, 0)])
    assert adopted.duration_seconds == pytest.approx(3 / rate)
    assert adopted.size == adopted.path.stat().st_size
    assert adopted.path.stat().st_mode & 0o777 == 0o600
    assert not any(p.exists() for p in sources)


def test_r5_a_lone_half_is_kept_with_a_silent_side(vault: LocalVault) -> None:
    """R1 with R5: a daemon killed between the two starts leaves one half: the voice it
    holds is vaulted as a stereo file, never left alone in Asterisk's folder."""
    half(vault, RIGHT, [5, 6])
    assert frames_of(joined.adopt(vault, NAME, "wav").path)[2] == [(0, 5), (0, 6)]
    with pytest.raises(VaultError, match="missing"):
        joined.adopt(vault, NAME, "wav")


def test_r5_r1_a_join_killed_between_deleting_its_halves_keeps_the_whole_file(
    vault: LocalVault,
) -> None:
    """R1: the join was renamed into the vault and the left half deleted when the daemon
    was killed. The right half left behind is deleted; the vault file, both voices, is
    kept as it was, never joined again with a silent side over it."""
    half(vault, LEFT, [1, 2])
    right = half(vault, RIGHT, [3, 4])
    whole = joined.adopt(vault, NAME, "wav")
    content = whole.path.read_bytes()
    half(vault, RIGHT, [3, 4])  # what the kill left: the right half, not yet deleted
    again = joined.take_incoming(vault, f"{NAME}.wav", keep=True)
    assert again.path == whole.path and again.sha256 == whole.sha256
    assert whole.path.read_bytes() == content and not right.exists()
    assert again.duration_seconds == pytest.approx(2 / 8000)


def test_r5_a_planted_link_as_a_half_is_refused(vault: LocalVault, tmp_path: Path) -> None:
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"x")
    half(vault, LEFT, [1])
    os.symlink(secret, vault.asterisk_dir / f"{RIGHT}.wav")
    with pytest.raises(VaultRefused):
        joined.adopt(vault, NAME, "wav")
    assert list(vault.vault_dir.iterdir()) == []
    assert (vault.asterisk_dir / f"{LEFT}.wav").exists()


def test_r5_discard_and_deletion_take_both_halves(vault: LocalVault) -> None:
    half(vault, LEFT, [1])
    half(vault, RIGHT, [2])
    assert joined.discard_incoming(vault, NAME, "wav")
    assert list(vault.asterisk_dir.iterdir()) == []
    half(vault, LEFT, [1])
    half(vault, RIGHT, [2])
    deleted = joined.take_incoming(vault, f"{NAME}.wav", keep=False)
    assert len(deleted.sha256) == 64
    assert list(vault.asterisk_dir.iterdir()) == list(vault.vault_dir.iterdir()) == []


def test_r5_mixmonitor_interleaved_file_gets_a_stereo_header_caller_left(
    vault: LocalVault,
) -> None:
    """R5 on the FastAGI path: MixMonitor's ``D`` writes the agent's samples first under
    a one-channel header; the vault keeps a two-channel WAV, the caller on the left."""
    name = ids.interleaved_name("ef" * 20)
    # Agent, caller, agent, caller... as Asterisk 22 writes them.
    half(vault, name, [10, -1, 20, -2, 30, -3])
    adopted = joined.adopt(vault, name, "wav")
    assert frames_of(adopted.path) == (2, 8000, [(-1, 10), (-2, 20), (-3, 30)])
    assert adopted.duration_seconds == pytest.approx(3 / 8000)
    assert list(vault.asterisk_dir.iterdir()) == []
    half(vault, name, [1, 2])
    swept = joined.take_incoming(vault, f"{name}.wav", keep=True)
    assert frames_of(swept.path)[2] == [(2, 1)]


def test_r5_agi_recordings_are_named_interleaved() -> None:
    rc = RecordingControl(
        call_id="c0ffee",
        bridge_id="",
        fmt="wav",
        retention_days=90,
        pause_settings=PauseSettings(),
        rng=random.Random(3),
        log_prefix="call c0ffee (sales, agi)",
        interleaved=True,
    )
    _, start = rc.start(("quality",))
    assert type(start) is c.StartRecording and ids.is_interleaved(start.name)


# -- the orphan sweep ------------------------------------------------------------------------
def test_r5_the_sweep_takes_both_halves_as_one_recording() -> None:
    """R5, R1: the halves a crash left go to the row of their stereo recording, as one
    file: vaulted joined, or deleted together; with no row, deleted together."""
    other = ids.stereo_name("cd" * 20)
    files = [
        IncomingFile(f"{LEFT}.wav", LEFT, "wav"),
        IncomingFile(f"{RIGHT}.wav", RIGHT, "wav"),
        IncomingFile(f"{other}-left.wav", f"{other}-left", "wav"),
    ]
    row = StuckRecording("r1", "c1", NAME, "wav", "sales", objected=False)
    plan = plan_sweep(files, [row], busy=set())
    assert plan.vault == [(row, IncomingFile(f"{NAME}.wav", NAME, "wav"))]
    assert plan.unknown == [IncomingFile(f"{other}.wav", other, "wav")]
    assert plan.foreign == [] and plan.missing == []
    assert plan_sweep(files, [row], busy={NAME}).vault == []
    agi = IncomingFile(f"{'ef' * 20}-interleaved.wav", f"{'ef' * 20}-interleaved", "wav")
    assert plan_sweep([agi], [], busy=set()).unknown == [agi]
