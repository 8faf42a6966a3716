"""Benchmarks: protective-key reaction time on a real Asterisk, hot-path costs, memory,
the web console on a large store.

Speed and memory goals are checked here, not in timed tests. Every figure is a median
(with p95 and max) or a ratio of two figures measured in the same run, so that runs on
different machines can be compared. ``python -m bench`` prints a table and writes
``bench/results/latest.json``; ``--quick`` is a short run.
"""
