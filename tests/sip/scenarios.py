"""SIPp scenarios for the simulated phones of the sandbox's pjsip.conf.

- :func:`answering_phone`: an agent's phone (UAS). It answers the INVITE Asterisk sends
  to its static contact (at once, after ringing a while, or on the test's cue), plays
  its media from the moment the call is up, and hangs up when the other side does.
- :func:`calling_trunk`: the operator's trunk (UAC). It calls a service with a caller
  number in P-Asserted-Identity, plays its media from the answer on, and hangs up
  ``hangup_after_ms`` after the answer (or stays until Asterisk hangs up).
- :func:`calling_phone`: an agent's phone (UAC) dialling an extension, as a softphone
  calling a customer does; otherwise like the trunk.
- :func:`transferring_phone`: an agent's phone that answers, then transfers the call
  blind (an in-dialog REFER, R3), checks that Asterisk accepts it (202) and reports its
  result (a NOTIFY whose sipfrag says 200), then hangs up.

Both announce PCMU and telephone-events (payload type 101), as the endpoints allow.

A phone that answers *on cue* rings until the test sends it :func:`cue`: an INFO in the
call's dialog (its Call-ID is the one Asterisk's channel reports). A test then chooses
the moment a target answers (before or after a restart, say) instead of racing a ring
of a guessed length.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from tests.sip.media import PCMU, TELEPHONE_EVENT

_SDP = f"""v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {PCMU} {TELEPHONE_EVENT}
a=rtpmap:{PCMU} PCMU/8000
a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000
a=fmtp:{TELEPHONE_EVENT} 0-16
a=ptime:20
a=sendrecv
"""


def _message(text: str) -> str:
    # SIPp turns each line end into CRLF; the blank line ends the headers.
    return f"<![CDATA[\n{text}\n]]>"


def _play(pcap: Path) -> str:
    return f'<nop><action><exec play_pcap_audio="{escape(str(pcap))}"/></action></nop>'


def _ok_to_bye() -> str:
    return _message(
        """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
    )


CUE = "INFO"
"""The request that tells a phone answering on cue to answer now."""


def answering_phone(user: str, pcap: Path, ring_ms: int = 0, *, on_cue: bool = False) -> str:
    """An agent's phone: answers at once (or after ringing ``ring_ms``, or once it got its
    :func:`cue` with ``on_cue``), plays ``pcap``, ends with the other side's BYE."""
    return _answering(user, pcap, ring_ms, _ended_by_peer(), capture_peer=False, on_cue=on_cue)


