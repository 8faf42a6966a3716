"""``reccontrol vault``: the site key's rotation and the sealing of a plaintext vault (S10)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli_support import (
    EXIT_ATTENTION,
    EXIT_CONFIG,
    config_option,
    fail,
    load_or_exit,
    open_vault,
)


@click.group()
def vault() -> None:
    """The vault's encryption at rest: rotate the site key, seal a plaintext vault."""


@vault.command()
@config_option
def rotate(config_path: Path) -> None:
    """Re-wrap every recording's data key under a new site key, then make it the site key
    (recordings.encryption.site_key_file). No audio is read or rewritten. Runs beside the
    daemon: listening goes on meanwhile. Killed at any point, everything stays readable
    (the new key waits in <site_key_file>.new) and running it again finishes the job.

    Keep a copy of the new key apart from the backups once it is done: without it no
    recording can be read.

    Exit status: 0 done; 1 failed; 2 config error (no site key file to rotate); 3 done,
    but some data keys were wrapped by neither key (unreadable before, and still)."""
    from controller.recordings.rotation import rotate as rotate_keys
    from controller.recordings.vault_errors import VaultError

    config = load_or_exit(config_path)
    settings = config.recordings.encryption
    if not settings.enabled:
        fail("recordings.encryption.enabled is false: there is no site key to rotate", EXIT_CONFIG)
    if settings.site_key_file is None:
        fail(
            "recordings.encryption.site_key_env: the site key comes from the environment; "
            "rotation replaces a site key file (set recordings.encryption.site_key_file)",
            EXIT_CONFIG,
        )
    sealed = open_vault(config)
    assert sealed.keyring is not None
    try:
        done = rotate_keys(sealed.keyring, settings.site_key_file)
    except (OSError, VaultError) as exc:
        fail(f"rotation stopped, run it again to finish it: {exc}")
    click.echo(
        f"site key rotated (now {done.new_key_id}): {done.rewrapped} data key(s) re-wrapped "
        f"by this run, {done.entries} in the keyring; keep a copy of "
        f"{settings.site_key_file} apart from the backups"
    )
    if done.unknown:
        click.echo(
            f"problem: {done.unknown} data key(s) are wrapped by neither the old nor the "
            "new site key: their recordings could not be read before either",
            err=True,
        )
        sys.exit(EXIT_ATTENTION)


@vault.command()
@config_option
def migrate(config_path: Path) -> None:
    """Seal, in place, the recordings of a vault kept in plaintext (a site from before
    encryption at rest). Each file is sealed beside itself, read back, then renamed over
    the plaintext: killed at any point, every recording is readable, sealed or not; run
    it again to finish. Files already sealed are left alone. Run it with the daemon
    stopped.

    The plaintext's disk blocks are freed, not overwritten: on an SSD or a copy-on-write
    file system no tool can promise they are gone.

    Exit status: 0 done; 1 failed (the daemon runs, say); 2 config error (encryption
    off, or no usable site key); 3 done, but some files could not be sealed (listed)."""
    from controller.config.encryption import VaultKeyUnusable, site_vault
    from controller.instance import AlreadyRunning, InstanceLock, lock_path
    from controller.recordings.rotation import migrate as seal_vault
    from controller.recordings.vault_errors import VaultError

    config = load_or_exit(config_path)
    if not config.recordings.encryption.enabled:
        fail("recordings.encryption.enabled is false: nothing to seal with", EXIT_CONFIG)
    lock = InstanceLock(lock_path(config.lock_anchor))
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        fail(f"{exc}; stop the daemon first: a purge must not remove a file being sealed")
    try:
        try:
            sealing = site_vault(config.recordings, create_key=True)
        except VaultKeyUnusable as exc:
            fail(f"{exc} ({exc.error_id})", EXIT_CONFIG)
        if sealing.generated is not None:
            click.echo(f"generated the site key in {sealing.generated}: keep a copy of it")
        try:
            done = seal_vault(sealing.vault)
        except (OSError, VaultError) as exc:
            fail(f"migration stopped, run it again to finish it: {exc}")
    finally:
        lock.release()
    for problem in done.problems:
        click.echo(f"problem: {problem}", err=True)
    click.echo(f"sealed {done.sealed} recording file(s); {done.already_sealed} already sealed")
    if done.problems:
        sys.exit(EXIT_ATTENTION)
