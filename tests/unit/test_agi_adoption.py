"""A call that came over FastAGI and was left open by a daemon killed mid-announcement:
a restarted controller closes its row and leaves the channel to the site's dialplan,
where it already is (R1)."""

from __future__ import annotations

import datetime as dt

from controller.calls import commands as c
from controller.calls.adoption import Released
from controller.records import CallStart
from controller.store import SqliteStore
from tests.unit.test_adoption import CALL, open_call, plan, view
from tests.unit.test_inbound_call import CALLER, kinds

NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)


def test_r1_an_agi_call_left_open_is_closed_without_touching_its_channel(
    fresh_db: SqliteStore,
) -> None:
    # The row as the inbound script writes it: no channel id, path agi.
    fresh_db.begin_call(CallStart(CALL, "sales", "inbound", NOW, "h1", path="agi"), "v1")
    (row,) = fresh_db.open_calls()
    assert row.channel_id is None
    (stored,) = fresh_db.db.query("SELECT path FROM calls")
    assert stored["path"] == "agi"

    # Asterisk still has the caller's channel, running the site's dialplan.
    result = plan(
        open_call(channel_id=row.channel_id, recording=None, has_recordings=False, decision=None),
        view(channels=(CALLER,), bridge=False),
    )
    assert isinstance(result, Released)
    assert kinds(result.commands) == ["EndCall", "Log"]
    assert result.commands[0] == c.EndCall(CALL, "interrupted", None, True)
