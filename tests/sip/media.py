"""What a SIP phone sends: one RTP stream (PCMU, 20 ms packets, one SSRC) written as a
pcap file that SIPp replays with ``play_pcap_audio``.

A phone's media is a list of parts played one after the other: tones (a voice stand-in
or a marker), silence, and key presses. A key press is sent as RFC 4733 telephone-events
that *replace* the audio while the key is held, then three end packets, as a softphone
does; the audio resumes right after, in the same stream. An in-band key press
(:func:`inband_keys`) is the key's DTMF tone pair in the audio itself, as an old phone
or a trunk without RFC 4733 sends it.

Times are media times: where each part starts in the stream, which is how the recording
sees it too (a bridge recording advances with the frames it receives).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 8000
PACKET_MS = 20
SAMPLES_PER_PACKET = RATE * PACKET_MS // 1000
PCMU = 0
TELEPHONE_EVENT = 101  # the payload type the SDP of the scenarios announces
EVENT_VOLUME = 10  # -10 dBm0, a usual value for key presses
EVENT_CODES = {key: code for code, key in enumerate("0123456789*#ABCD")}
END_PACKETS = 3
LEVEL = 0.3  # each tone's amplitude, full scale 1.0


@dataclass(frozen=True)
class Tones:
    """Tones at these frequencies (Hz), summed, for ``ms`` milliseconds."""

    freqs: tuple[float, ...]
    ms: int


@dataclass(frozen=True)
class Silence:
    ms: int


@dataclass(frozen=True)
class Key:
    """A key held for ``ms`` milliseconds, sent as RFC 4733 events."""

    key: str
    ms: int = 100


Part = Tones | Silence | Key

DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_LAYOUT = ("123A", "456B", "789C", "*0#D")


def tone(freq: float, ms: int) -> Tones:
    return Tones((freq,), ms)


def dtmf_pair(key: str) -> tuple[float, float]:
    """The row and column frequencies (Hz) of a key's DTMF tone."""
    for row, keys_of_row in enumerate(DTMF_LAYOUT):
        if key in keys_of_row:
            return DTMF_ROWS[row], DTMF_COLUMNS[keys_of_row.index(key)]
    raise ValueError(f"not a key: {key!r}")


def inband_keys(sequence: str, ms: int = 100, gap_ms: int = 100) -> list[Part]:
    """Keys pressed one after the other as DTMF tones in the audio (PCMU), ``gap_ms`` of
    silence between two."""
    parts: list[Part] = []
    for index, key in enumerate(sequence):
        if index:
            parts.append(Silence(gap_ms))
        parts.append(Tones(dtmf_pair(key), ms))
    return parts


def keys(sequence: str, ms: int = 100, gap_ms: int = 100) -> list[Part]:
    """Keys pressed one after the other, ``gap_ms`` of silence between two."""
    parts: list[Part] = []
    for index, key in enumerate(sequence):
        if index:
            parts.append(Silence(gap_ms))
        parts.append(Key(key, ms))
    return parts


def duration_ms(parts: Sequence[Part]) -> int:
    return sum(part.ms for part in parts)


def start_ms(parts: Sequence[Part], index: int) -> int:
    """Media time at which ``parts[index]`` starts."""
    return duration_ms(parts[:index])


@dataclass(frozen=True)
class RtpPacket:
    at_ms: int
    """When to send it, from the start of the stream."""
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes

    def encode(self) -> bytes:
        first = 0x80  # version 2, no padding, no extension, no CSRC
        second = (0x80 if self.marker else 0) | self.payload_type
        header = struct.pack(
            "!BBHII", first, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc
        )
        return header + self.payload


def mulaw_encode(samples: npt.NDArray[np.float64]) -> bytes:
    """G.711 μ-law of samples in [-1, 1]."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int32)
    sign = (pcm < 0).astype(np.int32)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded = ~((sign << 7) | (exponent << 4) | mantissa) & 0xFF
    return bytes(encoded.astype(np.uint8).tobytes())


def mulaw_decode(data: bytes) -> npt.NDArray[np.float64]:
    """Samples in [-1, 1] from G.711 μ-law (to check what a stream carries)."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.float64) / 32768.0


