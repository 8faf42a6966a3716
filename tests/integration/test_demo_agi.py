"""The demo's FastAGI calls against the real Asterisk, run by the demo's own code: a
dialplan-only site announces through the daemon, dials the agent itself, and the rows,
files and printed lines are what the demo shows (C1, C2, A5, T1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from controller.demo.run import AGI_SCENARIOS, CALLERS, report, run_scenarios
from controller.sandbox import SandboxInstance
from tests.audio import plaintext


async def test_c1_c2_a5_t1_the_demo_puts_two_calls_through_fastagi(
    asterisk: SandboxInstance, tmp_path: Path
) -> None:
    """The first caller is announced, the call sampled and recorded by MixMonitor into the
    vault, with the agent's pause (A5) as a row; the second presses the opt-out key during
    the announcement (C2) and nothing of the call is recorded. Both rows say
    ``path = agi``, and so does the demo's table."""
    workdir = tmp_path / "demo"
    progress: list[str] = []
    results = await run_scenarios(asterisk, workdir, progress.append, AGI_SCENARIOS)
    printed: list[str] = []
    report(results, printed.append, AGI_SCENARIOS)

    config = yaml.safe_load((workdir / "reccontrol.yaml").read_text())
    assert {"agi", "ami"} <= set(config)
    recorded, objected = results
    assert [c["path"] for c in results] == ["agi", "agi"]
    assert [c["outcome"] for c in results] == ["completed", "completed"]

    # Announced (C1), sampled, recorded into the vault with its pause.
    assert recorded["announcement_completed"] == 1 and recorded["agent_id"] == "alice"
    assert (recorded["decision"]["reason"], recorded["decision"]["draw"]) == ("sampled", 0.05)
    (rec,) = recorded["recordings"]
    assert rec["state"] == "stored" and json.loads(rec["purposes"]) == ["training", "quality"]
    path = Path(rec["path"])
    assert path.parent == workdir / "vault"
    assert hashlib.sha256(plaintext(path)).hexdigest() == rec["sha256"]
    (pause,) = recorded["pauses"]
    assert (pause["reason"], pause["resumed_by"]) == ("agent_key", "agent")

    # The opt-out key in the announcement (C2): no recording row, no file.
    (opt_out,) = [e for e in objected["consent_events"] if e["kind"] == "opt_out"]
    assert (opt_out["key"], opt_out["phase"]) == ("9", "announcement")
    assert objected["decision"]["reason"] == "caller_objected"
    assert objected["recordings"] == []
    assert sorted((workdir / "vault").glob("*")) == [path]

    header, first, second = printed[1:]
    assert header.split()[:5] == ["#", "scenario", "caller", "path", "outcome"]
    assert first.split("  ")[1] == AGI_SCENARIOS[0].title
    assert " agi  completed " in first and "WAV (training+quality); paused" in first
    assert " agi  completed " in second and "caller_objected (key 9 in announcement)" in second
    assert second.rstrip().endswith("none")
    # The demo prints labels, never the callers' numbers.
    numbers = [CALLERS[s.caller] for s in AGI_SCENARIOS]
    assert not [n for n in numbers if any(n in line for line in printed + progress)]
