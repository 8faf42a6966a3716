"""What encryption at rest (S10) costs, sealed against plaintext vaults in the same run.

* **decrypt-and-stream**: a 10-minute recording (8 kHz, 16-bit mono: 9.6 MB) read whole
  through :meth:`LocalVault.reader` in 64 KiB blocks, as the web door streams it; and
  Range requests of 64 KiB across it, each opening the file (a seek costs one chunk);
* **purge throughput**: recordings removed per second as a purge batch removes them
  (:meth:`LocalVault.destroy_keys` for the batch, :meth:`LocalVault.shred_file` for each,
  one sync of the folder); for sealed files the data keys go first, in one sync.

Sealed and plaintext runs alternate, so that other work on the host weighs on both alike.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.reaction import progress
from controller.recordings import LocalVault
from controller.recordings.keyring import FixedSiteKeys, Keyring
from controller.recordings.vault_files import CHUNK
from controller.recordings.wavfile import HEADER_LIMIT
from tests.sites import wav_bytes

LAYOUTS = ("plaintext", "sealed")
RECORDING_SECONDS = 600.0
PURGE_SECONDS = 30.0
"""Length of each recording purged: a short call."""


@dataclass
class EncryptionCost:
    rounds: int
    purge_files: int
    stream_ms: dict[str, list[float]] = field(default_factory=dict)
    range_us: dict[str, list[float]] = field(default_factory=dict)
    purge_per_second: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def median(values: dict[str, list[float]]) -> dict[str, float]:
            return {k: statistics.median(v) for k, v in values.items()}

        stream, ranged, purge = (
            median(self.stream_ms),
            median(self.range_us),
            median(self.purge_per_second),
        )
        return {
            "rounds": self.rounds,
            "recording_seconds": RECORDING_SECONDS,
            "purge_files": self.purge_files,
            "stream_ms": stream,
            "range_us": ranged,
            "purge_files_per_second": purge,
            "stream_ratio": stream["sealed"] / stream["plaintext"],
            "range_ratio": ranged["sealed"] / ranged["plaintext"],
            "purge_ratio": purge["sealed"] / purge["plaintext"],
        }


def _vault(root: Path, layout: str) -> LocalVault:
    keyring = (
        Keyring(root / f"{layout}-keyring", FixedSiteKeys((bytes(range(32)),)))
        if layout == "sealed"
        else None
    )
    vault = LocalVault(root / f"{layout}-asterisk", root / layout, keyring)
    vault.asterisk_dir.mkdir()
    vault.prepare()
    return vault


def _stream(vault: LocalVault, path: Path) -> float:
    started = time.perf_counter()
    with vault.reader(path) as source:
        while source.read(CHUNK):
            pass
    return (time.perf_counter() - started) * 1000


RANGE_READS = 50


def _range(vault: LocalVault, path: Path, size: int) -> float:
    """Microseconds per Range request: the file opened through the vault, one seek, one
    read, as the web door serves a player's seek."""
    started = time.perf_counter()
    for n in range(RANGE_READS):
        with vault.reader(path) as source:
            source.seek((size // RANGE_READS) * n + 1000)
            source.read(CHUNK)
    return (time.perf_counter() - started) * 1_000_000 / RANGE_READS


def _purge(vault: LocalVault, audio: bytes, files: int) -> float:
    paths = [
        vault.write_version(vault.vault_dir / f"p{n:05d}.wav", io.BytesIO(audio)).path
        for n in range(files)
    ]
    started = time.perf_counter()
    vault.destroy_keys(paths)  # as a purge batch: all its keys first, one sync
    for path in paths:
        vault.shred_file(path)
    vault.sync()
    return files / (time.perf_counter() - started)


def measure(quick: bool) -> dict[str, Any]:
    rounds = 3 if quick else 7
    files = 100 if quick else 500
    cost = EncryptionCost(rounds, files)
    long_audio = wav_bytes(RECORDING_SECONDS)
    short_audio = wav_bytes(PURGE_SECONDS)
    assert len(long_audio) > HEADER_LIMIT
    progress(
        f"encryption at rest: a {RECORDING_SECONDS / 60:.0f}-minute recording streamed and "
        f"{files} recordings purged, sealed and plaintext, {rounds} round(s) each"
    )
    with tempfile.TemporaryDirectory(prefix="reccontrol-bench-s10-") as folder:
        root = Path(folder)
        vaults = {layout: _vault(root, layout) for layout in LAYOUTS}
        stored = {
            layout: vault.write_version(vault.vault_dir / "long.wav", io.BytesIO(long_audio)).path
            for layout, vault in vaults.items()
        }
        for _ in range(rounds):
            for layout in LAYOUTS:
                vault = vaults[layout]
                cost.stream_ms.setdefault(layout, []).append(_stream(vault, stored[layout]))
                cost.range_us.setdefault(layout, []).append(
                    _range(vault, stored[layout], len(long_audio))
                )
                cost.purge_per_second.setdefault(layout, []).append(
                    _purge(vault, short_audio, files)
                )
    return cost.as_dict()
