"""The optional ARI event log (Low: ARI event log): what it keeps and where."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from controller.eventlog import EventLog, redact_event
from controller.logs import fold
from tests.component.fake_ari import channel, event


def test_low_event_log_drops_numbers_in_app_data_and_stasis_args() -> None:
    """Low, ARI event log: numbers inside ``app_data`` (a Dial) and the Stasis args were
    written as they came."""
    raw = event(
        "StasisStart",
        args=["inbound", "sales", "0612345678"],
        channel={
            **channel("c2"),
            "dialplan": {
                "context": "reccontrol-inbound",
                "exten": "sales",
                "priority": 1,
                "app_name": "Dial",
                "app_data": "PJSIP/0612345678@trunk,30",
            },
        },
    )
    text = str(redact_event(raw))
    assert "0612345678" not in text and "123456" not in text
    assert "'inbound'" in text and "'sales'" in text and "@trunk,30" in text


def test_low_event_log_folder_is_private_under_umask_000(tmp_path: Path) -> None:
    """Low, ARI event log: its folder was created 0777 under umask 000."""
    old = os.umask(0)
    try:
        log = EventLog(tmp_path / "logs" / "ari" / "events.jsonl")
        log.start()
        log(event("StasisEnd", channel=channel("c3")))
        log.close()
    finally:
        os.umask(old)
    for folder in (tmp_path / "logs", tmp_path / "logs" / "ari"):
        assert folder.stat().st_mode & 0o777 == 0o700
    written = tmp_path / "logs" / "ari" / "events.jsonl"
    assert written.stat().st_mode & 0o777 == 0o640
    assert '"StasisEnd"' in written.read_text()


CALLER = "0612345678"
CONNECTED = "0698765432"
DIALLED = "0140000000"
CARD = "4111111111111111"


def real_channel() -> dict[str, Any]:
    """A channel as Asterisk 22 sends it for a call from the trunk, with numbers and
    digits wherever Asterisk or a dialplan can put them."""
    return {
        "id": "1764398403.12",
        "name": f"PJSIP/{CALLER}-0000000c",
        "state": "Ring",
        "protocol_id": f"{CALLER}@203.0.113.9",
        "caller": {"name": "Jean Dupont", "number": CALLER},
        "connected": {"name": "Hotline", "number": CONNECTED},
        "accountcode": CALLER,
        "dialplan": {
            "context": "reccontrol-inbound",
            "exten": DIALLED,
            "priority": 3,
            "app_name": "Stasis",
            "app_data": f"reccontrol,inbound,sales,{CALLER}",
        },
        "creationtime": "2026-11-29T10:00:00.000+0000",
        "language": "fr",
        "channelvars": {"RECCONTROL_PAYMENT_ORDER": CARD, "CALLERID(num)": CALLER},
    }


def written_strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in written_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in written_strings(v)]
    return [value] if isinstance(value, str) else []


def test_c4_m1_event_log_keeps_only_known_safe_fields_of_real_events(tmp_path: Path) -> None:
    """C4, M1: ``dialplan_app_data`` of a ChannelDialplan event was written as it came,
    and so would any field the redaction did not know about. Now only known-safe fields
    are written: the caller and connected numbers, the dialled extension, channel
    variables and digits in free text appear nowhere in the file."""
    path = tmp_path / "ari" / "events.jsonl"
    log = EventLog(path)
    log.start()
    log(
        event(
            "ChannelDialplan",
            dialplan_app="Stasis",
            dialplan_app_data=f"reccontrol,inbound,sales,{CALLER},{CARD}",
            channel=real_channel(),
            variables={"PAN": CARD, "FROM": CALLER},
        )
    )
    log(
        event(
            "StasisStart",
            args=["inbound", "sales", CALLER, "06\u00a012\u00a034\u00a056\u00a078", CARD],
            channel=real_channel(),
            replace_channel=real_channel(),
            variables={"PAN": CARD},
            caller_number=CALLER,
        )
    )
    log.close()
    text = path.read_text(encoding="utf-8")
    written = [json.loads(line) for line in text.splitlines()]
    assert [e["type"] for e in written] == ["ChannelDialplan", "StasisStart"]
    for secret in (CALLER, CONNECTED, DIALLED, CARD, "Jean Dupont", "203.0.113.9"):
        assert secret not in text
        for string in written_strings(written):
            assert secret not in re.sub(r"[^0-9A-Za-z]", "", fold(string))
    # What support needs is still there.
    dialplan, stasis = written
    assert dialplan["dialplan_app"] == "Stasis"
    assert dialplan["dialplan_app_data"] == "reccontrol,inbound,sales,***,***"
    assert dialplan["channel"]["id"] == "1764398403.12"
    assert dialplan["channel"]["dialplan"] == {
        "context": "reccontrol-inbound",
        "priority": 3,
        "app_name": "Stasis",
        "app_data": "reccontrol,inbound,sales,***",
    }
    assert stasis["args"] == ["inbound", "sales", "***", "***", "***"]
    assert set(stasis) == {
        "type", "application", "timestamp", "asterisk_id", "args", "channel", "replace_channel"
    }


def test_r2_event_fields_of_an_unexpected_shape_are_dropped_not_written() -> None:
    """R2: a field whose shape does not match its rule (an object where a string is
    expected, a list of lists) is left out; the rest of the event is kept."""
    raw = event(
        "StasisStart",
        args=[["0612345678"], {"n": "0612345678"}, "ok"],
        channel={**channel("c9"), "name": {"number": "0612345678"}},
        cause={"code": 16},
    )
    cleaned = redact_event(raw)
    assert cleaned["args"] == ["ok"]
    assert cleaned["channel"]["id"] == "c9"
    assert "name" not in cleaned["channel"] and "cause" not in cleaned
    assert "0612345678" not in json.dumps(cleaned)


class _Unreadable(dict[str, Any]):
    """An event whose fields cannot be read: the redaction raises on it."""

    def __iter__(self) -> Any:
        raise RuntimeError("unreadable")

    def keys(self) -> Any:
        raise RuntimeError("unreadable")


def test_r2_an_event_the_redaction_cannot_take_costs_its_line_not_the_log(
    tmp_path: Path,
) -> None:
    """R2: events are redacted by the event log's own thread, off the event loop; an
    event it cannot redact is left out and the events after it are still written."""
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.start()
    log(_Unreadable(type="ChannelDtmfReceived"))
    log(event("ChannelDtmfReceived", digit="2", channel=real_channel()))
    log.close()
    written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [e["type"] for e in written] == ["ChannelDtmfReceived"]