def packets(parts: Sequence[Part], ssrc: int) -> Iterator[RtpPacket]:
    """The RTP packets of ``parts``: 20 ms of PCMU each, or telephone-events."""
    sequence = 1
    timestamp = 0  # RTP timestamp of the next audio frame
    at = 0
    for part in parts:
        if part.ms % PACKET_MS:
            raise ValueError(f"{part}: lasts {part.ms} ms, not a multiple of {PACKET_MS} ms")
        count = part.ms // PACKET_MS
        if isinstance(part, Key):
            if part.key not in EVENT_CODES:
                raise ValueError(f"not a key: {part.key!r}")
            code = EVENT_CODES[part.key]
            # Every packet of one event carries the event's start timestamp and the time
            # the key has been held so far; the first one has the marker bit.
            for index in range(count):
                payload = struct.pack("!BBH", code, EVENT_VOLUME, (index + 1) * SAMPLES_PER_PACKET)
                yield RtpPacket(
                    at_ms=at + index * PACKET_MS,
                    payload_type=TELEPHONE_EVENT,
                    marker=index == 0,
                    sequence=sequence,
                    timestamp=timestamp,
                    ssrc=ssrc,
                    payload=payload,
                )
                sequence += 1
            end = struct.pack("!BBH", code, 0x80 | EVENT_VOLUME, count * SAMPLES_PER_PACKET)
            for _ in range(END_PACKETS):
                yield RtpPacket(
                    at_ms=at + part.ms,
                    payload_type=TELEPHONE_EVENT,
                    marker=False,
                    sequence=sequence,
                    timestamp=timestamp,
                    ssrc=ssrc,
                    payload=end,
                )
                sequence += 1
        else:
            freqs = part.freqs if isinstance(part, Tones) else ()
            for index in range(count):
                first = (timestamp + index * SAMPLES_PER_PACKET) / RATE
                t = first + np.arange(SAMPLES_PER_PACKET) / RATE
                samples = np.zeros(SAMPLES_PER_PACKET)
                for freq in freqs:
                    samples += LEVEL * np.sin(2 * math.pi * freq * t)
                yield RtpPacket(
                    at_ms=at + index * PACKET_MS,
                    payload_type=PCMU,
                    marker=False,
                    sequence=sequence,
                    timestamp=timestamp + index * SAMPLES_PER_PACKET,
                    ssrc=ssrc,
                    payload=mulaw_encode(samples),
                )
                sequence += 1
        timestamp += count * SAMPLES_PER_PACKET
        at += part.ms


# -- pcap ---------------------------------------------------------------------------------
_PCAP_MAGIC = 0xA1B2C3D4
_LINKTYPE_ETHERNET = 1
# Addresses and ports in the file do not matter: SIPp sends each packet from its media
# port to the port the other side's SDP announced.
_SOURCE = (bytes([127, 0, 0, 1]), 6000)
_DESTINATION = (bytes([127, 0, 0, 1]), 6002)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", _SOURCE[1], _DESTINATION[1], 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, _SOURCE[0], _DESTINATION[0]
    )
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return ethernet + ip + udp


def write_pcap(path: Path, parts: Sequence[Part], ssrc: int = 0x5EC0_0001) -> Path:
    """Writes the RTP stream of ``parts`` to ``path``, each packet at its send time."""
    out = [struct.pack("<IHHiIII", _PCAP_MAGIC, 2, 4, 0, 0, 65535, _LINKTYPE_ETHERNET)]
    for packet in packets(parts, ssrc):
        frame = _frame(packet.encode())
        seconds, ms = divmod(packet.at_ms, 1000)
        out.append(struct.pack("<IIII", seconds, ms * 1000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def read_pcap(path: Path) -> list[tuple[int, bytes]]:
    """(send time in µs, RTP packet) of each packet of a file :func:`write_pcap` wrote."""
    data = path.read_bytes()
    offset = 24
    found: list[tuple[int, bytes]] = []
    while offset < len(data):
        seconds, micros, length, _ = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + length]
        found.append((seconds * 1_000_000 + micros, frame[14 + 20 + 8 :]))
        offset += 16 + length
    return found
