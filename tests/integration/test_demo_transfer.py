"""The demo's blind transfer against the real Asterisk, run by the demo's own code: Alice's
call, recorded, is transferred to David as a phone's REFER would; the call is one call
in two segments, each recorded for its own agent, and the demo's line says so (R3)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from controller.demo.run import ARI_SCENARIOS, report, run_scenarios
from controller.sandbox import SandboxInstance
from tests.audio import plaintext

TRANSFER = tuple(s for s in ARI_SCENARIOS if s.transfer_to is not None)


async def test_r3_the_demo_transfers_a_recorded_call_to_a_second_agent(
    asterisk: SandboxInstance, tmp_path: Path
) -> None:
    """One call row, its decision for Alice (segment 1) and one taken again for David
    (segment 2); two stored recordings in the vault, one per segment and agent, in order,
    each with its hash; the printed line names both segments."""
    workdir = tmp_path / "demo"
    results = await run_scenarios(asterisk, workdir, lambda _line: None, TRANSFER)
    printed: list[str] = []
    report(results, printed.append, TRANSFER)

    (call,) = results
    assert call["outcome"] == "caller_hung_up"
    assert call["decision"]["agent_id"] == "alice" and call["decision"]["reason"] == "sampled"
    first, second = call["recordings"]
    assert [(r["segment"], r["agent_id"], r["state"]) for r in (first, second)] == [
        (1, "alice", "stored"),
        (2, "david", "stored"),
    ]
    for rec in (first, second):
        path = Path(rec["path"])
        assert path.parent == workdir / "vault"
        assert hashlib.sha256(plaintext(path)).hexdigest() == rec["sha256"]
        assert rec["duration_seconds"] > 1.0
    line = printed[-1]
    assert "segment 1 (alice)" in line and "segment 2 (david)" in line
