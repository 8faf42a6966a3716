"""The SIP phones' media and scenarios, checked without SIPp: the RTP stream is one PCMU
stream of 20 ms packets with one SSRC, and a key press is RFC 4733 events that replace
the audio while the key is held, then three end packets."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.audio import Audio, dtmf_keys, tone_seconds
from tests.sip.capture import _rtp_of
from tests.sip.media import (
    EVENT_CODES,
    PCMU,
    SAMPLES_PER_PACKET,
    TELEPHONE_EVENT,
    Key,
    Part,
    Silence,
    dtmf_pair,
    inband_keys,
    keys,
    mulaw_decode,
    mulaw_encode,
    read_pcap,
    tone,
    write_pcap,
)
from tests.sip.scenarios import CUE, answering_phone, calling_trunk, cue


def parse(packet: bytes) -> tuple[int, bool, int, int, int, bytes]:
    first, second, sequence, timestamp, ssrc = struct.unpack("!BBHII", packet[:12])
    assert first == 0x80  # version 2, nothing else
    return second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc, packet[12:]


def test_mulaw_round_trip_keeps_the_tone() -> None:
    t = np.arange(8000) / 8000
    samples = 0.3 * np.sin(2 * np.pi * 1100 * t)
    decoded = mulaw_decode(mulaw_encode(samples))
    assert np.max(np.abs(decoded - samples)) < 0.01
    assert tone_seconds(Audio(decoded, 8000), 1100) == pytest.approx(1.0)
    assert tone_seconds(Audio(decoded, 8000), 2600) == 0.0
    assert np.all(mulaw_decode(mulaw_encode(np.zeros(160))) == 0)


def test_a_key_replaces_the_audio_then_three_end_packets(tmp_path: Path) -> None:
    parts: list[Part] = [tone(500, 100), Key("*", 60), tone(2600, 40)]
    found = read_pcap(write_pcap(tmp_path / "x.pcap", parts, ssrc=1234))
    rows = [(at, *parse(packet)) for at, packet in found]
    assert {row[5] for row in rows} == {1234}  # one SSRC
    assert [row[3] for row in rows] == list(range(1, len(rows) + 1))  # no sequence gap
    kinds = [(at // 1000, pt) for at, pt, *_ in rows]
    # 5 audio packets, 3 events while the key is held, 3 end packets at the release,
    # then the marker: the audio starts again the moment the key is released.
    assert kinds == [
        *[(ms, PCMU) for ms in (0, 20, 40, 60, 80)],
        *[(ms, TELEPHONE_EVENT) for ms in (100, 120, 140)],
        *[(160, TELEPHONE_EVENT)] * 3,
        *[(ms, PCMU) for ms in (160, 180)],
    ]
    events = [row for row in rows if row[1] == TELEPHONE_EVENT]
    assert [row[2] for row in events] == [True] + [False] * 5  # marker on the first only
    assert {row[4] for row in events} == {5 * SAMPLES_PER_PACKET}  # the event's start
    payloads = [struct.unpack("!BBH", row[6]) for row in events]
    assert {p[0] for p in payloads} == {EVENT_CODES["*"]}
    assert [p[1] & 0x80 for p in payloads] == [0, 0, 0, 0x80, 0x80, 0x80]
    assert [p[2] for p in payloads] == [160, 320, 480, 480, 480, 480]
    audio = [row for row in rows if row[1] == PCMU]
    assert [row[4] for row in audio] == [i * SAMPLES_PER_PACKET for i in (0, 1, 2, 3, 4, 8, 9)]
    assert all(len(row[6]) == SAMPLES_PER_PACKET for row in audio)
    marker = mulaw_decode(b"".join(row[6] for row in audio[5:]))
    assert tone_seconds(Audio(marker, 8000), 2600) == pytest.approx(0.04)


def test_keys_are_spaced_by_silence_and_lengths_are_whole_packets(tmp_path: Path) -> None:
    assert keys("*2") == [Key("*", 100), Silence(100), Key("2", 100)]
    with pytest.raises(ValueError, match="multiple of 20 ms"):
        write_pcap(tmp_path / "x.pcap", [tone(500, 30)])
    with pytest.raises(ValueError, match="not a key"):
        write_pcap(tmp_path / "x.pcap", [Key("x", 100)])


def test_scenarios_are_xml_that_sipp_can_read(tmp_path: Path) -> None:
    pcap = tmp_path / "a&b.pcap"
    phone = ET.fromstring(answering_phone("alice", pcap).encode("iso-8859-1"))  # noqa: S314 - our own text
    assert [child.tag for child in phone] == ["recv", "send", "send", "recv", "nop", "recv", "send"]
    play = phone.find("nop/action/exec")
    assert play is not None and play.get("play_pcap_audio") == str(pcap)
    trunk_xml = calling_trunk("sales", "+33611112222", pcap, 5000, {"X-Payment-Order": "O-1"})
    trunk = ET.fromstring(trunk_xml.encode("iso-8859-1"))  # noqa: S314
    invite = trunk.findtext("send") or ""
    assert "INVITE sip:sales@[remote_ip]:[remote_port] SIP/2.0" in invite
    assert "P-Asserted-Identity: <sip:+33611112222@[local_ip]>" in invite
    assert "X-Payment-Order: O-1" in invite
    assert "telephone-event/8000" in invite and "PCMU/8000" in invite
    pause = trunk.find("pause")
    assert pause is not None and pause.get("milliseconds") == "5000"


def test_a_phone_on_cue_rings_until_its_cue_and_answers_with_the_invites_headers(
    tmp_path: Path,
) -> None:
    """The test chooses when a target answers: the phone rings until an INFO in the
    call's dialog, then answers the INVITE with the INVITE's headers (kept at the
    INVITE: the last request it received is the cue)."""
    pcap = tmp_path / "c.pcap"
    phone = ET.fromstring(answering_phone("chloe", pcap, on_cue=True).encode("iso-8859-1"))  # noqa: S314
    steps = [(child.tag, child.get("request")) for child in phone]
    assert steps[:4] == [("recv", "INVITE"), ("send", None), ("recv", CUE), ("send", None)]
    kept = {e.get("header") for e in phone.iterfind("recv/action/ereg")}
    assert kept == {"Via:", "From:", "To:", "Call-ID:", "CSeq:"}
    answer = phone[3].text or ""
    assert answer.startswith("\nSIP/2.0 200 OK") and "[last_" not in answer
    assert "CSeq:[$invite_cseq]" in answer and "To:[$invite_to];tag=" in answer
    datagram = cue("abc-123@10.0.0.1").decode("ascii")
    assert datagram.startswith(f"{CUE} sip:") and datagram.endswith("\r\n\r\n")
    assert "\r\nCall-ID: abc-123@10.0.0.1\r\n" in datagram
    # Without the cue: the answer right after the ringing, as before.
    plain = ET.fromstring(answering_phone("chloe", pcap).encode("iso-8859-1"))  # noqa: S314
    assert [child.get("request") for child in plain][:3] == ["INVITE", None, None]


def test_a_trunk_without_a_hangup_time_waits_for_asterisks_bye(tmp_path: Path) -> None:
    trunk_xml = calling_trunk("sales", "+33611112222", tmp_path / "t.pcap", None)
    trunk = ET.fromstring(trunk_xml.encode("iso-8859-1"))  # noqa: S314
    assert trunk.find("pause") is None
    assert [(c.tag, c.get("request")) for c in trunk][-2:] == [("recv", "BYE"), ("send", None)]


def test_inband_keys_are_dtmf_tone_pairs_in_the_audio(tmp_path: Path) -> None:
    """An in-band key (M4's in-band case) is its DTMF pair as PCMU audio, no event: the
    tone detector reads the keys back from the stream."""
    assert dtmf_pair("1") == (697.0, 1209.0) and dtmf_pair("#") == (941.0, 1477.0)
    with pytest.raises(ValueError, match="not a key"):
        dtmf_pair("x")
    packets = read_pcap(write_pcap(tmp_path / "k.pcap", inband_keys("4556#")))
    assert {rtp[1] & 0x7F for _, rtp in packets} == {PCMU}
    audio = Audio(np.concatenate([mulaw_decode(rtp[12:]) for _, rtp in packets]), 8000)
    assert "".join(dtmf_keys(audio)) == "4556#"


def test_the_capture_counts_key_events_by_the_port_they_reach() -> None:
    """A telephone-event held or ended, sent to a port, counts there: how a test sees a
    key reach a phone. An audio frame does not count."""
    def frame(payload_type: int, payload: bytes, destination: int) -> bytes:
        rtp = struct.pack("!BBHII", 0x80, payload_type, 1, 0, 7) + payload
        udp = struct.pack("!HHHH", 4000, destination, 8 + len(rtp), 0) + rtp
        ip = bytes([0x45, 0]) + struct.pack("!H", 20 + len(udp)) + bytes(5) + bytes([17])
        ip += bytes(2) + bytes([127, 0, 0, 1]) * 2
        return bytes(12) + b"\x08\x00" + ip + udp

    held = _rtp_of(frame(TELEPHONE_EVENT, bytes([1, 10, 0, 160]), 5000), 0.0)
    ended = _rtp_of(frame(TELEPHONE_EVENT, bytes([1, 0x8A, 0, 160]), 5000), 0.0)
    audio = _rtp_of(frame(PCMU, bytes(160), 5000), 0.0)
    assert held is not None and held[1:] == (5000, None)
    assert ended is not None and ended[2] is not None and ended[2].payload == b""
    assert audio is not None and audio[2] is not None and len(audio[2].payload) == 160
