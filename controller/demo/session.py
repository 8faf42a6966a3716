"""``reccontrol demo`` from start to end: the sandbox Asterisk up, the scripted calls
(:mod:`controller.demo.run`), what is printed about them, and with ``--keep`` the daemon
left running for a newcomer to open its console (:mod:`controller.demo.console`)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from controller.commands.sampling import sampling_report
from controller.config import load_config
from controller.demo.console import console_lines, make_sign_ins, until_stopped
from controller.demo.run import report, run_scenarios
from controller.demo.site import RunningDaemon
from controller.logs import setup_logging
from controller.sandbox import Sandbox


def inspection_pack(workdir: Path, start: dt.datetime, echo: Callable[[str], None]) -> None:
    """D3: the inspection pack of the demo's period, then the check of its manifest."""
    from controller.inspection import Period, make_pack, verify_pack
    from controller.store import SqliteStore

    config = load_config(workdir / "reccontrol.yaml")
    now = dt.datetime.now(dt.UTC)
    out = workdir / "inspection-pack"
    store = SqliteStore.open(config.store.path, audit_key=config.audit.checkpoint_key)
    try:
        summary = make_pack(config, store, Period(start, now), out, now, "fr")
    finally:
        store.close()
    verdict = verify_pack(out, config.audit.checkpoint_key)
    echo(
        f"Inspection pack (reccontrol inspection-pack): {out}: {len(summary.files)} files, "
        f"{summary.entries} access-log entries, {summary.receipts} deletion receipts, "
        f"{summary.alerts} alerts, {summary.configs} configuration(s) in force; access log "
        f"{'intact' if summary.log_ok else 'BROKEN'}; manifest "
        + (
            "verified, signed with the audit key"
            if verdict.ok and verdict.signed
            else "NOT verified: " + "; ".join(verdict.problems)
        )
    )


def run_demo(workdir: Path, port: int, keep: bool, console_port: int | None = None) -> None:
    echo = click.echo
    box = Sandbox.from_environment()
    echo("reccontrol demo: building or reusing the Asterisk sandbox ...")
    box.ensure_built()
    instance = box.up("demo", http_port=port)
    echo(f"reccontrol demo: Asterisk up, ARI at {instance.ari_url}; site files in {workdir}")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, mode=0o700)
    log_file = (workdir / "reccontrol.log").open("a", encoding="utf-8")
    setup_logging("INFO", stream=log_file)
    logging.getLogger("reccontrol").info("demo starting")
    started = dt.datetime.now(dt.UTC)
    sign_ins = make_sign_ins()

    def summary(results: list[dict[str, Any]]) -> None:
        report(results, echo)
        echo("")
        echo("Sampling audit (reccontrol sampling-audit):")
        for line in sampling_report(load_config(workdir / "reccontrol.yaml")):
            echo(line)
        echo("")
        inspection_pack(workdir, started, echo)
        echo(f"Recordings (vault, mode 0600): {workdir / 'vault'}")
        echo(f"Store: {workdir / 'reccontrol.sqlite3'}   Daemon log: {workdir / 'reccontrol.log'}")
        echo(f"ARI event log (digits and numbers redacted): {workdir / 'ari-events.jsonl'}")

    async def keep_console(daemon: RunningDaemon, results: list[dict[str, Any]]) -> None:
        # The summary reads the store beside the running daemon: off its event loop.
        await asyncio.to_thread(summary, results)
        web = daemon.config.web
        echo("")
        for line in console_lines(f"http://{web.host}:{web.port}", sign_ins):
            echo(line)
        await until_stopped()

    try:
        if keep:
            # Ctrl-C ends the wait; the daemon then stops as at the end of any demo.
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(
                    run_scenarios(
                        instance,
                        workdir,
                        echo,
                        sign_ins=sign_ins,
                        console_port=console_port,
                        while_running=keep_console,
                    )
                )
        else:
            summary(asyncio.run(run_scenarios(instance, workdir, echo, sign_ins=sign_ins)))
    finally:
        log_file.close()
        if keep:
            echo(f"The sandbox stays up ('reccontrol sandbox down --name {instance.name}').")
        else:
            box.down(instance.name)
