"""What the event loop spends on one key press, without any I/O.

Each figure is the median, over several repeats, of the mean time per operation in a
repeat (``timeit`` style). The draw and the ids come from the OS CSPRNG, as in
production, so a pause includes the ``getrandbits`` of its pause id.

A tight loop keeps the code and its data in the CPU caches. A key press does not: the
agent's digits come 200 ms apart, and the process sleeps in between. So each operation
is also timed alone after sleeping that long ("after idle"), which is what it costs on
the way from a DTMF frame to the pause.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.fixtures import (
    AGENT,
    DTMF_EVENT_JSON,
    NOW,
    PARIS,
    SERVICE,
    AlwaysSampled,
    connected_call,
)
from controller.ari.events import parse_event
from controller.calls import commands as c
from controller.calls import messages as m
from controller.eventlog import redact_event
from controller.policy import decide
from tests.factories import STAFF_INFORMED

# Seconds between two of an agent's digits (100 ms tone, 100 ms gap).
IDLE_SECONDS = 0.2


@dataclass(frozen=True)
class Cost:
    name: str
    median_ns: float
    min_ns: float
    repeats: int
    number: int
    idle_ns: float = 0.0
    """Median of single runs, each after ``IDLE_SECONDS`` asleep."""
    idle_samples: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_ns": round(self.median_ns, 1),
            "min_ns": round(self.min_ns, 1),
            "repeats": self.repeats,
            "number": self.number,
            "after_idle_ns": round(self.idle_ns, 1),
            "after_idle_samples": self.idle_samples,
        }


def _after_idle(
    op: Callable[[], object],
    samples: int,
    setup: Callable[[], object] | None = None,
    teardown: Callable[[], object] | None = None,
) -> float:
    clock = time.perf_counter_ns
    spent = []
    for _ in range(samples):
        if setup is not None:
            setup()
        time.sleep(IDLE_SECONDS)
        start = clock()
        op()
        spent.append(clock() - start)
        if teardown is not None:
            teardown()
    return float(statistics.median(spent))


def _timeit(
    name: str, fn: Callable[[], object], repeats: int, number: int, idle_samples: int
) -> Cost:
    timer = timeit.Timer(fn)
    per_op = [t / number * 1e9 for t in timer.repeat(repeat=repeats, number=number)]
    idle = _after_idle(fn, idle_samples)
    return Cost(name, statistics.median(per_op), min(per_op), repeats, number, idle, idle_samples)


def _clock_overhead_ns(samples: int = 20000) -> float:
    """What a pair of ``perf_counter_ns`` calls costs by itself."""
    clock = time.perf_counter_ns
    pairs = []
    for _ in range(samples):
        start = clock()
        pairs.append(clock() - start)
    return float(statistics.median(pairs))


def pause_key_cost(repeats: int, number: int, idle_samples: int) -> Cost:
    """``Call.handle(Dtmf)`` for the digit that completes the pause sequence.

    The pause key is ``*2``: its ``2`` is the transition that returns PauseRecording
    first. Each iteration keys ``*``, then ``2`` (timed alone), then ``*3`` to resume, so
    every timed call starts from the same state. The cost of the clock itself is
    subtracted.
    """
    call = connected_call(1, AlwaysSampled())
    channel = call.agent_channel_id
    star, two, three = (m.Dtmf(channel, d, 1000.0) for d in ("*", "2", "3"))
    handle = call.handle
    clock = time.perf_counter_ns
    first = handle(star, NOW) + handle(two, NOW)
    if not first or not isinstance(first[0], c.PauseRecording):
        raise RuntimeError(f"the pause key did not pause first: {first}")
    handle(star, NOW)
    handle(three, NOW)
    overhead = _clock_overhead_ns()
    per_op: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            spent = 0
            for _ in range(number):
                handle(star, NOW)
                start = clock()
                handle(two, NOW)
                spent += clock() - start
                handle(star, NOW)
                handle(three, NOW)
            per_op.append(spent / number - overhead)
    finally:
        if gc_was_enabled:
            gc.enable()
    idle = _after_idle(
        lambda: handle(two, NOW),
        idle_samples,
        setup=lambda: handle(star, NOW),
        teardown=lambda: handle(star, NOW) + handle(three, NOW),
    )
    return Cost(
        "Call.handle(Dtmf) pause key",
        statistics.median(per_op),
        min(per_op),
        repeats,
        number,
        idle,
        idle_samples,
    )


def measure(quick: bool) -> list[Cost]:
    repeats = 5 if quick else 15
    number = 2000 if quick else 10000
    idle = 5 if quick else 15
    raw: dict[str, Any] = json.loads(DTMF_EVENT_JSON)
    rng = random.SystemRandom()
    call = connected_call(2, AlwaysSampled())
    channel = call.agent_channel_id
    cycle = [m.Dtmf(channel, d, 1000.0) for d in "*2*3"]

    def pause_resume_cycle() -> None:
        for message in cycle:
            call.handle(message, NOW)

    def policy_decide() -> object:
        return decide(
            SERVICE,
            AGENT,
            objected_now=False,
            remembered_objection=False,
            now=NOW,
            timezone=PARIS,
            rng=rng,
            staff_informed=STAFF_INFORMED,
        )

    def decode_dtmf() -> object:
        return parse_event(json.loads(DTMF_EVENT_JSON), 0.0)

    def event_log_line() -> object:
        # What the optional event log hook does on the event loop for every event.
        return json.dumps(redact_event(raw), separators=(",", ":"))

    return [
        pause_key_cost(repeats, number, idle),
        _timeit(
            "pause+resume cycle (*2*3, 4 digits)", pause_resume_cycle, repeats, number // 4, idle
        ),
        _timeit("policy.decide()", policy_decide, repeats, number, idle),
        _timeit(
            "parse_event(ChannelDtmfReceived)", lambda: parse_event(raw, 0.0), repeats, number, idle
        ),
        _timeit("json.loads + parse_event", decode_dtmf, repeats, number, idle),
        _timeit(
            "redact_event(ChannelDtmfReceived)", lambda: redact_event(raw), repeats, number, idle
        ),
        _timeit("event log hook: redact + json.dumps", event_log_line, repeats, number, idle),
    ]
