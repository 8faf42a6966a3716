"""The live memory bench (``bench/memory.py``): when a placed call is not bridged in
time, its failure says which call and where it went (R2: a call the daemon did not
bridge is a lost recording, to be found, never a count alone)."""

from __future__ import annotations

from typing import Any

from bench.memory import unbridged
from controller.ari.models import CallerId, Channel


def placed(serial: int) -> Channel:
    name = f"Local/hold@sim-entry-{serial:08x};1"
    return Channel(f"b-{serial}.1", name, "Up", CallerId("", ""), CallerId("", ""), "", "", "")


def entry(serial: int, context: str, app: str) -> dict[str, Any]:
    return {
        "id": f"b-{serial}.2",
        "name": f"Local/hold@sim-entry-{serial:08x};2",
        "dialplan": {"context": context, "exten": "hold", "app_name": app},
    }


def test_r2_a_call_handed_back_is_named_with_where_it_went_and_its_stored_outcome() -> None:
    callers = [placed(1), placed(2), placed(3)]
    channels = [
        entry(1, "reccontrol-inbound", "Stasis"),
        entry(2, "reccontrol-fallback", "Wait"),
    ]
    bridges = [{"id": "rc-a", "channels": ["b-1.2", "rc-a-agent"]}]
    stored: list[dict[str, Any] | None] = [
        {"id": "a", "channel_id": "b-1.2", "outcome": None},
        {"id": "b", "channel_id": "b-2.2", "outcome": "handed_back"},
        None,
    ]
    lines = unbridged(callers, channels, bridges, stored)
    assert lines == [
        "\n  call 2 (Local/hold@sim-entry-00000002;2): at reccontrol-fallback,hold in Wait;"
        " daemon call b, outcome handed_back",
        "\n  call 3 (Local/hold@sim-entry-00000003;1): its entry channel is gone",
    ]


def test_r2_every_call_bridged_leaves_nothing_to_report() -> None:
    callers = [placed(1)]
    channels = [entry(1, "reccontrol-inbound", "Stasis")]
    bridges = [{"id": "rc-a", "channels": ["b-1.2", "rc-a-agent"]}]
    assert unbridged(callers, channels, bridges, []) == []
