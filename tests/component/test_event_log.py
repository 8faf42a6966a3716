"""The optional ARI event log (Low: ARI event log): what it keeps and where."""

from __future__ import annotations

import os
from pathlib import Path

from controller.ari.events import redact_event
from controller.eventlog import EventLog
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
