"""What a SIP phone hears: the RTP Asterisk sends to a phone's media port, read off the
loopback interface while the call runs, as the audio the phone would play.

SIPp keeps the media port to itself, so the packets are read beside it, from a raw
packet socket on ``lo`` (the tests run as root, as SIPp's ``play_pcap_audio`` needs).
Asterisk sends one 20 ms PCMU frame every 20 ms to a bridged phone; the frames are laid
end to end in the order they arrived (loopback never reorders), which is the phone's
media time. Telephone-events and any other payload type are left out.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from tests.audio import Audio
from tests.sip.media import PCMU, RATE, mulaw_decode

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4  # each loopback packet is seen leaving and arriving: keep one
_ETHERNET = 14


@dataclass
class Capture:
    """RTP payloads received on UDP ports of 127.0.0.1, by destination port, with the
    monotonic time each one arrived."""

    frames: dict[int, list[tuple[float, bytes]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, port: int, payload: bytes, arrived: float) -> None:
        with self._lock:
            self.frames.setdefault(port, []).append((arrived, payload))

    def arrival(self, port: int, at: float) -> float:
        """When the frame holding second ``at`` of :meth:`heard` arrived: two phones'
        audio compared on one clock."""
        with self._lock:
            frames = list(self.frames.get(port, []))
        index, offset = 0, 0
        for index, (_, payload) in enumerate(frames):  # noqa: B007
            if offset + len(payload) > at * RATE:
                break
            offset += len(payload)
        return frames[index][0] + (at * RATE - offset) / RATE

    def heard(self, port: int) -> Audio:
        """The audio the phone on media ``port`` received, as 8 kHz samples."""
        with self._lock:
            payloads = [payload for _, payload in self.frames.get(port, [])]
        data = b"".join(payloads)
        samples = mulaw_decode(data) if data else np.zeros(0)
        return Audio(samples, RATE)


def _rtp_of(frame: bytes) -> tuple[int, bytes] | None:
    """(destination port, PCMU payload) of an Ethernet frame holding an RTP packet."""
    if len(frame) < _ETHERNET + 20 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[_ETHERNET:]
    header = (ip[0] & 0x0F) * 4
    if ip[9] != 17 or len(ip) < header + 8 + 12:
        return None
    destination = struct.unpack_from("!H", ip, header + 2)[0]
    rtp = ip[header + 8 :]
    if rtp[0] >> 6 != 2 or rtp[1] & 0x7F != PCMU:
        return None
    start = 12 + 4 * (rtp[0] & 0x0F)
    return destination, rtp[start:]


@contextmanager
def received_audio(ports: set[int]) -> Iterator[Capture]:
    """Records, while the block runs, the PCMU frames sent to any of ``ports`` (a set the
    test may add to once it knows its phones' media ports)."""
    capture = Capture()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
    sock.bind(("lo", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                frame, address = sock.recvfrom(65535)
            except TimeoutError:
                continue
            if address[2] == _PACKET_OUTGOING:
                continue
            found = _rtp_of(frame)
            if found is not None and found[0] in ports:
                capture.add(*found, time.monotonic())

    reader = threading.Thread(target=run, name="rtp-capture", daemon=True)
    reader.start()
    try:
        yield capture
    finally:
        stop.set()
        reader.join(5)
        sock.close()
