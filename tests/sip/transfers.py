"""A SIPp scenario of an agent's phone that makes an attended transfer (R3); the blind
one is :func:`tests.sip.scenarios.transferring_phone`.

:func:`attended_transfer_phone` answers, talks, puts the caller on hold (re-INVITE
``sendonly``), calls a colleague's extension in a second dialog (the consultation),
talks with them, then sends ``REFER`` with ``Replaces`` naming that second dialog, as a
softphone's "transfer" button does after a consultation. It then answers every NOTIFY
(the transfer's progress: the scenario fails on a sipfrag that is neither provisional
nor ``200``) and, once the last one came, hangs up the first dialog, as phones do;
Asterisk hangs up the second. SIPp matches incoming messages to its one call by
Call-ID; the second dialog's Call-ID is ``consult///<call id>``, which SIPp's own
``///`` rule maps back to the same call.
"""

from __future__ import annotations

from pathlib import Path

from tests.sip.media import PCMU, TELEPHONE_EVENT
from tests.sip.scenarios import _message, _play

BYE_WITHIN_MS = 10_000
"""How long a transferring phone waits, after the transfer's last NOTIFY, for the BYE
Asterisk sends on the second dialog: it comes at once; this only bounds a phone whose
BYE never comes."""


def _sdp(version: int, direction: str) -> str:
    return f"""v=0
o=- 1 {version} IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {PCMU} {TELEPHONE_EVENT}
a=rtpmap:{PCMU} PCMU/8000
a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000
a=fmtp:{TELEPHONE_EVENT} 0-16
a=ptime:20
a={direction}
"""


def _answered(user: str) -> str:
    """Answers the INVITE Asterisk sends; keeps Asterisk's From (with its tag) for the
    requests this phone sends in that dialog."""
    tag = f"[pid]{user}[call_number]"
    contact = f"Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>"
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
[last_Via:]
[last_From:]
[last_To:];tag={tag}
[last_Call-ID:]
[last_CSeq:]
{contact}
Content-Type: application/sdp
Content-Length: [len]

{_sdp(1, "sendrecv")}"""
    )
    return f"""<recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="theirs"/>
      <ereg regexp="&lt;[^&gt;]*&gt;" search_in="hdr" header="To:" assign_to="mine"/>
    </action>
  </recv>
  <send>{ringing}</send>
  <send retrans="500">{answer}</send>
  <recv request="ACK" crlf="true"/>"""


def _in_first_dialog(user: str, method: str, cseq: int, extra: str, body: str = "") -> str:
    """A request of this phone in the dialog Asterisk opened."""
    length = "Content-Type: application/sdp\nContent-Length: [len]\n" if body else ""
    return _message(
        f"""{method} sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$mine];tag=[pid]{user}[call_number]
To: [$theirs]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
{extra}{length or "Content-Length: 0" + chr(10)}
{body}"""
    )


def _hold(user: str) -> str:
    reinvite = _in_first_dialog(user, "INVITE", 1, "", _sdp(2, "sendonly"))
    ack = _in_first_dialog(user, "ACK", 1, "")
    return f"""<send retrans="500">{reinvite}</send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send>{ack}</send>"""


def _consultation(user: str, extension: str, talk_ms: int) -> str:
    """The second dialog: this phone calls ``extension`` and talks ``talk_ms``."""
    common = f"""Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]{user}consult
Call-ID: consult///[call_id]
Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70"""
    invite = _message(
        f"""INVITE sip:{extension}@[remote_ip]:[remote_port] SIP/2.0
{common}
To: <sip:{extension}@[remote_ip]:[remote_port]>
CSeq: 1 INVITE
Content-Type: application/sdp
Content-Length: [len]

