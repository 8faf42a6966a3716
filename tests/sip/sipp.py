"""SIPp processes playing the sandbox's SIP phones, started and always cleaned up by the
tests that use them.

Each phone gets the SIP port its static contact names (``SandboxInstance.phone_ports``)
and media and control ports of its own, so nothing collides with another phone, another
test run or Asterisk's RTP range. ``play_pcap_audio`` sends from raw sockets: SIPp runs
as root, as the sandbox does.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tests.sip.media import Part, write_pcap
from tests.sip.scenarios import (
    answering_phone,
    busy_phone,
    calling_phone,
    calling_trunk,
    cue,
    holding_phone,
    transferring_phone,
)

TIMEOUT_S = 120  # SIPp gives up by itself after this: a stuck test cannot leave it behind
_STARTED_WITHIN = 10.0


class SippError(AssertionError):
    """A phone's SIPp failed: the message holds its exit status and its error log."""


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise SippError("SIPp is not installed: apt-get install sip-tester (./dev does)")
    return path


def _udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


# Media and control ports of the phones: below the kernel's ephemeral range (whose ports
# any program's socket may get) and above the sandbox's SIP and phone ports.
MEDIA_PORTS = range(26000, 32000)


def _udp_port_bound(port: int) -> bool:
    """Whether a socket is bound to UDP ``port``, read from the kernel's table: probing by
    binding would, for an instant, take the port from the SIPp that is starting."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                local = line.split()[1]
                if int(local.rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def free_udp_ports(count: int, step: int = 1) -> int:
    """The first of ``count`` free UDP ports ``step`` apart, on 127.0.0.1.

    SIPp binds its media port and the one two above it (for video): ask for
    ``count=2, step=2``.
    """
    for _ in range(200):
        first = MEDIA_PORTS.start + secrets.randbelow(len(MEDIA_PORTS) - count * step)
        wanted = [first + i * step for i in range(count)]
        if not any(_udp_port_taken(p) for p in wanted):
            return first
    raise SippError(f"no {count} free UDP ports {step} apart on 127.0.0.1")


@dataclass
class Phone:
    """One SIPp process: a scenario, its media, its ports and its logs."""

    name: str
    scenario: str
    port: int
    workdir: Path
    remote: str | None = None
    media_port: int = field(default_factory=lambda: free_udp_ports(2, step=2))
    control_port: int = field(default_factory=lambda: free_udp_ports(1))
    process: asyncio.subprocess.Process | None = None

    @property
    def error_log(self) -> Path:
        return self.workdir / f"{self.name}-errors.log"

    @property
    def message_log(self) -> Path:
        return self.workdir / f"{self.name}-messages.log"

    def command(self) -> list[str]:
        scenario = self.workdir / f"{self.name}.xml"
        scenario.write_text(self.scenario, encoding="iso-8859-1")
        command = [sipp_binary()]
        if self.remote:
            command.append(self.remote)
        command += ["-sf", str(scenario), "-m", "1", "-nostdin"]
        command += ["-i", "127.0.0.1", "-p", str(self.port)]
        command += ["-mi", "127.0.0.1", "-mp", str(self.media_port)]
        command += ["-cp", str(self.control_port)]
        command += ["-timeout", str(TIMEOUT_S), "-timeout_error"]
        command += ["-trace_err", "-error_file", str(self.error_log)]
        command += ["-trace_msg", "-message_file", str(self.message_log)]
        return command

    async def start(self) -> None:
        """Starts SIPp and returns once it listens on its SIP port."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self._stderr_file() as stderr:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                # Its own session: a Ctrl-C meant for pytest does not reach it first.
                start_new_session=True,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STARTED_WITHIN
        while not _udp_port_bound(self.port):
            if self.process.returncode is not None:
                raise SippError(f"{self.name}: SIPp exited at start\n{self.logs()}")
            if loop.time() > deadline:
                raise SippError(f"{self.name}: SIPp did not bind UDP port {self.port}")
            await asyncio.sleep(0.02)

    def _stderr_file(self) -> BinaryIO:
        return open(self.workdir / f"{self.name}-stderr.log", "wb")

    async def finished(self, within: float) -> None:
        """Waits for the scenario to end; raises unless it ended well."""
        assert self.process is not None, f"{self.name} was never started"
        try:
            status = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise SippError(f"{self.name}: scenario still running after {within} s") from None
        if status != 0:
            raise SippError(f"{self.name}: SIPp exited with status {status}\n{self.logs()}")

    async def stop(self) -> None:
        """Ends this phone's SIPp if it still runs (by its own pid, nothing else)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()

    def cue(self, call_id: str) -> None:
        """Tells a phone answering on cue to answer call ``call_id`` now (see
        :func:`~tests.sip.scenarios.cue`)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(cue(call_id), ("127.0.0.1", self.port))

    def logs(self) -> str:
        parts = []
        for path in (self.workdir / f"{self.name}-stderr.log", self.error_log):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


