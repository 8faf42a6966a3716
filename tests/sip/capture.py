"""What a SIP phone hears: the RTP Asterisk sends to a phone's media port, read off the
loopback interface while the call runs, as the audio the phone would play.

SIPp keeps the media port to itself, so the packets are read beside it, from a raw
packet socket on ``lo`` (the tests run as root, as SIPp's ``play_pcap_audio`` needs).
The frames are laid out by their RTP timestamps, the phone's media time: a mixing bridge
sends one 20 ms frame every 20 ms, but a relayed stream (two phones bridged natively)
has holes where nothing was sent, and they must read as silence, not vanish.
Telephone-events are counted by the port they reach (:attr:`Capture.events_to`); any
other payload type is left out.
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
from tests.sip.media import PCMU, RATE, TELEPHONE_EVENT, mulaw_decode

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4  # each loopback packet is seen leaving and arriving: keep one
_ETHERNET = 14


@dataclass(frozen=True)
class Frame:
    arrived: float
    """Monotonic seconds."""
    ssrc: int
    timestamp: int
    payload: bytes


@dataclass
class Capture:
    """RTP frames received on UDP ports of 127.0.0.1, by destination port."""

    frames: dict[int, list[Frame]] = field(default_factory=dict)
    releases: dict[int, list[float]] = field(default_factory=dict)
    """When each key the phone on a media port sent was released (its first RFC 4733
    end packet seen on the wire), by that port."""
    events_to: dict[int, int] = field(default_factory=dict)
    """RFC 4733 telephone-event packets sent *to* a media port: keys that reached the
    phone there."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ends: set[tuple[int, int]] = field(default_factory=set)

    def released(self, port: int, end: Frame) -> None:
        with self._lock:
            if (port, end.timestamp) not in self._ends:  # one key, three end packets
                self._ends.add((port, end.timestamp))
                self.releases.setdefault(port, []).append(end.arrived)

    def event_to(self, port: int) -> None:
        with self._lock:
            self.events_to[port] = self.events_to.get(port, 0) + 1

    def add(self, port: int, frame: Frame) -> None:
        with self._lock:
            self.frames.setdefault(port, []).append(frame)

    def _placed(self, port: int) -> list[tuple[int, Frame]]:
        """Each frame with the sample it starts at in the phone's media time: its RTP
        timestamp within one stream; across a change of stream (a new SSRC, or a
        timestamp jump), the time between arrivals. A frame Asterisk did not send (a
        relayed stream's hole while a key is held) is silence there, not skipped."""
        with self._lock:
            frames = list(self.frames.get(port, []))
        placed: list[tuple[int, Frame]] = []
        for frame in frames:
            if not placed:
                placed.append((0, frame))
                continue
            at, last = placed[-1]
            step = (frame.timestamp - last.timestamp) & 0xFFFFFFFF
            if frame.ssrc != last.ssrc or step > 10 * RATE:
                step = round((frame.arrived - last.arrived) * RATE / 160) * 160
            placed.append((at + max(step, 0), frame))
        return placed

    def heard(self, port: int) -> Audio:
        """The audio the phone on media ``port`` received, as 8 kHz samples."""
        placed = self._placed(port)
        if not placed:
            return Audio(np.zeros(0), RATE)
        size = placed[-1][0] + len(placed[-1][1].payload)
        samples = np.zeros(size)
        for at, frame in placed:
            samples[at : at + len(frame.payload)] = mulaw_decode(frame.payload)
        return Audio(samples, RATE)

    def arrival(self, port: int, at: float) -> float:
        """When the frame holding second ``at`` of :meth:`heard` arrived: two phones'
        audio compared on one clock."""
        placed = self._placed(port)
        sample = at * RATE
        start, frame = placed[0]
        for start, frame in placed:
            if start + len(frame.payload) > sample:
                break
        return frame.arrived + (sample - start) / RATE


def _rtp_of(frame: bytes, arrived: float) -> tuple[int, int, Frame | None] | None:
    """(source port, destination port, frame) of an Ethernet frame holding an RTP packet
    (PCMU, or a telephone-event: an end packet has an empty payload; a key held is no
    frame)."""
    if len(frame) < _ETHERNET + 20 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[_ETHERNET:]
    header = (ip[0] & 0x0F) * 4
    if ip[9] != 17 or len(ip) < header + 8 + 12:
        return None
    source, destination = struct.unpack_from("!HH", ip, header)
    rtp = ip[header + 8 :]
    if rtp[0] >> 6 != 2 or rtp[1] & 0x7F not in (PCMU, TELEPHONE_EVENT):
        return None
    start = 12 + 4 * (rtp[0] & 0x0F)
    timestamp, ssrc = struct.unpack_from("!II", rtp, 4)
    payload = rtp[start:]
    if rtp[1] & 0x7F == TELEPHONE_EVENT:
        # An end packet is a key's release; any other is a key held, and its payload
        # (None) says so.
        if len(payload) < 4 or not payload[1] & 0x80:
            return source, destination, None
        payload = b""
    return source, destination, Frame(arrived, ssrc, timestamp, payload)


@contextmanager
def received_audio(ports: set[int]) -> Iterator[Capture]:
    """Records, while the block runs, the PCMU frames sent to any of ``ports``, and the
    key releases sent from them (a set the test may add to once it knows its phones'
    media ports)."""
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
            found = _rtp_of(frame, time.monotonic())
            if found is None:
                continue
            source, destination, rtp = found
            if rtp is None or not rtp.payload:
                if destination in ports:
                    capture.event_to(destination)
            if rtp is None:
                continue
            if not rtp.payload:
                if source in ports:
                    capture.released(source, rtp)
            elif destination in ports:
                capture.add(destination, rtp)

    reader = threading.Thread(target=run, name="rtp-capture", daemon=True)
    reader.start()
    try:
        yield capture
    finally:
        stop.set()
        reader.join(5)
        sock.close()