def cue(call_id: str) -> bytes:
    """The datagram that makes a phone answering on cue answer the INVITE of ``call_id``
    (SIPp hands a request to the call its Call-ID names)."""
    return (
        f"{CUE} sip:cue@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-cue\r\n"
        "From: <sip:test@127.0.0.1>;tag=cue\r\n"
        "To: <sip:phone@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 {CUE}\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode("ascii")


def _ended_by_peer() -> str:
    return f"""<recv request="BYE"/>
  <send>{_ok_to_bye()}</send>"""


def transferring_phone(
    user: str, pcap: Path, target: str, refer_after_ms: int, ring_ms: int = 0
) -> str:
    """An agent's phone: answers at once (or after ringing ``ring_ms``), plays ``pcap``,
    and ``refer_after_ms`` after the answer transfers the call blind to extension
    ``target`` (REFER in the call's dialog, ``Refer-To: sip:<target>@…``). The scenario
    fails unless Asterisk accepts the REFER with 202, then reports the transfer's result
    in a NOTIFY whose sipfrag is ``SIP/2.0 200`` (each NOTIFY answered 200). Out of the
    controller's bridge Asterisk sends it at once, before the target answers. Then the
    phone hangs up (BYE), as phones do once their transfer succeeded."""
    tag = f"[pid]{user}[call_number]"
    refer = _message(
        f"""REFER [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag={tag}
To:[$peer]
Call-ID: [call_id]
CSeq: 1 REFER
Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Refer-To: <sip:{escape(target)}@[local_ip]>
Referred-By: <sip:{user}@[local_ip]:[local_port]>
Content-Length: 0
"""
    )
    bye = _message(
        f"""BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag={tag}
To:[$peer]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0
"""
    )
    # Asterisk reports the transfer's progress in NOTIFYs (100 Trying, perhaps 180
    # Ringing, then the result): up to four, each answered 200, until one says 200.
    notify = """<recv request="NOTIFY">
    <action>
      <ereg regexp="^SIP/2.0 200" search_in="body" check_it="{last}" assign_to="r{n}"/>
    </action>
  </recv>
  <send{jump}>{ok}</send>"""
    notifies = "\n  ".join(
        notify.format(
            n=n,
            last="true" if n == 4 else "false",
            jump=f' next="30" test="r{n}"',
            ok=_ok_to_bye(),
        )
        for n in range(1, 5)
    )
    after = f"""<pause milliseconds="{refer_after_ms}"/>
  <send retrans="500">{refer}</send>
  <recv response="100" optional="true"/>
  <recv response="202"/>
{notifies}
  <label id="30"/>
  <pause milliseconds="500"/>
  <send retrans="500">{bye}</send>
  <recv response="200"/>"""
    return _answering(user, pcap, ring_ms, after, capture_peer=True)


def _answering(
    user: str, pcap: Path, ring_ms: int, then: str, *, capture_peer: bool, on_cue: bool = False
) -> str:
    tag = f"[pid]{user}[call_number]"
    contact = f"Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>"
    # On cue, the last request the phone received is the cue, not the INVITE: its
    # answer takes the INVITE's headers as kept at the INVITE.
    invite = {h: f"{h}:[$invite_{h.lower().replace('-', '_')}]" for h in _ANSWERED}
    last = {h: f"[last_{h}:]" for h in _ANSWERED}
    headers = invite if on_cue else last
    ringing = _message(
        f"""SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag={tag}
[last_Call-ID:]
[last_CSeq:]
{contact}
Content-Length: 0
"""
    )
    answer = _message(
        f"""SIP/2.0 200 OK
{headers["Via"]}
{headers["From"]}
{headers["To"]};tag={tag}
{headers["Call-ID"]}
{headers["CSeq"]}
{contact}
Content-Type: application/sdp
Content-Length: [len]

{_SDP}"""
    )
    ring = f'<pause milliseconds="{ring_ms}"/>' if ring_ms else ""
    if on_cue:
        ring = f'<recv request="{CUE}"/>'
    # The caller's From (Asterisk's, with its tag) is the To of a request the phone sends.
    captures = [_capture("From", "peer")] if capture_peer else []
    if on_cue:
        captures += [_capture(h, f"invite_{h.lower().replace('-', '_')}") for h in _ANSWERED]
    peer = f"<action>{''.join(captures)}</action>" if captures else ""
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<scenario name="{user}'s phone">
  <recv request="INVITE" crlf="true" rrs="true">{peer}</recv>
  <send>{ringing}</send>
  {ring}
  <send retrans="500">{answer}</send>
  <recv request="ACK" crlf="true"/>
  {_play(pcap)}
  {then}
</scenario>
"""


_ANSWERED = ("Via", "From", "To", "Call-ID", "CSeq")
"""The INVITE's headers its answer repeats."""


def _capture(header: str, variable: str) -> str:
    return f'<ereg regexp=".*" search_in="hdr" header="{header}:" assign_to="{variable}"/>'


def busy_phone(user: str) -> str:
    """An agent's phone that is busy: answers the INVITE with 486, as a phone already in a
    call does, so a queue tries its next member at once."""
    busy = _message(
        f"""SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]{user}[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
    )
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<scenario name="{user}'s busy phone">
  <recv request="INVITE" crlf="true"/>
  <send>{busy}</send>
  <recv request="ACK"/>
</scenario>
"""


def calling_trunk(
    service: str,
    caller_number: str,
    pcap: Path,
    hangup_after_ms: int | None,
    headers: dict[str, str] | None = None,
    trunk: str = "trunk",
) -> str:
    """The trunk: calls ``service`` from ``caller_number``, plays ``pcap`` from the answer,
    hangs up ``hangup_after_ms`` after it (None: stays on the line until Asterisk hangs
    up, at a moment the test chose). ``headers`` go in the INVITE; ``trunk`` is the
    endpoint Asterisk knows it as (``trunk-inband``: its keys are tones in the audio)."""
    identity = {"P-Asserted-Identity": f"<sip:{caller_number}@[local_ip]>"}
    return _calling(trunk, service, pcap, hangup_after_ms, identity | (headers or {}))


def calling_phone(user: str, extension: str, pcap: Path, hangup_after_ms: int) -> str:
    """Phone ``user`` dials ``extension`` (Asterisk knows the endpoint by the From user),
    plays ``pcap`` from the answer, hangs up ``hangup_after_ms`` after it."""
    return _calling(user, extension, pcap, hangup_after_ms, {})


def _calling(
    user: str, extension: str, pcap: Path, hangup_after_ms: int | None, headers: dict[str, str]
) -> str:
    extra = "".join(f"{name}: {value}\n" for name, value in headers.items())
    uri = f"sip:{extension}@[remote_ip]:[remote_port]"
    common = f"""Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]{user}[call_number]
To: <{uri}>[peer_tag_param]
Call-ID: [call_id]
Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70"""
    invite = _message(
        f"""INVITE {uri} SIP/2.0
{common.replace("[peer_tag_param]", "")}
CSeq: 1 INVITE
{extra}Content-Type: application/sdp
Content-Length: [len]

{_SDP}"""
    )
    ack = _message(
        f"""ACK [next_url] SIP/2.0
{common}
CSeq: 1 ACK
Content-Length: 0
"""
    )
    bye = _message(
        f"""BYE [next_url] SIP/2.0
{common}
CSeq: 2 BYE
Content-Length: 0
"""
    )
    hangup = f"""<pause milliseconds="{hangup_after_ms}"/>
  <send retrans="500">{bye}</send>
  <recv response="200"/>"""
    if hangup_after_ms is None:
        hangup = _ended_by_peer()
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<scenario name="{user} calling {escape(extension)}">
  <send retrans="500">{invite}</send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>{ack}</send>
  {_play(pcap)}
  {hangup}
</scenario>
"""


def _reinvite(user: str, cseq: int, version: int, direction: str) -> str:
    """An in-dialog re-INVITE from the answering phone (From: its own tag; To: the
    INVITE's From, captured as ``peer``), its SDP with the same media port, a new
    version and ``direction``, as a phone's hold key sends it."""
    sdp = _SDP.replace("o=- 1 1 ", f"o=- 1 {version} ").replace("a=sendrecv", f"a={direction}")
    return _message(
        f"""INVITE [next_url] SIP/2.0
{_in_dialog(user, cseq, "INVITE")}
Content-Type: application/sdp
Content-Length: [len]

{sdp}"""
    )


def _in_dialog(user: str, cseq: int, method: str) -> str:
    return f"""Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]{user}[call_number]
To:[$peer]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70"""


def holding_phone(
    user: str, pcap: Path, holds: list[tuple[int, int]], direction: str = "sendonly"
) -> str:
    """An agent's phone that answers like :func:`answering_phone`, then puts the call on
    hold and takes it back, as its hold key does: each ``(after_ms, for_ms)`` waits
    ``after_ms`` (from the answer, or from the previous unhold), sends a re-INVITE whose
    SDP says ``direction`` (``sendonly`` or ``inactive``), waits ``for_ms`` and sends one
    saying ``sendrecv``. Its media keeps playing throughout (a phone on hold may still
    send: what it sends must not reach the file). Then it waits for the other side's
    BYE."""
    steps: list[str] = []
    cseq, version = 1, 1
    for after_ms, for_ms in holds:
        for mode, wait in ((direction, after_ms), ("sendrecv", for_ms)):
            version += 1
            ack = _message(
                f"ACK [next_url] SIP/2.0\n{_in_dialog(user, cseq, 'ACK')}\nContent-Length: 0\n"
            )
            steps += [
                f'<pause milliseconds="{wait}"/>',
                f'<send retrans="500">{_reinvite(user, cseq, version, mode)}</send>',
                '<recv response="100" optional="true"/>',
                '<recv response="200"/>',
                f"<send>{ack}</send>",
            ]
            cseq += 1
    then = "\n  ".join([*steps, _ended_by_peer()])
    return _answering(user, pcap, 0, then, capture_peer=True)