{_sdp(1, "sendrecv")}"""
    )
    ack = _message(
        f"""ACK sip:[remote_ip]:[remote_port] SIP/2.0
{common}
To: <sip:{extension}@[remote_ip]:[remote_port]>;tag=[$consulted]
CSeq: 1 ACK
Content-Length: 0
"""
    )
    return f"""<send retrans="500">{invite}</send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="tag=([^;]*)" search_in="hdr" header="To:" assign_to="junk,consulted"/>
    </action>
  </recv>
  <send>{ack}</send>
  <Reference variables="junk"/>
  <pause milliseconds="{talk_ms}"/>"""


def _refer(user: str, refer_to: str) -> str:
    extra = f"Refer-To: {refer_to}\nReferred-By: <sip:{user}@[local_ip]:[local_port]>\n"
    return f"""<send retrans="500">{_in_first_dialog(user, "REFER", 2, extra)}</send>
  <recv response="100" optional="true"/>
  <recv response="202"/>"""


def _until_transferred(user: str) -> str:
    """Answers each NOTIFY (the transfer's progress); once the last one came, hangs up
    the first dialog, as phones do. Answers the BYE Asterisk sends on the second dialog,
    whenever it comes."""
    ok = _message(
        """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
    )
    actions = """<action>
      <ereg regexp="terminated" search_in="hdr" header="Subscription-State:" assign_to="final"/>
      <ereg regexp="^SIP/2.0 (1[0-9][0-9]|200) " search_in="body" check_it="true"
            assign_to="progress"/>
    </action>"""
    notify = f"""<recv request="NOTIFY" optional="true" next="notified">
    {actions}
  </recv>
  <recv request="BYE" next="bye"/>"""
    # Every answer is followed at once by what may come next: a NOTIFY and a BYE can
    # come within a millisecond, and SIPp takes a message that arrives while it has a
    # <nop> or a <send> ahead of the next <recv> for an unexpected one.
    # Asterisk's BYE on the second dialog comes right after the last NOTIFY (or just
    # before it). Once the last NOTIFY came, the phone hangs up the first dialog: at once
    # when the BYE came before it (the notifiedafterbye branch, which expects no other
    # BYE), else once the BYE came, however long a loaded Asterisk takes to send it (a
    # first-dialog BYE sent meanwhile would meet it as an unexpected message).
    return f"""<label id="wait"/>
  {notify}
  <label id="notified"/>
  <send next="transferred" test="final">{ok}</send>
  {notify}
  <label id="bye"/>
  <send>{ok}</send>
  <label id="afterbye"/>
  <recv request="NOTIFY" next="notifiedafterbye">
    {actions}
  </recv>
  <label id="notifiedafterbye"/>
  <send next="hangup" test="final">{ok}</send>
  <recv request="NOTIFY" next="notifiedafterbye">
    {actions}
  </recv>
  <label id="transferred"/>
  <recv request="BYE" timeout="{BYE_WITHIN_MS}" ontimeout="hangup"/>
  <send>{ok}</send>
  <label id="hangup"/>
  <send retrans="500">{_in_first_dialog(user, "BYE", 3, "")}</send>
  <recv response="200"/>
  <Reference variables="progress"/>"""


def attended_transfer_phone(
    user: str, colleague: str, pcap: Path, talk_ms: int, consult_ms: int
) -> str:
    """``user``'s phone: answers, plays ``pcap``, talks ``talk_ms``, holds the caller,
    calls extension ``colleague``, talks ``consult_ms`` with them, then transfers the
    caller to them (REFER with Replaces)."""
    replaces = "consult///[call_id]%3Bto-tag%3D[$consulted]%3Bfrom-tag%3D[pid]" + user + "consult"
    refer_to = f"<sip:{colleague}@[remote_ip]:[remote_port]?Replaces={replaces}>"
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<scenario name="{user}'s phone, attended transfer to {colleague}">
  {_answered(user)}
  {_play(pcap)}
  <pause milliseconds="{talk_ms}"/>
  {_hold(user)}
  {_consultation(user, colleague, consult_ms)}
  {_refer(user, refer_to)}
  {_until_transferred(user)}
</scenario>
"""
