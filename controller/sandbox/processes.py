"""The Asterisk processes of the sandbox's instances: started inside the chroot, asked
CLI commands through their control socket, waited for until fully booted, stopped by pid
once proven to be theirs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from controller.sandbox import host
from controller.sandbox.chroot import _CHROOT_ENV, ASTERISK, INSTANCES, Chroot
from controller.sandbox.errors import SandboxError

_BOOT_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


class AsteriskProcesses(Chroot):
    """Runs and stops the Asterisk of each named instance; the instance's folder and
    configuration file are under :data:`~controller.sandbox.chroot.INSTANCES`."""

    def __init__(self, root: Path, mirror: str | None = None) -> None:
        super().__init__(root, mirror)
        # Asterisk processes this object started: reaped on down so none lingers as a zombie.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _host_dir(self, name: str) -> Path:
        return self.root / INSTANCES.relative_to("/") / name

    def _conf(self, name: str) -> str:
        return str(INSTANCES / name / "etc" / "asterisk.conf")

    def _is_our_asterisk(self, name: str, pid: int) -> bool:
        # Guards against a recycled pid: same chroot, same per-instance config file.
        return (
            host.is_alive(pid)
            and host.process_root(pid) == self.root.resolve()
            and self._conf(name) in host.process_args(pid)
        )

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        chroot = host.find_tool("chroot", "coreutils")
        console = self._host_dir(name) / "log" / "console.log"
        # -f: stay in the foreground, so the pid we keep is Asterisk itself (chroot execs it).
        # -U/-G asterisk: run as root, Asterisk drops CAP_DAC_OVERRIDE and then cannot
        # create its own database.
        command = [chroot, str(self.root), ASTERISK, "-C", self._conf(name), "-f", "-n"]
        command += ["-U", "asterisk", "-G", "asterisk"]
        with open(console, "ab") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_CHROOT_ENV,
                cwd="/",
                # Recordings are created with this mask: never world-readable.
                umask=0o027,
                # Its own session, so a Ctrl-C meant for the caller does not reach it.
                start_new_session=True,
            )
        self._children[process.pid] = process
        return process

    def _rx(self, name: str, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        chroot = host.find_tool("chroot", "coreutils")
        try:
            return subprocess.run(
                [chroot, str(self.root), ASTERISK, "-C", self._conf(name), "-rx", command],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=_CHROOT_ENV,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(
                f"sandbox instance {name} did not answer {command!r} within {timeout:.0f} s"
            ) from exc

    def _wait_booted(self, name: str, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + _BOOT_TIMEOUT
        while True:
            if process.poll() is not None:
                raise SandboxError(
                    f"Asterisk of sandbox instance {name} exited with status "
                    f"{process.returncode} while starting: {self._last_error(name)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError(
                    f"Asterisk of sandbox instance {name} did not boot within "
                    f"{_BOOT_TIMEOUT:.0f} s: see {self._host_dir(name) / 'log'}"
                )
            # Fails fast until the control socket exists, then blocks until booted.
            done = self._rx(name, "core waitfullybooted", timeout=max(remaining, 1.0))
            if done.returncode == 0 and "fully booted" in done.stdout:
                return
            time.sleep(0.05)

    def _last_error(self, name: str) -> str:
        log = self._host_dir(name) / "log" / "console.log"
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return f"no console log at {log}"
        errors = [line.strip() for line in lines if "ERROR" in line]
        last = errors[-1] if errors else (lines[-1].strip() if lines else "no output")
        return f"{last} (see {log})"

    def _stop(self, name: str, pid: int) -> None:
        if not self._is_our_asterisk(name, pid):
            self._reap(pid)
            return
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, _STOP_TIMEOUT):
            os.kill(pid, signal.SIGKILL)
            if not self._wait_gone(pid, _STOP_TIMEOUT):
                raise SandboxError(f"Asterisk pid {pid} of sandbox instance {name} did not stop")

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not host.is_alive(pid):
                self._reap(pid)
                return True
            time.sleep(0.02)
        return False

    def _reap(self, pid: int) -> None:
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:
            del self._children[pid]