@dataclass
class Switchboard:
    """The SIP phones of one test: agents' phones that answer, and the trunk that calls."""

    asterisk_sip: str
    phone_ports: dict[str, int]
    workdir: Path
    phones: list[Phone] = field(default_factory=list)

    async def agent(
        self, name: str, media: Sequence[Part], ring_ms: int = 0, *, on_cue: bool = False
    ) -> Phone:
        """Agent ``name``'s phone, ready to answer the call Asterisk sends it (after
        ringing ``ring_ms``; with ``on_cue``, once the test calls :meth:`Phone.cue`)."""
        pcap = write_pcap(self.workdir / f"{name}.pcap", media)
        scenario = answering_phone(name, pcap, ring_ms, on_cue=on_cue)
        phone = Phone(name, scenario, self.phone_ports[name], self.workdir)
        self.phones.append(phone)
        await phone.start()
        return phone

    async def transferring_agent(
        self,
        name: str,
        media: Sequence[Part],
        target: str,
        refer_after_ms: int,
        ring_ms: int = 0,
    ) -> Phone:
        """Agent ``name``'s phone: answers (after ringing ``ring_ms``), then transfers
        the call blind to extension ``target`` ``refer_after_ms`` after the answer (see
        :func:`~tests.sip.scenarios.transferring_phone`)."""
        pcap = write_pcap(self.workdir / f"{name}.pcap", media)
        scenario = transferring_phone(name, pcap, target, refer_after_ms, ring_ms)
        phone = Phone(name, scenario, self.phone_ports[name], self.workdir)
        self.phones.append(phone)
        await phone.start()
        return phone

    async def holding_agent(
        self,
        name: str,
        media: Sequence[Part],
        holds: list[tuple[int, int]],
        direction: str = "sendonly",
    ) -> Phone:
        """Agent ``name``'s phone, which answers, then puts the call on hold and takes it
        back (see :func:`~tests.sip.scenarios.holding_phone`)."""
        pcap = write_pcap(self.workdir / f"{name}.pcap", media)
        scenario = holding_phone(name, pcap, holds, direction)
        phone = Phone(name, scenario, self.phone_ports[name], self.workdir)
        self.phones.append(phone)
        await phone.start()
        return phone

    async def busy(self, name: str) -> Phone:
        """Agent ``name``'s phone, already in a call: it refuses the next one with 486."""
        phone = Phone(f"{name}-busy", busy_phone(name), self.phone_ports[name], self.workdir)
        self.phones.append(phone)
        await phone.start()
        return phone

    async def call(
        self,
        service: str,
        caller_number: str,
        media: Sequence[Part],
        hangup_after_ms: int | None,
        headers: dict[str, str] | None = None,
        trunk: str = "trunk",
    ) -> Phone:
        """A call from ``caller_number`` to ``service`` through the trunk (``trunk``: the
        endpoint's name), hung up ``hangup_after_ms`` after the answer (None: once
        Asterisk hangs up the caller's channel)."""
        pcap = write_pcap(self.workdir / "trunk.pcap", media)
        scenario = calling_trunk(service, caller_number, pcap, hangup_after_ms, headers, trunk)
        phone = Phone(
            "trunk", scenario, self.phone_ports["trunk"], self.workdir, remote=self.asterisk_sip
        )
        self.phones.append(phone)
        await phone.start()
        return phone

    async def customer(self, media: Sequence[Part]) -> Phone:
        """A customer reached through the trunk, ready to answer the call Asterisk sends
        there (an outbound call), playing ``media`` from the answer."""
        pcap = write_pcap(self.workdir / "customer.pcap", media)
        phone = Phone(
            "customer", answering_phone("customer", pcap), self.phone_ports["trunk"], self.workdir
        )
        self.phones.append(phone)
        await phone.start()
        return phone

    async def dial_out(
        self, name: str, extension: str, media: Sequence[Part], hangup_after_ms: int
    ) -> Phone:
        """Agent ``name``'s phone dials ``extension`` and hangs up ``hangup_after_ms``
        after the answer."""
        pcap = write_pcap(self.workdir / f"{name}-out.pcap", media)
        scenario = calling_phone(name, extension, pcap, hangup_after_ms)
        phone = Phone(
            f"{name}-out", scenario, self.phone_ports[name], self.workdir, remote=self.asterisk_sip
        )
        self.phones.append(phone)
        await phone.start()
        return phone

    async def finished(self, within: float = 60.0) -> None:
        """Every phone's scenario ended well."""
        for phone in self.phones:
            await phone.finished(within)

    def forget_finished(self) -> None:
        """Forgets the phones whose scenarios ended, so the next call gets fresh ones."""
        self.phones = [p for p in self.phones if p.process is None or p.process.returncode is None]


@asynccontextmanager
async def sip_phones(
    asterisk_sip_port: int, phone_ports: dict[str, int], workdir: Path
) -> AsyncIterator[Switchboard]:
    """Phones for one test; whatever happens, none of their SIPp outlives it."""
    workdir.mkdir(parents=True, exist_ok=True)
    board = Switchboard(f"127.0.0.1:{asterisk_sip_port}", phone_ports, workdir)
    try:
        yield board
    finally:
        for phone in board.phones:
            await phone.stop()
