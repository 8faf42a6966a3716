"""Rootful podman for the container tests: a Debian base image imported from a
debootstrap root file system (no registry needed), the two images built from
``docker/``, and podman-compose on ``docker/compose.yaml``.

Everything slow is cached: the base image and the image layers live in podman's
storage, so a second run rebuilds only the layers whose files changed. Builds run under
a lock, so test runs in parallel share them instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.sandbox import host

REPOSITORY = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("RECCONTROL_CONTAINER_CACHE", "/var/cache/reccontrol/containers"))
BASE_IMAGE = "localhost/reccontrol-base:sid"
CONTROLLER_IMAGE = "localhost/reccontrol:test"
ASTERISK_IMAGE = "localhost/reccontrol-asterisk:test"
# Same gid in both images (see docker/controller.Dockerfile).
ASTERISK_GID = 990
RECCONTROL_UID = 991
# crun cannot set rlimits on these machines, and cgroups are in hybrid mode: runc, and no
# default ulimits. A file of our own (CONTAINERS_CONF), so the host's config is untouched.
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n'


class PodmanError(Exception):
    pass


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    conf = CACHE / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    env.update(extra or {})
    return env


def podman(
    *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    tool = host.find_tool("podman", "podman")
    done = subprocess.run(
        [tool, *args],
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def image_exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


def ensure_base_image() -> None:
    """The Debian sid base image, from debootstrap (about 30 s once, then cached)."""
    with _locked("base"):
        if image_exists(BASE_IMAGE):
            return
        debootstrap = host.find_tool("debootstrap", "debootstrap")
        root = CACHE / "rootfs"
        if root.exists():
            shutil.rmtree(root)
        with open(CACHE / "debootstrap.log", "wb") as log:
            subprocess.run(
                [debootstrap, "--variant=minbase", "sid", str(root), host.debian_mirror()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
        # Downloaded packages are only needed to install; an image would carry them.
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        # The mirror may serve a dated snapshot whose Release file has expired; the
        # images' apt-get update must still work from it.
        (root / "etc/apt/apt.conf.d/99-snapshot-mirror").write_text(
            'Acquire::Check-Valid-Until "false";\n'
        )
        # pip inside the builds trusts what this host trusts (a proxy's own CA, say).
        host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if host_bundle.is_file():
            (root / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(host_bundle, root / "etc/ssl/certs/host-ca-bundle.crt")
            (root / "etc/pip.conf").write_text(
                "[global]\ncert = /etc/ssl/certs/host-ca-bundle.crt\n"
            )
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            subprocess.run(
                [host.find_tool("podman", "podman"), "import", "-", BASE_IMAGE],
                stdin=tar.stdout,
                env=environment(),
                capture_output=True,
                check=True,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
        shutil.rmtree(root)


@dataclass(frozen=True)
class Built:
    """The images one test run uses, by id: another run may retag meanwhile."""

    controller: str
    asterisk: str
    seconds: dict[str, float]


def image_id(image: str) -> str | None:
    done = podman("image", "inspect", "--format", "{{.Id}}", image, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return done.stdout.strip()


def build_images() -> Built:
    """Both images, as the README builds them, from the local base image. Unchanged
    layers come from the cache; the image a tag pointed to before is removed when the
    tag moves (unless a container still uses it), so storage does not grow per commit."""
    ensure_base_image()
    seconds: dict[str, float] = {}
    ids: list[str] = []
    with _locked("build"):
        for dockerfile, tag in (
            ("docker/controller.Dockerfile", CONTROLLER_IMAGE),
            ("docker/asterisk.Dockerfile", ASTERISK_IMAGE),
        ):
            before = image_id(tag)
            start = time.monotonic()
            podman(
                "build",
                "--network",
                "host",
                "--build-arg",
                f"BASE={BASE_IMAGE}",
                "--build-arg",
                f"ASTERISK_GID={ASTERISK_GID}",
                "-f",
                dockerfile,
                "-t",
                tag,
                str(REPOSITORY),
                timeout=1200,
            )
            seconds[tag] = time.monotonic() - start
            after = image_id(tag)
            if after is None:
                raise PodmanError(f"{tag} is missing right after its build")
            if before is not None and before != after:
                podman("rmi", before, check=False)
            ids.append(after)
    return Built(ids[0], ids[1], seconds)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """One podman-compose project on docker/compose.yaml: its containers and volumes
    carry the project name, so it touches nothing else."""

    project: str
    site: Path
    ari_port: int
    images: Built
    # Asterisk's SIP transport binds on the host's network too: a free port of its own.
    sip_port: int = field(default_factory=_free_udp_port)

    def _env(self) -> dict[str, str]:
        return environment(
            {
                "RECCONTROL_SITE": str(self.site),
                "CONTROLLER_IMAGE": self.images.controller,
                "ASTERISK_IMAGE": self.images.asterisk,
                "ARI_PORT": str(self.ari_port),
                "SIP_PORT": str(self.sip_port),
            }
        )

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        tool = compose_tool()
        command = [tool, "-p", self.project, "-f", str(REPOSITORY / "docker/compose.yaml")]
        done = subprocess.run(
            [*command, *args],
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise PodmanError(
                f"podman-compose {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def volume(self, name: str) -> str:
        return f"{self.project}_{name}"

    def volume_path(self, name: str) -> Path:
        out = podman("volume", "inspect", self.volume(name)).stdout
        return Path(json.loads(out)[0]["Mountpoint"])

    def inspect(self, service: str) -> dict[str, Any]:
        out = podman("container", "inspect", self.container(service)).stdout
        data: dict[str, Any] = json.loads(out)[0]
        return data

    def logs(self, service: str) -> subprocess.CompletedProcess[str]:
        return podman("logs", self.container(service))

    def remove(self) -> None:
        """Removes this project's containers and volumes, by name, whatever state they
        are in."""
        names: Sequence[str] = [self.container(s) for s in ("reccontrol", "asterisk")]
        podman("rm", "--force", "--ignore", "--time", "5", *names, check=False)
        volumes = [self.volume(v) for v in ("asterisk-state", "recordings", "vault", "witness")]
        podman("pod", "rm", "--force", "--ignore", f"pod_{self.project}", check=False)
        for volume in volumes:
            podman("volume", "rm", "--force", volume, check=False)


def compose_tool() -> str:
    """podman-compose from this venv (pyproject's test extra): Debian 12's 1.0.3 passes
    a network alias along with ``network_mode: host``, which podman refuses."""
    beside = Path(sys.executable).parent / "podman-compose"
    if beside.is_file():
        return str(beside)
    found = shutil.which("podman-compose")
    if found is None:
        raise PodmanError("podman-compose not found: pip install 'podman-compose>=1.0.6'")
    return found
