"""The Debian sid root the sandbox's Asterisk instances run in.

Debian stable ships no Asterisk, and installing sid packages on the host would replace
its libc, so the sandbox bootstraps a minimal sid root once. This module builds it (and
wipes a half-built one), mounts its proc while instances run, and holds the lock that
serialises builds, starts and stops across processes sharing the root.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from controller.sandbox import host
from controller.sandbox.errors import SandboxError

DEFAULT_ROOT = Path("/var/cache/reccontrol/asterisk-sid")
SUITE = "sid"
PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en-gsm",
    "asterisk-core-sounds-fr-gsm",
    # Debian's asterisk ships no music on hold; ARI /moh plays nothing without it.
    "asterisk-moh-opsound-gsm",
)
# Where instances live, as Asterisk sees it inside the chroot.
INSTANCES = PurePosixPath("/srv/reccontrol")
ASTERISK = "/usr/sbin/asterisk"

_MARKER = ".reccontrol-sandbox.json"  # written last: its absence means a partial build
_PARTIAL = ".reccontrol-partial"  # written first: proves a directory is ours to wipe
# The environment of every command run inside the chroot: nothing of the caller's.
_CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/"}


def default_root() -> Path:
    """``RECCONTROL_SANDBOX_ROOT`` if set, else the shared cache location."""
    configured = os.environ.get("RECCONTROL_SANDBOX_ROOT", "").strip()
    return Path(configured) if configured else DEFAULT_ROOT


class Chroot:
    """The sandbox root: built on demand, locked while changed, with proc mounted only
    while an instance needs it."""

    packages: ClassVar[tuple[str, ...]] = PACKAGES

    def __init__(self, root: Path, mirror: str | None = None) -> None:
        self.root = root.absolute()
        self._mirror = mirror
        self._lock_depth = 0
        self._lock_file: Any = None

    # -- building the chroot -----------------------------------------------------------
    def ensure_built(self) -> None:
        """Bootstraps the chroot unless a complete one is already there.

        A root left half-built by an interrupted run has no completion marker; it is
        wiped and built again.
        """
        host.require_root()
        with self._locked():
            self._ensure_built()

    def is_built(self) -> bool:
        marker = self.root / _MARKER
        if not marker.is_file() or not (self.root / ASTERISK.lstrip("/")).is_file():
            return False
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return bool(recorded.get("suite") == SUITE and recorded.get("packages") == list(PACKAGES))

    def _ensure_built(self) -> None:
        if self.is_built():
            return
        debootstrap = host.find_tool("debootstrap", "debootstrap")
        chroot = host.find_tool("chroot", "coreutils")
        mirror = self._mirror or host.debian_mirror()
        if self.root.exists():
            self._wipe_root()
        self.root.mkdir(parents=True, mode=0o755)
        (self.root / _PARTIAL).write_text("debootstrap in progress\n", encoding="utf-8")
        log = self.root.parent / f"{self.root.name}.debootstrap.log"
        command = [
            debootstrap,
            "--variant=minbase",
            "--include=" + ",".join(PACKAGES),
            SUITE,
            str(self.root),
            mirror,
        ]
        with open(log, "wb") as out:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        # debootstrap mounts proc and sys in the target; a failed run may leave them.
        self._unmount_all()
        if done.returncode != 0:
            raise SandboxError(
                f"debootstrap of Debian {SUITE} failed (exit {done.returncode}): see {log}"
            )
        # The package cache is only needed to install; it is most of the size otherwise.
        subprocess.run(
            [chroot, str(self.root), "apt-get", "clean"],
            env=_CHROOT_ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        (self.root / INSTANCES.relative_to("/")).mkdir(parents=True, exist_ok=True)
        marker = {"suite": SUITE, "packages": list(PACKAGES), "built": host.utc_now()}
        (self.root / _MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        (self.root / _PARTIAL).unlink()

    def _wipe_root(self) -> None:
        root = self.root.resolve()
        ours = (root / _PARTIAL).exists() or (root / _MARKER).exists()
        if len(root.parts) < 3 or not (ours or not any(root.iterdir())):
            # Never delete a folder the sandbox did not create: the path may be a typo.
            raise SandboxError(
                f"{root} exists but is not a sandbox root: remove it or set "
                "RECCONTROL_SANDBOX_ROOT to another folder"
            )
        busy = host.processes_rooted_at(root)
        if busy:
            raise SandboxError(
                f"processes {busy} still run inside {root}: stop its instances before a rebuild"
            )
        self._unmount_all()
        if host.mounts_under(root):
            raise SandboxError(f"cannot unmount everything under {root}, so it is not wiped")
        shutil.rmtree(root)

    # -- mounts ------------------------------------------------------------------------
    def _mount(self) -> None:
        # Only proc: debootstrap leaves static device nodes in /dev, which is all
        # Asterisk needs, and not bind-mounting the host's /dev keeps a wipe safe.
        proc = self.root / "proc"
        if not host.is_mounted(proc):
            subprocess.run(
                ["mount", "-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(proc)],
                check=True,
                capture_output=True,
            )

    def _unmount_proc(self) -> None:
        proc = self.root / "proc"
        if host.is_mounted(proc):
            _umount(proc)

    def _unmount_all(self) -> None:
        for point in host.mounts_under(self.root):
            _umount(point)

    def mounts(self) -> list[Path]:
        """What is mounted inside the chroot right now."""
        return host.mounts_under(self.root) if self.root.exists() else []

    # -- locking -----------------------------------------------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """While held, no other process builds the chroot or starts or stops an instance
        in it: what is read meanwhile (running instances, mounts) is one state, not a mix
        of before and after another process's start."""
        with self._locked():
            yield

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialises builds, starts and stops across processes sharing this root."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.root.parent / f".{self.root.name}.lock"
        with open(lock_path, "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(lock, fcntl.LOCK_UN)


def _umount(point: Path) -> None:
    done = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # A busy mount: detach it now, the kernel frees it when the last user goes.
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)
