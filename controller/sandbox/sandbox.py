"""A real Asterisk 22 for the tests and the demo, in a Debian sid chroot on this host.

One or more Asterisk instances run inside the chroot (:mod:`controller.sandbox.chroot`).
Each instance has its own directories, its own HTTP port, its own SIP port and its own
ports for the simulated SIP phones, so several can run side by side.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from controller.sandbox import host, instance_files, network
from controller.sandbox.chroot import INSTANCES, default_root
from controller.sandbox.errors import SandboxError
from controller.sandbox.instance import SandboxInstance
from controller.sandbox.instance_files import STATE_FILE
from controller.sandbox.processes import _STOP_TIMEOUT, AsteriskProcesses
from controller.sandbox.templates import phone_placeholders

ARI_USERNAME = "reccontrol"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def _repository() -> Path:
    return Path(__file__).resolve().parents[2]


class Sandbox(AsteriskProcesses):
    """Builds the chroot and starts, stops and inspects Asterisk instances in it.

    ``config_dir`` holds the Asterisk configuration templates (``config/asterisk``),
    ``dialplan_dir`` the dialplan snippets shipped to admins (``dialplan``); both are
    copied into each instance's etc folder when it starts.
    """

    def __init__(
        self, root: Path, config_dir: Path, dialplan_dir: Path, mirror: str | None = None
    ) -> None:
        if not (config_dir / "asterisk.conf").is_file():
            raise SandboxError(f"{config_dir} holds no asterisk.conf template")
        if not dialplan_dir.is_dir():
            raise SandboxError(f"the dialplan folder {dialplan_dir} does not exist")
        super().__init__(root, mirror)
        self.config_dir = config_dir
        self.dialplan_dir = dialplan_dir

    @classmethod
    def from_environment(cls) -> Sandbox:
        """The sandbox of this checkout: root from ``RECCONTROL_SANDBOX_ROOT``,
        configuration from the repository (or ``RECCONTROL_ASTERISK_CONFIG`` and
        ``RECCONTROL_DIALPLAN_DIR``)."""
        repo = _repository()
        config = os.environ.get("RECCONTROL_ASTERISK_CONFIG") or repo / "config" / "asterisk"
        dialplan = os.environ.get("RECCONTROL_DIALPLAN_DIR") or repo / "dialplan"
        return cls(default_root(), Path(config), Path(dialplan))

    # -- instances ---------------------------------------------------------------------
    def up(
        self, name: str = "default", http_port: int = 8088, sip_port: int | None = None
    ) -> SandboxInstance:
        """Starts instance ``name`` with ARI on ``http_port`` and SIP on ``sip_port`` (UDP,
        a free one when None), and waits until Asterisk is fully booted and ARI answers.
        Returns the running instance if it already runs.

        Every ``@PHONE_<NAME>_PORT@`` placeholder of the templates gets a free UDP port of
        its own: where the instance's simulated SIP phone ``<name>`` must listen
        (:attr:`SandboxInstance.phone_ports`)."""
        host.require_root()
        _check_name(name)
        for label, port in (("HTTP", http_port), ("SIP", sip_port)):
            if port is not None and not 0 < port < 65536:
                raise SandboxError(f"{label} port {port} is not a valid port")
        with self._locked():
            self._ensure_built()
            running = self._running(name)
            if running is not None:
                if running.http_port != http_port:
                    raise SandboxError(
                        f"sandbox instance {name} already runs with ARI on port "
                        f"{running.http_port}, not {http_port}"
                    )
                if sip_port is not None and running.sip_port != sip_port:
                    raise SandboxError(
                        f"sandbox instance {name} already runs with SIP on port "
                        f"{running.sip_port}, not {sip_port}"
                    )
                return running
            network.check_port_free(http_port)
            taken = self._ports_of_other_instances(name) | {http_port}
            if sip_port is None:
                sip_port = network.free_udp_port(taken)
            else:
                network.check_udp_port_free(sip_port)
            taken.add(sip_port)
            phones: dict[str, int] = {}
            for phone in phone_placeholders(self.config_dir):
                phones[phone] = network.free_udp_port(taken)
                taken.add(phones[phone])
            state: dict[str, Any] = {
                "name": name,
                "http_port": http_port,
                "sip_port": sip_port,
                "phone_ports": phones,
                "ari_username": ARI_USERNAME,
                "ari_password": secrets.token_urlsafe(24),
                "ami_port": network.free_tcp_port(taken),
                "ami_username": ARI_USERNAME,
                "ami_password": secrets.token_urlsafe(24),
                "pid": None,
            }
            return self._start(name, state)

    def _start(self, name: str, state: dict[str, Any]) -> SandboxInstance:
        process: subprocess.Popen[bytes] | None = None
        try:
            self._mount()
            self._write_config(name, state)
            process = self._spawn(name)
            state["pid"] = process.pid
            state["started"] = host.utc_now()
            self._save_state(name, state)
            self._wait_booted(name, process)
            instance = self._instance(name, state)
            network.wait_ari(instance)
        except BaseException:
            # Leave nothing behind from a failed start: no process, no stray mount.
            if process is not None:
                self._stop(name, process.pid)
            self._unmount_if_idle()
            raise
        return instance

    def crash(self, name: str) -> int:
        """Kills instance ``name``'s Asterisk with SIGKILL, as a crash or the OOM killer
        would: no hang-up, no closing of its files. Returns the pid it had. Its folder
        (recordings half written included) stays, for :meth:`start_again`."""
        host.require_root()
        _check_name(name)
        with self._locked():
            running = self._running(name)
            if running is None:
                raise SandboxError(f"sandbox instance {name} is not running")
            os.kill(running.pid, signal.SIGKILL)
            if not self._wait_gone(running.pid, _STOP_TIMEOUT):
                raise SandboxError(
                    f"Asterisk pid {running.pid} of sandbox instance {name} survived SIGKILL"
                )
            return running.pid

    def start_again(self, name: str) -> SandboxInstance:
        """Starts a stopped instance again with the ports and ARI credentials it had, as a
        supervisor restarting Asterisk would: its clients reconnect with what they know.
        Returns the running instance if it already runs."""
        host.require_root()
        _check_name(name)
        with self._locked():
            running = self._running(name)
            if running is not None:
                return running
            state = self._load_state(name)
            if state is None:
                raise SandboxError(f"sandbox instance {name} was never started")
            network.check_port_free(int(state["http_port"]))
            if state.get("sip_port"):
                network.check_udp_port_free(int(state["sip_port"]))
            state["pid"] = None
            return self._start(name, state)

    def _ports_of_other_instances(self, name: str) -> set[int]:
        """Ports the other running instances hold, or will hold when a test starts
        their phones: a new instance must not pick them."""
        ports: set[int] = set()
        for other in self.instances():
            if other == name:
                continue
            running = self._running(other)
            if running is not None:
                ports |= {running.http_port, running.sip_port, *running.phone_ports.values()}
                ports.add(running.ami_port)
        return ports

    def down(self, name: str = "default") -> None:
        """Stops the Asterisk this instance started, by its pid, and nothing else.
        Unmounts the chroot's proc once no instance is left running."""
        host.require_root()
        _check_name(name)
        with self._locked():
            state = self._load_state(name)
            if state is not None and state.get("pid"):
                self._stop(name, int(state["pid"]))
                state["pid"] = None
                self._save_state(name, state)
            self._unmount_if_idle()

    def status(self, name: str = "default") -> SandboxInstance | None:
        """The running instance ``name``, or None when it is not running."""
        host.require_root()
        _check_name(name)
        return self._running(name)

    def reset(self, name: str = "default") -> None:
        """Stops instance ``name`` and wipes its state: recordings, logs, database."""
        self.down(name)
        with self._locked():
            folder = self._host_dir(name)
            if folder.exists():
                if host.mounts_under(folder):
                    raise SandboxError(f"{folder} has something mounted in it, so it is not wiped")
                shutil.rmtree(folder)

    def instances(self) -> list[str]:
        """Names of the instances that have a folder in the chroot, running or not."""
        base = self.root / INSTANCES.relative_to("/")
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / STATE_FILE).is_file())

    def running_instances(self) -> list[str]:
        host.require_root()
        return [n for n in self.instances() if self._running(n) is not None]

    def cli(self, name: str, command: str) -> str:
        """Runs one Asterisk CLI command through the instance's control socket."""
        host.require_root()
        _check_name(name)
        done = self._rx(name, command, timeout=30.0)
        if done.returncode != 0 or "Unable to connect to remote asterisk" in done.stdout:
            raise SandboxError(f"sandbox instance {name} is not running (asterisk -rx failed)")
        return done.stdout

    def reload_dialplan(self, name: str) -> None:
        """Copies the current templates and dialplan snippets in and reloads the dialplan."""
        host.require_root()
        _check_name(name)
        with self._locked():
            state = self._load_state(name)
            if state is None or self._running(name) is None:
                raise SandboxError(f"sandbox instance {name} is not running")
            self._write_config(name, state)
            output = self.cli(name, "dialplan reload")
            if "Dialplan reloaded" not in output:
                raise SandboxError(f"dialplan reload of {name} failed: {output.strip()}")

    # -- instance internals ------------------------------------------------------------
    def _instance(self, name: str, state: dict[str, Any]) -> SandboxInstance:
        return instance_files.instance_from_state(self.root, self._host_dir(name), name, state)

    def _load_state(self, name: str) -> dict[str, Any] | None:
        return instance_files.load_state(self._host_dir(name))

    def _save_state(self, name: str, state: dict[str, Any]) -> None:
        instance_files.save_state(self._host_dir(name), state)

    def _running(self, name: str) -> SandboxInstance | None:
        state = self._load_state(name)
        if state is None or not state.get("pid"):
            return None
        if not self._is_our_asterisk(name, int(state["pid"])):
            return None
        return self._instance(name, state)

    def _write_config(self, name: str, state: dict[str, Any]) -> None:
        instance_files.write_config(
            self.root, self._host_dir(name), name, state, self.config_dir, self.dialplan_dir
        )

    def _unmount_if_idle(self) -> None:
        if any(self._running(n) is not None for n in self.instances()):
            return
        if host.processes_rooted_at(self.root):
            return  # someone else works in the chroot; pulling proc would break them
        self._unmount_proc()


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise SandboxError(
            f"sandbox instance name {name!r} must be letters, digits, '-' or '_' "
            "(at most 63, starting with a letter or digit)"
        )
