"""``reccontrol demo``. Part of the source checkout, not of the installed daemon (see
the README)."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli_support import CONTEXT, fail


@click.command(context_settings=CONTEXT)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/lib/reccontrol/demo"),
    show_default=True,
    help="Where the demo writes its config, store, vault and logs (wiped at start).",
)
@click.option("--port", default=8088, show_default=True, help="HTTP port for the sandbox's ARI.")
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the daemon and its console running on the demo's calls (until Ctrl-C), "
    "and the sandbox Asterisk afterwards.",
)
@click.option(
    "--console-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="The console's port with --keep (default: a free one, printed).",
)
def demo(workdir: Path, port: int, keep: bool, console_port: int | None) -> None:
    """Run the demo: start the sandbox Asterisk (root and debootstrap needed), run the
    daemon on an embedded SQLite store, put scripted calls through it and print what
    happened to each. With --keep, then print the console's address and the sign-in of
    a supervisor, a quality analyst and the DPO, and leave it running."""
    from controller.demo.extras import DemoExtraMissing, require_demo_extra

    try:
        require_demo_extra()
    except DemoExtraMissing as exc:
        fail(str(exc))
    from controller.demo.session import run_demo
    from controller.sandbox import SandboxError

    try:
        run_demo(workdir, port, keep, console_port)
    except SandboxError as exc:
        fail(str(exc))
