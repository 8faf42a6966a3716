"""A real Asterisk 22 for the tests and the demo, in a Debian sid chroot on this host.

Debian stable ships no Asterisk, and installing sid packages on the host would replace
its libc, so the sandbox bootstraps a minimal sid root once and runs one or more
Asterisk instances inside it. Each instance has its own directories, its own HTTP port,
its own SIP port and its own ports for the simulated SIP phones, so several can run
side by side.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from controller.sandbox import host
from controller.sandbox.errors import SandboxError
from controller.sandbox.instance import SandboxInstance
from controller.sandbox.templates import phone_placeholder, phone_placeholders, rendered_files

DEFAULT_ROOT = Path("/var/cache/reccontrol/asterisk-sid")
SUITE = "sid"
PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en-gsm",
    "asterisk-core-sounds-fr-gsm",
    # Debian's asterisk ships no music on hold; ARI /moh plays nothing without it.
    "asterisk-moh-opsound-gsm",
)
ARI_USERNAME = "reccontrol"
# Where instances live, as Asterisk sees it inside the chroot.
INSTANCES = PurePosixPath("/srv/reccontrol")
ASTERISK = "/usr/sbin/asterisk"

_MARKER = ".reccontrol-sandbox.json"  # written last: its absence means a partial build
_PARTIAL = ".reccontrol-partial"  # written first: proves a directory is ours to wipe
_STATE = "instance.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
# Asterisk writes these; everything else in an instance folder is root's.
_ASTERISK_DIRS = ("lib", "db", "spool", "spool/recording", "run", "log", "cache", "sounds")
_CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/"}
# UDP ports for the instances' SIP transports and simulated phones: above Asterisk's RTP
# range (rtp.conf) and below the kernel's ephemeral range (32768 and up), whose ports any
# program's socket may get. Test phones take their media ports from 26000 up.
SIP_PORTS = range(20000, 26000)
_BOOT_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


def default_root() -> Path:
    """``RECCONTROL_SANDBOX_ROOT`` if set, else the shared cache location."""
    configured = os.environ.get("RECCONTROL_SANDBOX_ROOT", "").strip()
    return Path(configured) if configured else DEFAULT_ROOT


def _repository() -> Path:
    return Path(__file__).resolve().parents[2]


class Sandbox:
    """Builds the chroot and starts, stops and inspects Asterisk instances in it.

    ``config_dir`` holds the Asterisk configuration templates (``config/asterisk``),
    ``dialplan_dir`` the dialplan snippets shipped to admins (``dialplan``); both are
    copied into each instance's etc folder when it starts.
    """

    packages: ClassVar[tuple[str, ...]] = PACKAGES

    def __init__(
        self, root: Path, config_dir: Path, dialplan_dir: Path, mirror: str | None = None
    ) -> None:
        if not (config_dir / "asterisk.conf").is_file():
            raise SandboxError(f"{config_dir} holds no asterisk.conf template")
        if not dialplan_dir.is_dir():
            raise SandboxError(f"the dialplan folder {dialplan_dir} does not exist")
        self.root = root.absolute()
        self.config_dir = config_dir
        self.dialplan_dir = dialplan_dir
        self._mirror = mirror
        self._lock_depth = 0
        self._lock_file: Any = None
        # Asterisk processes this object started: reaped on down so none lingers as a zombie.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @classmethod
    def from_environment(cls) -> Sandbox:
        """The sandbox of this checkout: root from ``RECCONTROL_SANDBOX_ROOT``,
        configuration from the repository (or ``RECCONTROL_ASTERISK_CONFIG`` and
        ``RECCONTROL_DIALPLAN_DIR``)."""
        repo = _repository()
        config = os.environ.get("RECCONTROL_ASTERISK_CONFIG") or repo / "config" / "asterisk"
        dialplan = os.environ.get("RECCONTROL_DIALPLAN_DIR") or repo / "dialplan"
        return cls(default_root(), Path(config), Path(dialplan))

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
        marker = {"suite": SUITE, "packages": list(PACKAGES), "built": _now()}
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
            _check_port_free(http_port)
            taken = self._ports_of_other_instances(name) | {http_port}
            if sip_port is None:
                sip_port = _free_udp_port(taken)
            else:
                _check_udp_port_free(sip_port)
            taken.add(sip_port)
            phones: dict[str, int] = {}
            for phone in phone_placeholders(self.config_dir):
                phones[phone] = _free_udp_port(taken)
                taken.add(phones[phone])
            state: dict[str, Any] = {
                "name": name,
                "http_port": http_port,
                "sip_port": sip_port,
                "phone_ports": phones,
                "ari_username": ARI_USERNAME,
                "ari_password": secrets.token_urlsafe(24),
                "ami_port": _free_tcp_port(taken | {sip_port, *phones.values()}),
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
            state["started"] = _now()
            self._save_state(name, state)
            self._wait_booted(name, process)
            instance = self._instance(name, state)
            _wait_ari(instance)
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
            _check_port_free(int(state["http_port"]))
            if state.get("sip_port"):
                _check_udp_port_free(int(state["sip_port"]))
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
        return sorted(p.name for p in base.iterdir() if (p / _STATE).is_file())

    def running_instances(self) -> list[str]:
        host.require_root()
        return [n for n in self.instances() if self._running(n) is not None]

    def mounts(self) -> list[Path]:
        """What is mounted inside the chroot right now."""
        return host.mounts_under(self.root) if self.root.exists() else []

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
    def _host_dir(self, name: str) -> Path:
        return self.root / INSTANCES.relative_to("/") / name

    def _conf(self, name: str) -> str:
        return str(INSTANCES / name / "etc" / "asterisk.conf")

    def _instance(self, name: str, state: dict[str, Any]) -> SandboxInstance:
        folder = self._host_dir(name)
        port = int(state["http_port"])
        return SandboxInstance(
            name=name,
            root=self.root,
            http_port=port,
            # Instances started before SIP was configured have neither.
            sip_port=int(state.get("sip_port") or 0),
            phone_ports={str(k): int(v) for k, v in (state.get("phone_ports") or {}).items()},
            ari_url=f"http://127.0.0.1:{port}",
            ari_username=str(state["ari_username"]),
            ari_password=str(state["ari_password"]),
            # Instances started before AMI was configured have none (port 0).
            ami_port=int(state.get("ami_port") or 0),
            ami_username=str(state.get("ami_username") or ""),
            ami_password=str(state.get("ami_password") or ""),
            recording_dir=folder / "spool" / "recording",
            sounds_dir=folder / "sounds",
            instance_dir=folder,
            log_dir=folder / "log",
            pid=int(state["pid"]),
        )

    def _load_state(self, name: str) -> dict[str, Any] | None:
        path = self._host_dir(name) / _STATE
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise SandboxError(f"{path} is not valid JSON: reset the instance") from exc
        return loaded if isinstance(loaded, dict) else None

    def _save_state(self, name: str, state: dict[str, Any]) -> None:
        path = self._host_dir(name) / _STATE
        temporary = path.with_suffix(".tmp")
        # Holds the ARI password: readable by root only.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out)
        os.replace(temporary, path)

    def _is_our_asterisk(self, name: str, pid: int) -> bool:
        # Guards against a recycled pid: same chroot, same per-instance config file.
        return (
            host.is_alive(pid)
            and host.process_root(pid) == self.root.resolve()
            and self._conf(name) in host.process_args(pid)
        )

    def _running(self, name: str) -> SandboxInstance | None:
        state = self._load_state(name)
        if state is None or not state.get("pid"):
            return None
        if not self._is_our_asterisk(name, int(state["pid"])):
            return None
        return self._instance(name, state)

    def _write_config(self, name: str, state: dict[str, Any]) -> None:
        uid, gid = host.chroot_ids(self.root, "asterisk")
        folder = self._host_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        _own(folder, 0, gid, 0o750)
        for sub in _ASTERISK_DIRS:
            path = folder / sub
            path.mkdir(parents=True, exist_ok=True)
            # Recordings must not be world-readable (S4), and Asterisk answers 500 to a
            # record request when the folder is missing: create it, owned by asterisk.
            _own(path, uid, gid, 0o750)
        etc = folder / "etc"
        etc.mkdir(exist_ok=True)
        _own(etc, 0, gid, 0o750)
        for old in etc.iterdir():
            if old.is_file():
                old.unlink()
        values = {
            "INSTANCE": name,
            "INSTANCE_DIR": str(INSTANCES / name),
            "SOUNDS_DIR": str(INSTANCES / name / "sounds"),
            "HTTP_PORT": str(state["http_port"]),
            "SIP_PORT": str(state["sip_port"]),
            "ARI_USERNAME": str(state["ari_username"]),
            "ARI_PASSWORD": str(state["ari_password"]),
            "AMI_ENABLED": "yes" if state.get("ami_port") else "no",
            "AMI_PORT": str(state.get("ami_port") or 5038),
            "AMI_USERNAME": str(state.get("ami_username") or ARI_USERNAME),
            "AMI_PASSWORD": str(state.get("ami_password") or secrets.token_urlsafe(24)),
        }
        for phone, port in state["phone_ports"].items():
            values[phone_placeholder(phone)] = str(port)
        try:
            files = rendered_files(self.config_dir, self.dialplan_dir, values)
        except ValueError as exc:
            raise SandboxError(str(exc)) from None
        for file_name, text in files.items():
            _write_private(etc / file_name, text, gid)

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

    def _unmount_if_idle(self) -> None:
        if any(self._running(n) is not None for n in self.instances()):
            return
        if host.processes_rooted_at(self.root):
            return  # someone else works in the chroot; pulling proc would break them
        proc = self.root / "proc"
        if host.is_mounted(proc):
            _umount(proc)

    def _unmount_all(self) -> None:
        for point in host.mounts_under(self.root):
            _umount(point)

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


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise SandboxError(
            f"sandbox instance name {name!r} must be letters, digits, '-' or '_' "
            "(at most 63, starting with a letter or digit)"
        )


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Asterisk does: connections of a stopped instance linger in TIME_WAIT on
        # the port, and they must not make it look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"port {port} on 127.0.0.1 is already in use") from None


def _free_tcp_port(taken: set[int]) -> int:
    """A TCP port on 127.0.0.1 nobody has bound, outside ``taken`` (AMI's)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port
    raise SandboxError("no free TCP port for AMI on 127.0.0.1")


def _check_udp_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"UDP port {port} on 127.0.0.1 is already in use") from None


