"""What a sandbox instance listens on: free ports for its ARI, its SIP transport and its
simulated phones, and the proof that its ARI answers."""

from __future__ import annotations

import base64
import secrets
import socket
import time
import urllib.error
import urllib.request

from controller.sandbox.errors import SandboxError
from controller.sandbox.instance import SandboxInstance

# UDP ports for the instances' SIP transports and simulated phones: above Asterisk's RTP
# range (rtp.conf) and below the kernel's ephemeral range (32768 and up), whose ports any
# program's socket may get. Test phones take their media ports from 26000 up.
SIP_PORTS = range(20000, 26000)


def check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Asterisk does: connections of a stopped instance linger in TIME_WAIT on
        # the port, and they must not make it look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"port {port} on 127.0.0.1 is already in use") from None


def check_udp_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"UDP port {port} on 127.0.0.1 is already in use") from None


def free_tcp_port(taken: set[int]) -> int:
    """A TCP port on 127.0.0.1 nobody has bound, outside ``taken`` (AMI's)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port
    raise SandboxError("no free TCP port for AMI on 127.0.0.1")


def free_udp_port(taken: set[int]) -> int:
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


def wait_ari(instance: SandboxInstance, timeout: float = 10.0) -> None:
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
