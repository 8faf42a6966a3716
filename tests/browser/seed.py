"""Deterministic calls for the console's screenshots: fixed ids, times, decisions, tones
and keys, written through the store's own methods (as the call flow writes them) and
the vault's adoption, so the pages look the same at every run."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from controller.config import Config
from controller.privacy import caller_hash
from controller.recordings import LocalVault
from controller.records import CallStart, ConsentEvent, Decision
from controller.store import SqliteStore

# The moment the screenshots are taken, and the day of the seeded calls (Paris, +01:00).
NOW = dt.datetime(2026, 11, 4, 16, 0, tzinfo=dt.UTC)
DAY = dt.datetime(2026, 11, 4, 9, 0, tzinfo=dt.UTC)
# Fixed secrets of the screenshots' site, so the HMAC's short forms and the access
# log's MACs come out the same at each run. Test keys only: nothing real is keyed.
HMAC_KEY = "screenshots-caller-hmac-key-0123456789"
AUDIT_KEY = "screenshots-audit-key-0123456789abcdef"


@dataclass(frozen=True)
class SeededCall:
    call_id: str
    service: str
    minute: int
    """Minutes after :data:`DAY`."""
    number: str
    reason: str
    record: bool
    draw: float | None
    seconds: int = 0
    """Length of the recording, if any."""
    paused: bool = False
    objected: bool = False


CALLS = (
    SeededCall("5a1e5c0000000001", "sales", 12, "+33612000001", "sampled", True, 0.12, 94),
    SeededCall("5a1e5c0000000002", "sales", 27, "+33612000002", "not_sampled", False, 0.81),
    SeededCall("5a1e5c0000000003", "sales", 41, "+33612000003", "caller_objected", False, None,
               objected=True),
    SeededCall("5a1e5c0000000004", "sales", 58, "+33612000004", "sampled", True, 0.07, 131,
               paused=True),
    SeededCall("5a1e5c0000000005", "support", 73, "+33612000005", "sampled", True, 0.33, 62),
    SeededCall("5a1e5c0000000006", "support", 95, "+33612000006", "outside_agent_window",
               False, None),
    SeededCall("5a1e5c0000000007", "hotline", 110, "+33612000007", "sampled", True, 0.21, 48),
)  # fmt: skip


def tone_wav(seconds: int, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A plain tone: the same bytes at every run."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / rate)))
        for i in range(seconds * rate)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


def write_keys(workdir: Path) -> None:
    """The site's keys, before :meth:`SandboxSite.prepare` would make random ones."""
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, value in (("caller-hmac-key", HMAC_KEY), ("audit-key", AUDIT_KEY)):
        path = workdir / name
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)


def seed(store: SqliteStore, vault: LocalVault, config: Config) -> list[SeededCall]:
    """Writes :data:`CALLS`; returns them."""
    for number, call in enumerate(CALLS):
        started = DAY + dt.timedelta(minutes=call.minute)
        version = "2026-01"
        hashed = caller_hash(config.privacy.caller_hmac_key, call.number)
        store.begin_call(CallStart(call.call_id, call.service, "inbound", started, hashed), version)
        store.announcement_heard(call.call_id)
        if call.objected:
            at = started + dt.timedelta(seconds=4)
            store.add_consent_event(
                ConsentEvent(call.call_id, at, "opt_out", "9", version, "announcement")
            )
        rate = config.services[call.service].sampling_rate
        decided = started + dt.timedelta(seconds=6)
        window = "alice: mon-fri 09:00-18:00"
        store.record_decision(
            Decision(call.call_id, decided, call.record, call.reason, rate, call.draw,
                     call.reason != "outside_agent_window", window, "alice")
        )  # fmt: skip
        length = call.seconds or 70 + number * 9
        if call.record:
            _recording(store, vault, config, call, decided, number)
        ended = decided + dt.timedelta(seconds=length + 2)
        store.end_call(call.call_id, ended, "caller_hung_up", "alice", True)
    return list(CALLS)


def _recording(
    store: SqliteStore,
    vault: LocalVault,
    config: Config,
    call: SeededCall,
    started: dt.datetime,
    number: int,
) -> None:
    recording_id = f"7ec0{call.call_id[4:]}"
    name = f"{number:02d}" + "0" * 38
    days = config.services[call.service].retention_days
    store.open_recording(
        recording_id, call.call_id, name, "wav", ("training", "quality"), started, days
    )
    if call.paused:
        pause = started + dt.timedelta(seconds=40)
        store.open_pause(f"9a05{call.call_id[4:]}", recording_id, call.call_id, "agent",
                         "agent_key", pause)  # fmt: skip
        store.close_pause(f"9a05{call.call_id[4:]}", "agent", pause + dt.timedelta(seconds=12))
    incoming = vault.incoming_path(name, "wav")
    incoming.write_bytes(tone_wav(call.seconds))
    # As Asterisk leaves it: the vault adopts only files of the recording folder's owner.
    folder = os.stat(vault.asterisk_dir)
    os.chown(incoming, folder.st_uid, folder.st_gid)
    adopted = vault.adopt(name, "wav")
    ended = started + dt.timedelta(seconds=call.seconds)
    store.finish_recording(
        recording_id, str(adopted.path), adopted.duration_seconds, adopted.sha256, ended
    )