def _free_udp_port(taken: set[int]) -> int:
    """A UDP port nobody has bound, outside ``taken``, from :data:`SIP_PORTS`: the kernel
    never hands those out to other programs' sockets by itself, so a port chosen now is
    still free when a test's phone binds it."""
    for _ in range(200):
        port = SIP_PORTS.start + secrets.randbelow(len(SIP_PORTS))
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise SandboxError(
        f"no free UDP port found on 127.0.0.1 in {SIP_PORTS.start}-{SIP_PORTS.stop - 1}"
    )


def _wait_ari(instance: SandboxInstance, timeout: float = 10.0) -> None:
    """Asterisk boots even when its HTTP port cannot be bound: prove ARI answers."""
    token = base64.b64encode(f"{instance.ari_username}:{instance.ari_password}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - a fixed http URL on 127.0.0.1
        f"{instance.ari_url}/ari/asterisk/info",
        headers={"Authorization": f"Basic {token}"},
    )
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2.0) as response:  # noqa: S310
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.05)
    raise SandboxError(
        f"ARI of sandbox instance {instance.name} does not answer on port "
        f"{instance.http_port} ({last})"
    )


def _own(path: Path, uid: int, gid: int, mode: int) -> None:
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def _write_private(path: Path, text: str, gid: int) -> None:
    # Config files hold the ARI password: root writes them, the asterisk group reads.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chown(path, 0, gid)
    os.chmod(path, 0o640)


def _umount(point: Path) -> None:
    done = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # A busy mount: detach it now, the kernel frees it when the last user goes.
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
